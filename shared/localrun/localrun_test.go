package localrun_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	upvest "github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/events/upvesttest"
	"github.com/upvest-webhooks/upvest-webhooks/shared/localaws/awstest"
	"github.com/upvest-webhooks/upvest-webhooks/shared/localrun/localruntest"
	"github.com/upvest-webhooks/upvest-webhooks/shared/message"
	"github.com/upvest-webhooks/upvest-webhooks/shared/schema"
	"github.com/upvest-webhooks/upvest-webhooks/shared/syncbuf"
	"github.com/upvest-webhooks/upvest-webhooks/shared/webhookclient"
)

// End-to-end: the send client → the local HTTP endpoint → the real handler →
// DynamoDB Local and the SQS server (→ workers → state tables → streams).

type pipeline struct {
	env     awstest.Environment
	client  *webhookclient.Client
	changes *syncbuf.Buffer
}

func startPipeline(t *testing.T, workers bool) *pipeline {
	t.Helper()
	return startPipelineWithKeys(t, workers, nil)
}

// startPipelineWithKeys lets editJWKS change the verification key set before
// the pipeline reads it.
func startPipelineWithKeys(t *testing.T, workers bool, editJWKS func(t testing.TB, path string)) *pipeline {
	t.Helper()
	p := &pipeline{env: awstest.Env(t), changes: &syncbuf.Buffer{}}
	p.client = localruntest.Start(t, p.env, localruntest.Options{Workers: workers, Changes: p.changes, EditJWKS: editJWKS})
	return p
}

func (p *pipeline) post(t *testing.T, evs []json.RawMessage, batch int) []webhookclient.Result {
	t.Helper()
	results, err := p.client.PostAll(context.Background(), evs, batch, nil)
	if err != nil {
		t.Fatal(err)
	}
	return results
}

func officialSamples(t *testing.T) []json.RawMessage {
	t.Helper()
	dir := upvesttest.SamplesDir(t)
	evs, err := webhookclient.LoadEvents(dir)
	if err != nil || len(evs) == 0 {
		t.Fatalf("Upvest samples under %s: %v", dir, err)
	}
	fresh, err := webhookclient.WithFreshIDs(evs)
	if err != nil {
		t.Fatal(err)
	}
	return fresh
}

func (p *pipeline) ledger(t *testing.T) map[string]string {
	t.Helper()
	statuses := map[string]string{}
	var start map[string]types.AttributeValue
	for {
		out, err := p.env.DynamoDB.Scan(context.Background(), &dynamodb.ScanInput{
			TableName: aws.String(p.env.LedgerTable), ExclusiveStartKey: start, ConsistentRead: aws.Bool(true),
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range out.Items {
			statuses[str(it[schema.LedgerPK])] = str(it[schema.LedgerStatus])
		}
		if start = out.LastEvaluatedKey; len(start) == 0 {
			return statuses
		}
	}
}

func str(v types.AttributeValue) string {
	switch v := v.(type) {
	case *types.AttributeValueMemberS:
		return v.Value
	case *types.AttributeValueMemberN:
		return v.Value
	}
	return ""
}

func routes(t *testing.T, evs []json.RawMessage) map[string]upvest.Route {
	t.Helper()
	out := map[string]upvest.Route{}
	for _, raw := range evs {
		e, err := upvest.ParseEvent(raw)
		if err != nil {
			t.Fatal(err)
		}
		r, err := upvest.Classify(e)
		if err != nil {
			t.Fatal(err)
		}
		out[e.ID] = r
	}
	return out
}

// TestSignedSamplesThroughTheLocalEndpoint is the ingest issue's "done when":
// every official sample answers 200 and lands once in the ledger and once in
// its domain queue; the same requests again add nothing; a tampered body is
// refused with 401 and stores nothing.
func TestSignedSamplesThroughTheLocalEndpoint(t *testing.T) {
	p := startPipeline(t, false)
	evs := officialSamples(t)
	byID := routes(t, evs)

	for _, r := range p.post(t, evs, 5) {
		if !r.OK() {
			t.Fatalf("status %d: %s", r.Status, r.Body)
		}
	}
	ledger := p.ledger(t)
	if len(ledger) != len(evs) {
		t.Errorf("ledger holds %d records, want %d", len(ledger), len(evs))
	}
	wantPerDomain := map[upvest.Domain]int{}
	for id, r := range byID {
		if ledger[id] != "RECEIVED" { // until a worker's outcome; none runs here
			t.Errorf("%s (%s): ledger status %q", id, r.Category, ledger[id])
		}
		wantPerDomain[r.Domain]++
	}
	for _, d := range upvest.Domains() {
		want := wantPerDomain[d]
		var got []string
		if want > 0 {
			for _, m := range awstest.ReceiveAll(t, p.env.SQS, p.env.QueueURLs[d], want, 30*time.Second) {
				got = append(got, aws.ToString(m.MessageAttributes[message.AttrEventID].StringValue))
			}
		} else if n := awstest.DrainCount(t, p.env.SQS, p.env.QueueURLs[d]); n != 0 {
			got = make([]string, n)
		}
		if len(got) != want {
			t.Errorf("%s queue holds %d messages, want %d", d, len(got), want)
		}
		for _, id := range got {
			if byID[id].Domain != d {
				t.Errorf("%s queue holds %s, which routes to %s", d, id, byID[id].Domain)
			}
		}
	}

	// Again, batched differently: nothing new is recorded (the events, not
	// yet applied, are sent again: RECEIVED is not trusted).
	for _, r := range p.post(t, evs, 7) {
		if !r.OK() || !strings.Contains(r.Body, `"received":0`) || !strings.Contains(r.Body, `"parked":0`) {
			t.Fatalf("redelivery: status %d %s", r.Status, r.Body)
		}
	}
	if n := len(p.ledger(t)); n != len(evs) {
		t.Errorf("a redelivery changed the ledger: %d records", n)
	}

	p.client.Tamper = true
	fresh, err := webhookclient.WithFreshIDs(evs[:3])
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range p.post(t, fresh, 3) {
		if r.Status != 401 {
			t.Errorf("tampered request: status %d, want 401", r.Status)
		}
	}
	if n := len(p.ledger(t)); n != len(evs) {
		t.Errorf("a tampered request changed the ledger: %d records", n)
	}
}

// TestShuffledOrderLifecycleEndsInNewestState is the workers issue's "done
// when": the ORDER lifecycle sent in shuffled order, and then again, leaves one
// order row with status FILLED, its executions view right, and exactly one
// stream record per real change.
func TestShuffledOrderLifecycleEndsInNewestState(t *testing.T) {
	p := startPipeline(t, true)
	evs, err := webhookclient.GenerateOrderLifecycles(1, time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	byID := routes(t, evs)
	order := ""
	for _, r := range byID {
		if r.Category == "ORDER" {
			order = r.EntityKey
		}
	}
	perm := rand.Perm(len(evs))
	t.Logf("sending in order %v", perm)
	for _, i := range perm {
		for _, r := range p.post(t, []json.RawMessage{evs[i]}, 1) {
			if !r.OK() {
				t.Fatalf("status %d: %s", r.Status, r.Body)
			}
		}
	}
	// Wait until the workers have settled every event.
	var ledger map[string]string
	deadline := time.Now().Add(90 * time.Second)
	for {
		ledger = p.ledger(t)
		settled := 0
		for id := range byID {
			if s := ledger[id]; s == "APPLIED" || s == "SKIPPED_STALE" || s == "DUPLICATE" {
				settled++
			}
		}
		if settled == len(byID) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("events not settled by the workers: %v", ledger)
		}
		time.Sleep(200 * time.Millisecond)
	}

	for _, r := range p.post(t, evs, 10) { // and the whole lifecycle again: all duplicates now
		if !r.OK() || !strings.Contains(r.Body, fmt.Sprintf(`"duplicates":%d`, len(evs))) {
			t.Fatalf("redelivery: status %d %s", r.Status, r.Body)
		}
	}

	row := awstest.GetItem(t, p.env.DynamoDB, p.env.StateTables[upvest.Orders], schema.StatePK, order)
	if str(row[schema.StateStatus]) != "FILLED" || str(row[schema.StateEventType]) != "ORDER.FILLED" {
		t.Errorf("order row: status %q from %q, want FILLED from ORDER.FILLED", str(row[schema.StateStatus]), str(row[schema.StateEventType]))
	}
	view, ok := row["executions_view"].(*types.AttributeValueMemberM)
	if !ok || len(view.Value) != 1 {
		t.Fatalf("executions view %v, want one execution", row["executions_view"])
	}
	for _, entry := range view.Value {
		if e, ok := entry.(*types.AttributeValueMemberM); !ok || str(e.Value["status"]) != "FILLED" {
			t.Errorf("execution entry %v, want status FILLED", entry)
		}
	}

	// One stream record per real change: the row's version counts its changes,
	// and each applied ORDER or EXECUTION event changed it exactly once.
	applied := 0
	for id, r := range byID {
		if ledger[id] == "APPLIED" && (r.Category == "ORDER" || r.Category == "EXECUTION") {
			applied++
		}
	}
	version, err := strconv.Atoi(str(row[schema.StateVersion]))
	if err != nil || version != applied {
		t.Fatalf("order row version %q, want %d (the applied events)", str(row[schema.StateVersion]), applied)
	}
	short := strings.SplitN(order, "#", 2)[1][:8]
	countRecords := func() int { return strings.Count(p.changes.String(), "ORDER#"+short) }
	for deadline := time.Now().Add(30 * time.Second); countRecords() < version && time.Now().Before(deadline); {
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(2 * time.Second) // give a surplus record the chance to show up
	if got := countRecords(); got != version {
		t.Errorf("%d stream records for the order row, want %d:\n%s", got, version, p.changes.String())
	}
}
