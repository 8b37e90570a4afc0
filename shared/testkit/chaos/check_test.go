package chaos_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/shared/local/localaws/awstest"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/schema"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/state"
	"github.com/upvest-webhooks/upvest-webhooks/shared/testkit/chaos"
)

// The oracle is only worth something if it sees problems: here nothing was
// sent, yet every request counts as acknowledged; then one entity is put in
// its newest state and its version bumped as a second application would.
func TestCheckerFindsLossWrongStateAndDoubleApply(t *testing.T) {
	t.Parallel()
	env := awstest.Env(t)
	ctx := context.Background()
	plan, err := chaos.NewPlan(chaos.PlanOptions{Events: 30, PoisonRate: 0.2, Seed: 9})
	if err != nil {
		t.Fatal(err)
	}
	acked := map[*chaos.Request]bool{}
	for _, r := range plan.Requests {
		acked[r] = true
	}
	checker := chaos.NewChecker(env.Config, env.Names)
	v, err := checker.Check(ctx, plan, acked)
	if err != nil {
		t.Fatal(err)
	}
	if v.Lost == 0 || v.Wrong == 0 || v.PoisonLost == 0 || v.AppliedTwice != 0 || v.OK() {
		t.Fatalf("nothing sent: verdict %+v", v)
	}
	wrongBefore := v.Wrong

	// One entity without parent views, in its newest state, then changed twice by one event.
	var target *chaos.Event
	for _, e := range plan.Events {
		if e.Route.EntityKey != "" && e.Route.Parent == nil && e.Route.Category == "ACCOUNT" {
			target = e
			break
		}
	}
	if target == nil {
		t.Fatal("no ACCOUNT entity in the plan")
	}
	store := state.NewDynamo(env.DynamoDB, env.StateTables[target.Route.Domain])
	for _, e := range plan.Events {
		if e.Route.EntityKey == target.Route.EntityKey {
			ev, r, err := events.ClassifyRaw(e.Raw)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := store.Apply(ctx, ev, r); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := env.DynamoDB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(env.StateTables[target.Route.Domain]),
		Key:                       map[string]ddbtypes.AttributeValue{schema.StatePK: &ddbtypes.AttributeValueMemberS{Value: target.Route.EntityKey}},
		UpdateExpression:          aws.String("SET #v = #v + :one"),
		ExpressionAttributeNames:  map[string]string{"#v": schema.StateVersion},
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":one": &ddbtypes.AttributeValueMemberN{Value: "1"}},
	}); err != nil {
		t.Fatal(err)
	}
	v, err = checker.Check(ctx, plan, acked)
	if err != nil {
		t.Fatal(err)
	}
	if v.Wrong != wrongBefore-1 || v.AppliedTwice != 1 {
		t.Fatalf("after fixing one entity and changing it twice: wrong %d (before %d), applied twice %d", v.Wrong, wrongBefore, v.AppliedTwice)
	}
}
