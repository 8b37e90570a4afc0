package config

import (
	"strings"
	"testing"

	"github.com/upvest-webhooks/upvest-webhooks/events"
)

func TestLoadOpsReadsWhatASubcommandNeeds(t *testing.T) {
	env := map[string]string{
		"LEDGER_TABLE":       "ledger",
		"STATE_TABLE_ORDERS": "state-orders",
		"QUEUE_URL_ORDERS":   "https://sqs/orders",
		"DLQ_URL_ORDERS":     "https://sqs/orders-dlq",
	}
	getenv := func(k string) string { return env[k] }
	c, err := LoadOps(getenv, OpsNeeds{Ledger: true, Domains: []events.Domain{events.Orders}, StateTables: true, Queues: true, DLQs: true})
	if err != nil {
		t.Fatal(err)
	}
	if c.LedgerTable != "ledger" || c.StateTables[events.Orders] != "state-orders" ||
		c.QueueURLs[events.Orders] != "https://sqs/orders" || c.DLQURLs[events.Orders] != "https://sqs/orders-dlq" {
		t.Errorf("got %+v", c)
	}

	// Only the named resources are required: a redrive needs no ledger.
	if _, err := LoadOps(func(string) string { return "" }, OpsNeeds{}); err != nil {
		t.Errorf("nothing needed: %v", err)
	}
	_, err = LoadOps(getenv, OpsNeeds{Ledger: true, Domains: []events.Domain{events.Orders, events.CorporateActions}, Queues: true, DLQs: true})
	for _, want := range []string{"ops configuration:", "QUEUE_URL_CORPORATE_ACTIONS is required", "DLQ_URL_CORPORATE_ACTIONS is required"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not say %q", err, want)
		}
	}
	if err != nil && strings.Contains(err.Error(), "QUEUE_URL_ORDERS") {
		t.Errorf("error names a variable that is set: %v", err)
	}
}

func TestWithOverridesPointsACommandAtOtherResources(t *testing.T) {
	local := Ops{
		LedgerTable: "upvest-ledger",
		StateTables: map[events.Domain]string{events.Orders: "upvest-state-orders", events.Payments: "upvest-state-payments"},
		QueueURLs:   map[events.Domain]string{events.Orders: "http://q/orders"},
		DLQURLs:     map[events.Domain]string{events.Orders: "http://q/orders-dlq"},
	}
	env := map[string]string{"STATE_TABLE_ORDERS": "orders-restored", "DLQ_URL_ORDERS": "http://q/other-dlq"}
	got := local.WithOverrides(func(k string) string { return env[k] })
	switch {
	case got.StateTables[events.Orders] != "orders-restored" || got.DLQURLs[events.Orders] != "http://q/other-dlq":
		t.Errorf("overrides not applied: %+v", got)
	case got.LedgerTable != "upvest-ledger" || got.StateTables[events.Payments] != "upvest-state-payments" || got.QueueURLs[events.Orders] != "http://q/orders":
		t.Errorf("resources without a variable changed: %+v", got)
	case local.StateTables[events.Orders] != "upvest-state-orders":
		t.Errorf("the original was changed: %+v", local)
	}
}
