package statetest_test

import (
	"testing"

	"github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/state"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/state/statetest"
)

func TestMemoryKeepsTheStateContract(t *testing.T) {
	statetest.RunContract(t, func(*testing.T) statetest.Subject {
		m := statetest.NewMemory()
		return statetest.Subject{Store: m, Row: func(_ testing.TB, _ events.Domain, pk string) (state.Row, bool) { return m.Row(pk) }}
	})
}
