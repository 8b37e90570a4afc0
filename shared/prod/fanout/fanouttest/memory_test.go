package fanouttest_test

import (
	"testing"

	"github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/fanout"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/fanout/fanouttest"
)

func TestMemoryKeepsThePublisherContract(t *testing.T) {
	fanouttest.RunContract(t, func(*testing.T) (fanout.Publisher, func(*testing.T, events.Domain, int) []fanouttest.Received) {
		m := fanouttest.NewMemory(events.Domains()...)
		return m, func(_ *testing.T, d events.Domain, _ int) []fanouttest.Received { return m.Take(d) }
	})
}
