package chaos_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/shared/local/localaws/awstest"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/ledger"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/state"
	"github.com/upvest-webhooks/upvest-webhooks/shared/testkit/chaos"
)

// deliver does by hand what the pipeline does with a plan's acknowledged
// events, except for the dropped ones: ingest's RECEIVED record (PARKED for
// poison), then the worker's state write, and no outcome in the ledger.
func deliver(t *testing.T, env awstest.Environment, plan *chaos.Plan, dropped map[string]bool) {
	t.Helper()
	ctx := context.Background()
	led := ledger.NewDynamo(env.DynamoDB, env.LedgerTable)
	for _, e := range plan.Events {
		ev, r, err := events.ClassifyAt(e.Raw, time.Now()) // far-future events are parked, as ingest does
		rec := ledger.Record{EventID: e.LedgerKey, EventType: ev.Type, Domain: r.Domain, EntityKey: r.EntityKey, Raw: e.Raw, Status: ledger.Received}
		if err != nil || e.Poison == chaos.Oversize {
			rec.Status, rec.Reason = ledger.Parked, "poison"
		}
		if _, _, err := led.Claim(ctx, rec); err != nil {
			t.Fatal(err)
		}
		if rec.Status == ledger.Parked || dropped[e.LedgerKey] {
			continue
		}
		if _, err := state.NewDynamo(env.DynamoDB, env.StateTables[r.Domain]).Apply(ctx, ev, r); err != nil {
			t.Fatal(err)
		}
	}
	// A redelivered id with other bytes: ingest keeps them aside as a conflict record.
	for _, r := range plan.Redeliveries {
		for _, e := range r.Events {
			rec := ledger.Record{EventID: e.LedgerKey, Kind: ledger.KindConflict, Raw: e.Raw, Status: ledger.Parked, Reason: "recorded before with other bytes"}
			if _, _, err := led.Claim(ctx, rec); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, b := range plan.Bodies {
		if _, _, err := led.Claim(ctx, ledger.Record{EventID: b.Key, Kind: ledger.KindRequest, Raw: b.Body, Status: ledger.Parked, Reason: "not an envelope"}); err != nil {
			t.Fatal(err)
		}
	}
}

func allAcked(plan *chaos.Plan) map[*chaos.Request]bool {
	acked := map[*chaos.Request]bool{}
	for _, r := range append(append([]*chaos.Request(nil), plan.Requests...), plan.Redeliveries...) {
		acked[r] = true
	}
	return acked
}

// TestCheckerFindsAnEventDroppedBeforeItsStateRow: the ledger holds no
// settled outcomes, so the oracle judges each acknowledged event by its
// entity's state row. Delivered in full, a plan checks out; with one event
// dropped between ingest's record and its state write, for a latest-wins
// event that is its entity's newest and for an append-only event, each is
// counted lost, though both are RECEIVED in the ledger.
func TestCheckerFindsAnEventDroppedBeforeItsStateRow(t *testing.T) {
	t.Parallel()
	env := awstest.Env(t)
	ctx := context.Background()
	checker := chaos.NewChecker(env.Config, env.Names)

	whole, err := chaos.NewPlan(chaos.PlanOptions{Events: 60, PoisonRate: 0.1, Seed: 11})
	if err != nil {
		t.Fatal(err)
	}
	deliver(t, env, whole, nil)
	v, err := checker.Check(ctx, whole, allAcked(whole))
	if err != nil {
		t.Fatal(err)
	}
	if !v.OK() || v.Lost != 0 {
		t.Fatalf("a plan delivered in full: verdict %+v", v)
	}

	plan, err := chaos.NewPlan(chaos.PlanOptions{Events: 80, PoisonRate: 0.02, Seed: 12})
	if err != nil {
		t.Fatal(err)
	}
	// The newest event of a latest-wins entity with several events, and an append-only event.
	count, newest := map[string]int{}, map[string]*chaos.Event{}
	var appendOnly *chaos.Event
	for _, e := range plan.Events {
		r := e.Route
		if r.EntityKey == "" || r.Parent != nil {
			continue
		}
		if r.Model == events.AppendOnly && appendOnly == nil {
			appendOnly = e
		}
		if r.Model == events.LatestWins {
			count[r.EntityKey]++
			if n := newest[r.EntityKey]; n == nil || r.Position > n.Route.Position {
				newest[r.EntityKey] = e
			}
		}
	}
	var latest *chaos.Event
	for key, n := range count {
		if n > 1 {
			latest = newest[key]
			break
		}
	}
	if latest == nil || appendOnly == nil {
		t.Fatalf("plan lacks a latest-wins entity with several events (%v) or an append-only event (%v)", latest, appendOnly)
	}
	deliver(t, env, plan, map[string]bool{latest.LedgerKey: true, appendOnly.LedgerKey: true})
	v, err = checker.Check(ctx, plan, allAcked(plan))
	if err != nil {
		t.Fatal(err)
	}
	if v.Lost != 2 || v.OK() {
		t.Fatalf("two events dropped: verdict %+v", v)
	}
	examples := strings.Join(v.Examples, "\n")
	for _, e := range []*chaos.Event{latest, appendOnly} {
		if !strings.Contains(examples, "acknowledged event "+e.LedgerKey+" () is RECEIVED in the ledger") {
			t.Errorf("dropped %s (%s) not reported lost:\n%s", e.LedgerKey, e.Route.Model, examples)
		}
	}
	if v.Wrong < 2 {
		t.Errorf("both dropped events were their entity's newest: wrong %d, want ≥ 2", v.Wrong)
	}
	unsettled, err := checker.WaitSettled(ctx, plan, allAcked(plan), 0, nil)
	if err != nil || unsettled != 2 {
		t.Errorf("WaitSettled: %d unsettled, %v; want the 2 dropped", unsettled, err)
	}
}
