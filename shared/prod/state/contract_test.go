package state_test

import (
	"testing"

	"github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/shared/local/localaws/awstest"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/schema"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/state"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/state/statetest"
)

func TestDynamoKeepsTheStateContract(t *testing.T) {
	t.Parallel()
	statetest.RunContract(t, func(t *testing.T) statetest.Subject {
		env := awstest.Env(t)
		stores := statetest.ByDomain{}
		for _, d := range events.Domains() {
			stores[d] = state.NewDynamo(env.DynamoDB, env.StateTables[d])
		}
		return statetest.Subject{Store: stores, Row: func(t testing.TB, d events.Domain, pk string) (state.Row, bool) {
			item := awstest.GetItem(t, env.DynamoDB, env.StateTables[d], schema.StatePK, pk)
			if item == nil {
				return state.Row{}, false
			}
			row, err := state.DecodeRow(item)
			if err != nil {
				t.Fatalf("decode row %s: %v", pk, err)
			}
			return row, true
		}}
	})
}
