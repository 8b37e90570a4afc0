package replay_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/shared/local/localaws/awstest"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/fanout"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/ledger"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/message"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/replay"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/uuid"
)

// Against DynamoDB Local and fauxqs: the ledger conditions and the queues are the point.

func rawEvent(id, typ, object string) []byte {
	return []byte(fmt.Sprintf(`{"id":%q,"created_at":"2024-01-01T00:00:00Z","type":%q,"object":%s,"webhook_id":"w"}`, id, typ, object))
}

// record writes a ledger record the way an earlier version of the pipeline
// might have left it.
func record(t *testing.T, l *ledger.Dynamo, id string, domain events.Domain, raw []byte, status ledger.Status) {
	t.Helper()
	ctx := context.Background()
	first := ledger.Received
	if status == ledger.Parked {
		first = ledger.Parked
	}
	rec := ledger.Record{EventID: id, Domain: domain, Raw: raw, Status: first, Reason: "parked by an older version"}
	if _, _, err := l.Claim(ctx, rec); err != nil {
		t.Fatal(err)
	}
	switch status {
	case ledger.Parked, ledger.Received:
	case ledger.Enqueued:
		if err := l.MarkEnqueued(ctx, id); err != nil {
			t.Fatal(err)
		}
	default:
		if err := l.RecordOutcome(ctx, id, status, ""); err != nil {
			t.Fatal(err)
		}
	}
}

func TestReplay(t *testing.T) {
	t.Parallel()
	env := awstest.Env(t)
	ctx := context.Background()
	l := ledger.NewDynamo(env.DynamoDB, env.LedgerTable)
	r := &replay.Replayer{Ledger: l, Publisher: fanout.NewSQS(env.SQS, env.QueueURLs)}

	fixed := uuid.New()     // parked, but usable now: requeued
	broken := uuid.New()    // parked and still unusable
	rerouted := uuid.New()  // kept by the unrouted worker; its category is known now
	unknown := uuid.New()   // kept by the unrouted worker; still unknown
	inFlight := uuid.New()  // enqueued: nothing to replay
	parkedNew := uuid.New() // parked, usable now, of a still unknown category: requeued to unrouted
	// Kept by today's unrouted worker, which leaves the record RECEIVED: once
	// its lease is over it is replayable like the settled ones above.
	reroutedNow, unknownNow := uuid.New(), uuid.New()
	anHourAgo := ledger.NewDynamo(env.DynamoDB, env.LedgerTable, ledger.WithClock(func() time.Time { return time.Now().Add(-time.Hour) }))
	record(t, anHourAgo, reroutedNow, events.Unrouted, rawEvent(reroutedNow, "TOPUP.CONFIRMED", `{"id":"t-1","status":"CONFIRMED"}`), ledger.Received)
	record(t, anHourAgo, unknownNow, events.Unrouted, rawEvent(unknownNow, "SPACESHIP.LAUNCHED", `{"id":"s-3"}`), ledger.Received)
	record(t, l, fixed, events.Orders, rawEvent(fixed, "ORDER.NEW", `{"id":"o-1","status":"NEW"}`), ledger.Parked)
	record(t, l, broken, events.Orders, rawEvent(broken, "ORDER.NEW", `{"status":"NEW"}`), ledger.Parked)
	record(t, l, rerouted, events.Unrouted, rawEvent(rerouted, "POSITION.UPDATED", `{"account_id":"a","instrument":{"uuid":"i"}}`), ledger.Applied)
	record(t, l, unknown, events.Unrouted, rawEvent(unknown, "SPACESHIP.LAUNCHED", `{"id":"s"}`), ledger.Applied)
	record(t, l, inFlight, events.Orders, rawEvent(inFlight, "ORDER.NEW", `{"id":"o-2"}`), ledger.Enqueued)
	record(t, l, parkedNew, events.Unrouted, rawEvent(parkedNew, "SPACESHIP.LAUNCHED", `{"id":"s-2"}`), ledger.Parked)

	parked, err := l.Parked(ctx, string(events.Orders))
	if err != nil || !slices.Equal(slices.Sorted(slices.Values(parked)), slices.Sorted(slices.Values([]string{fixed, broken}))) {
		t.Fatalf("parked in orders: %v (err %v)", parked, err)
	}
	unrouted, err := l.Unrouted(ctx)
	if err != nil || len(unrouted) != 5 {
		t.Fatalf("unrouted: %v (err %v)", unrouted, err)
	}

	ids := []string{fixed, broken, rerouted, unknown, inFlight, parkedNew, reroutedNow, unknownNow, "no-such-event"}
	dry := &replay.Replayer{Ledger: l, Publisher: r.Publisher, DryRun: true}
	results, err := dry.Replay(ctx, ids)
	if err != nil {
		t.Fatal(err)
	}
	if got := outcomes(results); got[fixed] != replay.WouldRequeue || got[rerouted] != replay.WouldRequeue {
		t.Errorf("dry run: %v", got)
	}
	if st, _ := l.Read(ctx, fixed); st.Status != ledger.Parked {
		t.Errorf("a dry run changed the ledger: %s", st.Status)
	}

	results, err = r.Replay(ctx, ids)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]replay.Outcome{
		fixed: replay.Requeued, broken: replay.StillUnusable, rerouted: replay.Requeued, unknown: replay.StillUnrouted,
		inFlight: replay.NotReplayable, parkedNew: replay.Requeued, "no-such-event": replay.NotInTheLedger,
		reroutedNow: replay.Requeued, unknownNow: replay.StillUnrouted,
	}
	if got := outcomes(results); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("outcomes\n got %v\nwant %v", got, want)
	}

	for id, wantDomain := range map[string]events.Domain{fixed: events.Orders, rerouted: events.Holdings, parkedNew: events.Unrouted, reroutedNow: events.Payments} {
		st, err := l.Read(ctx, id)
		if err != nil || st.Status != ledger.Enqueued || st.Domain != wantDomain || st.Reason != "" {
			t.Errorf("%s after replay: %+v (err %v), want ENQUEUED in %s without a reason", id, st, err, wantDomain)
		}
	}
	if st, _ := l.Read(ctx, broken); st.Status != ledger.Parked {
		t.Errorf("a still unusable event left PARKED: %s", st.Status)
	}
	// A requeued event stays listed until its worker releases it.
	if again, _ := l.Parked(ctx, string(events.Orders)); len(again) != 2 || !slices.Contains(again, broken) || !slices.Contains(again, fixed) {
		t.Errorf("parked in orders after replay: %v", again)
	}
	for d, id := range map[events.Domain]string{events.Orders: fixed, events.Holdings: rerouted, events.Unrouted: parkedNew, events.Payments: reroutedNow} {
		msgs := awstest.ReceiveAll(t, env.SQS, env.QueueURLs[d], 1, 20*time.Second)
		if len(msgs) != 1 || aws.ToString(msgs[0].MessageAttributes[message.AttrEventID].StringValue) != id {
			t.Errorf("%s queue holds %d messages, want %s once", d, len(msgs), id)
		} else if got := aws.ToString(msgs[0].MessageAttributes[message.AttrReplay].StringValue); got != message.Replayed {
			t.Errorf("%s: replayed message's %s attribute is %q, want %q: its worker must release it", id, message.AttrReplay, got, message.Replayed)
		}
	}

	// Replaying again finds nothing to do: the events are in flight now.
	results, err = r.Replay(ctx, []string{fixed, rerouted})
	if err != nil {
		t.Fatal(err)
	}
	for _, res := range results {
		if res.Outcome != replay.NotReplayable {
			t.Errorf("second replay of %s: %s", res.EventID, res.Outcome)
		}
	}
}

func outcomes(results []replay.Result) map[string]replay.Outcome {
	out := map[string]replay.Outcome{}
	for _, r := range results {
		out[r.EventID] = r.Outcome
	}
	return out
}
