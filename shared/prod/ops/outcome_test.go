package ops_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/shared/local/localaws/awstest"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/ledger"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/ops"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/state"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/state/statetest"
)

// TestInspectDerivesTheOutcomeFromTheStateRow: the ledger records RECEIVED
// only; inspect tells applied, settled (naming the newer event), pending and
// parked apart by the entity's state row, for a latest-wins lifecycle and an
// append-only entity; records an earlier version's worker marked settled
// still read as settled.
func TestInspectDerivesTheOutcomeFromTheStateRow(t *testing.T) {
	t.Parallel()
	env := awstest.Env(t)
	ctx := context.Background()
	l := ledger.NewDynamo(env.DynamoDB, env.LedgerTable)
	in := &ops.Inspector{Ledger: l, DB: env.DynamoDB, Queues: env.SQS, Resources: resources(env)}
	record := func(e events.Event, status ledger.Status) events.Route {
		t.Helper()
		r, err := events.Classify(e)
		if err != nil {
			t.Fatal(err)
		}
		claim(t, l, ledger.Record{EventID: e.ID, EventType: e.Type, Domain: r.Domain, EntityKey: r.EntityKey, Raw: e.Raw, Status: status, Reason: "reason " + string(status)})
		return r
	}
	apply := func(e events.Event, r events.Route) {
		t.Helper()
		if _, err := state.NewDynamo(env.DynamoDB, env.StateTables[r.Domain]).Apply(ctx, e, r); err != nil {
			t.Fatal(err)
		}
	}
	inspect := func(id string, want ops.Outcome, lines ...string) {
		t.Helper()
		rep, err := in.Inspect(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		if err := rep.Write(&out); err != nil {
			t.Fatal(err)
		}
		if rep.Outcome != want {
			t.Errorf("%s: outcome %s, want %s:\n%s", id, rep.Outcome, want, out.String())
		}
		for _, line := range lines {
			if !strings.Contains(out.String(), line) {
				t.Errorf("%s: report lacks %q:\n%s", id, line, out.String())
			}
		}
	}

	// An ORDER's lifecycle: NEW, then FILLED applied; a late CANCELLED of an
	// older position arrives after FILLED and is stale; PROCESSING not yet applied.
	order, _ := events.Lookup("ORDER")
	ids := statetest.IDs()
	newer := statetest.Event(t, "ORDER.FILLED", at.Add(2*time.Hour), statetest.Object(order, ids, "FILLED", at.Add(2*time.Hour)))
	first := statetest.Event(t, "ORDER.NEW", at, statetest.Object(order, ids, "NEW", at))
	stale := statetest.Event(t, "ORDER.CANCELLED", at.Add(time.Hour), statetest.Object(order, ids, "CANCELLED", at.Add(time.Hour)))
	for _, e := range []events.Event{first, newer, stale} {
		apply(e, record(e, ledger.Received))
	}
	inspect(newer.ID, ops.OutcomeApplied, "outcome:           applied (the state row holds this event)", "status:            RECEIVED",
		"queue:             not looked at: the event is applied")
	for _, id := range []string{first.ID, stale.ID} {
		inspect(id, ops.OutcomeSettled, "outcome:           settled (the state row holds the newer event "+newer.ID+" ORDER.FILLED",
			"  last event:      another event: "+newer.ID)
	}

	// Pending: the row is older than the event, or there is no row.
	later := statetest.Event(t, "ORDER.FILLED", at.Add(3*time.Hour), statetest.Object(order, ids, "FILLED", at.Add(3*time.Hour)))
	record(later, ledger.Received)
	inspect(later.ID, ops.OutcomePending, "outcome:           pending", "dead-letter queue: not among")
	if rep, _ := in.Inspect(ctx, later.ID); rep.Looks[0].Skipped != "" {
		t.Errorf("pending event: queue not looked at: %s", rep.Looks[0].Skipped)
	}
	lone := statetest.Event(t, "ORDER.NEW", at, statetest.Object(order, statetest.IDs(), "NEW", at))
	record(lone, ledger.Received)
	inspect(lone.ID, ops.OutcomePending, "state row:         none for ORDER#")

	// Append-only: the row's event is applied; another event for it settled.
	report, _ := events.Lookup("REPORT")
	reportIDs := statetest.IDs()
	kept := statetest.Event(t, "REPORT.CREATED", at, statetest.Object(report, reportIDs, "CREATED", at))
	again := statetest.Event(t, "REPORT.CREATED", at.Add(time.Hour), statetest.Object(report, reportIDs, "CREATED", at.Add(time.Hour)))
	for _, e := range []events.Event{kept, again} {
		apply(e, record(e, ledger.Received))
	}
	inspect(kept.ID, ops.OutcomeApplied)
	inspect(again.ID, ops.OutcomeSettled, "holds the newer event "+kept.ID)
	unapplied := statetest.Event(t, "REPORT.CREATED", at, statetest.Object(report, statetest.IDs(), "CREATED", at))
	record(unapplied, ledger.Received)
	inspect(unapplied.ID, ops.OutcomePending)

	// Parked, with its reason.
	poison := statetest.Event(t, "ORDER.NEW", at, statetest.Object(order, statetest.IDs(), "NEW", at))
	record(poison, ledger.Parked)
	inspect(poison.ID, ops.OutcomeParked, "outcome:           parked: reason PARKED", "queue:             not looked at: the event is parked")
}
