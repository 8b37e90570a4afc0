package ingest_test

// The catalogue's cases about what reaches the state tables: earlier requests
// (entry.before), optionally applied by the workers first (entry.applied),
// and the rows every queued event leaves once it went through its domain's
// worker (entry.rows), on the in-memory store and on DynamoDB Local.

import (
	"context"
	"io"
	"log/slog"
	"sort"
	"strconv"
	"testing"

	lambdaevents "github.com/aws/aws-lambda-go/events"

	upvest "github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/fanout"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/message"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/observability"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/state"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/worker"
)

// row is one state row as it must be: its key, the event it holds and its status.
type row struct {
	pk, eventID, status string
}

// stateRows lists rows; the case expects exactly these.
type stateRows []row

// sendBefore sends the case's earlier requests, each answered 200, and returns
// what they queued (applied by the workers already when c.applied).
func sendBefore(t *testing.T, k keys, s stack, c entry) map[upvest.Domain][]fanout.Message {
	t.Helper()
	for i, body := range c.before {
		got := send(t, s.handler, k.signed(t, entry{body: body}))
		if got.status != 200 {
			t.Fatalf("earlier request %d answered %d %v", i+1, got.status, got.body)
		}
	}
	if len(c.before) == 0 {
		return nil
	}
	early := s.queued(t, nil)
	if c.applied {
		s.work(t, early)
		return nil
	}
	return early
}

// runWorkers hands each domain's messages to that domain's real worker.
func runWorkers(t *testing.T, l worker.Ledger, store func(upvest.Domain) state.Store, msgs map[upvest.Domain][]fanout.Message) {
	t.Helper()
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	for _, d := range upvest.Domains() {
		if len(msgs[d]) == 0 {
			continue
		}
		var batch lambdaevents.SQSEvent
		for i, m := range msgs[d] {
			body, attrs := message.Encode(m.EventID, m.Raw)
			attrs[message.AttrEventID] = m.EventID
			rec := lambdaevents.SQSMessage{MessageId: strconv.Itoa(i + 1), Body: body, MessageAttributes: map[string]lambdaevents.SQSMessageAttribute{}}
			for name, v := range attrs {
				rec.MessageAttributes[name] = lambdaevents.SQSMessageAttribute{StringValue: &v, DataType: "String"}
			}
			batch.Records = append(batch.Records, rec)
		}
		// One message at a time, in the order sent: the cases are about what
		// each event does, not about interleavings (the chaos run does those).
		for _, rec := range batch.Records {
			w := worker.New(d, store(d), l, log, observability.NewMetrics(io.Discard, "worker"))
			resp, err := w.Handle(context.Background(), lambdaevents.SQSEvent{Records: []lambdaevents.SQSMessage{rec}})
			if err != nil || len(resp.BatchItemFailures) > 0 {
				t.Fatalf("%s worker failed on %s: %v %v", d, *rec.MessageAttributes[message.AttrEventID].StringValue, err, resp.BatchItemFailures)
			}
		}
	}
}

// checkRows insists the state tables hold exactly the case's rows.
func checkRows(t *testing.T, c entry, got map[string]state.Row) {
	t.Helper()
	want := map[string]row{}
	for _, r := range c.rows {
		want[r.pk] = r
	}
	var extra []string
	for pk := range got {
		if _, ok := want[pk]; !ok {
			extra = append(extra, pk)
		}
	}
	sort.Strings(extra)
	if len(extra) > 0 {
		t.Errorf("state holds rows %q, which the case does not expect", extra)
	}
	for pk, w := range want {
		r, ok := got[pk]
		switch {
		case !ok:
			t.Errorf("state lacks row %q (has %d rows)", pk, len(got))
		case r.EventID != w.eventID || r.Status != w.status:
			t.Errorf("row %q holds event %s status %q, want event %s status %q", pk, r.EventID, r.Status, w.eventID, w.status)
		}
	}
}

// merged returns a's messages followed by b's, by domain.
func merged(a, b map[upvest.Domain][]fanout.Message) map[upvest.Domain][]fanout.Message {
	out := map[upvest.Domain][]fanout.Message{}
	for _, m := range []map[upvest.Domain][]fanout.Message{a, b} {
		for d, msgs := range m {
			out[d] = append(out[d], msgs...)
		}
	}
	return out
}

// pkOf is the state row key of category and key parts, as the events package builds it.
func pkOf(parts ...string) string { return upvest.JoinKey(parts...) }
