package ops_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/shared/local/localaws/awstest"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/ledger"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/ops"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/schema"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/state"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/state/statetest"
)

// An EXECUTION is done when its own row and its entry in its ORDER's view
// hold it. Inspect shows that entry, so that a pending execution whose own
// row already holds it says what it waits for instead of "the state row is
// older or absent" above a row that names this event; and old-style
// settled records and conflict records read as settled and parked.
func TestInspectShowsAnExecutionsEntryInItsOrdersView(t *testing.T) {
	t.Parallel()
	env := awstest.Env(t)
	ctx := context.Background()
	l := ledger.NewDynamo(env.DynamoDB, env.LedgerTable)
	in := &ops.Inspector{Ledger: l, DB: env.DynamoDB, Queues: env.SQS, Resources: resources(env)}
	live := env.StateTables[events.Orders]
	o := statetest.NewOrder(t, []string{"NEW"}, []string{"FILLED"})
	exec := o.Execs[0]["FILLED"]
	route := statetest.Classify(t, exec)
	claim(t, l, ledger.Record{EventID: exec.ID, EventType: exec.Type, Domain: route.Domain, EntityKey: route.EntityKey, Raw: exec.Raw, Status: ledger.Received})
	if _, err := state.NewDynamo(env.DynamoDB, live).Apply(ctx, exec, route); err != nil {
		t.Fatal(err)
	}
	inspect := func(id string) (ops.Report, string) {
		t.Helper()
		rep, err := in.Inspect(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		if err := rep.Write(&out); err != nil {
			t.Fatal(err)
		}
		return rep, out.String()
	}
	rep, out := inspect(exec.ID)
	if rep.Outcome != ops.OutcomeApplied || !strings.Contains(out, "order view:        "+live+" pk="+o.PK()+" executions_view["+route.Parent.EntryID+"]: this event") {
		t.Errorf("applied execution: outcome %s\n%s", rep.Outcome, out)
	}

	// The worker wrote the execution's own row, then stopped before its
	// ORDER's view (the view is written second).
	_, err := env.DynamoDB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(live), Key: map[string]types.AttributeValue{schema.StatePK: &types.AttributeValueMemberS{Value: o.PK()}},
		UpdateExpression: aws.String("REMOVE executions_view"),
	})
	if err != nil {
		t.Fatal(err)
	}
	rep, out = inspect(exec.ID)
	if rep.Outcome != ops.OutcomePending || strings.Contains(out, "the state row is older or absent") ||
		!strings.Contains(out, "pending (the state row holds this event; its entry in "+o.PK()+"'s executions_view does not yet") ||
		!strings.Contains(out, "order view:        "+live+" pk="+o.PK()+" executions_view["+route.Parent.EntryID+"]: no entry") {
		t.Errorf("execution whose view entry is missing: outcome %s\n%s", rep.Outcome, out)
	}

	// Records an earlier version's worker settled, and a conflict record.
	for _, st := range []ledger.Status{ledger.Applied, ledger.SkippedStale, ledger.Duplicate} {
		e, r := orderEvent(t)
		claim(t, l, ledger.Record{EventID: e.ID, EventType: e.Type, Domain: r.Domain, EntityKey: r.EntityKey, Raw: e.Raw, Status: ledger.Received})
		if err := l.RecordOutcome(ctx, e.ID, st, ""); err != nil {
			t.Fatal(err)
		}
		if rep, out := inspect(e.ID); rep.Outcome != ops.OutcomeSettled || !strings.Contains(out, "settled (recorded "+string(st)+" by an earlier version)") {
			t.Errorf("%s record: outcome %s\n%s", st, rep.Outcome, out)
		}
	}
	conflict := "conflict:" + exec.ID + ":" + strings.Repeat("ab", 32)
	claim(t, l, ledger.Record{EventID: conflict, Kind: ledger.KindConflict, EventType: exec.Type, Domain: route.Domain, EntityKey: route.EntityKey,
		Raw: []byte(`{"other":"bytes"}`), Status: ledger.Parked, Reason: "event id " + exec.ID + " was recorded before with other bytes"})
	if rep, out := inspect(conflict); rep.Outcome != ops.OutcomeParked || !strings.Contains(out, "kind:              conflict") {
		t.Errorf("conflict record: outcome %s\n%s", rep.Outcome, out)
	}
}
