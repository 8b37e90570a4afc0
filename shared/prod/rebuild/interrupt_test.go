package rebuild_test

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/rebuild"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/state"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/state/statetest"
)

// cancelAfterReset is Ctrl-C pressed the moment the repair's reset of a row
// (the write that removes its position) has gone through.
type cancelAfterReset struct {
	rebuild.RowAPI
	cancel context.CancelFunc
}

func (c *cancelAfterReset) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	out, err := c.RowAPI.UpdateItem(ctx, in, opts...)
	if err == nil && strings.Contains(aws.ToString(in.UpdateExpression), "REMOVE") {
		c.cancel()
	}
	return out, err
}

// Ctrl-C during a repair never leaves a row reset and not yet re-derived:
// an ORDER row without its position and without its executions' view.
func TestRepairInterruptedAfterItsResetStillReDerivesTheRow(t *testing.T) {
	t.Parallel()
	env, live, l := repairEnv(t)
	o := statetest.NewOrder(t, []string{"NEW", "FILLED"}, []string{"FILLED"})
	store := state.NewDynamo(env.DynamoDB, live)
	for _, e := range []events.Event{o.Orders["NEW"], o.Orders["FILLED"], o.Execs[0]["FILLED"]} {
		route := recordReceived(t, l, e)
		if _, err := store.Apply(context.Background(), e, route); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, _ = rebuilder(env, live).RepairEntity(ctx, &cancelAfterReset{RowAPI: env.DynamoDB, cancel: cancel}, o.PK())
	after, _ := row(t, env, live, o.PK())
	if after.EventID != o.Orders["FILLED"].ID || after.Position == "" || len(after.Views["executions_view"]) != 1 {
		t.Fatalf("after Ctrl-C the row holds event %q, position %q, view %v: want it re-derived (ORDER.FILLED, its execution)",
			after.EventID, after.Position, after.Views)
	}
}
