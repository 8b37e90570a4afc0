package config

import (
	"strings"

	"github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/schema"
)

// StateTableEnv is the variable naming a domain's state table for the ops
// tool, e.g. STATE_TABLE_ORDERS (stack output StateTable<Domain>Name).
func StateTableEnv(d events.Domain) string { return "STATE_TABLE_" + strings.ToUpper(string(d)) }

// DLQURLEnv is the variable naming a domain's dead-letter queue for the ops
// tool, e.g. DLQ_URL_ORDERS (stack output DeadLetterQueue<Domain>Url).
func DLQURLEnv(d events.Domain) string { return "DLQ_URL_" + strings.ToUpper(string(d)) }

// Ops is what the ops tool works on: the ledger, and per domain its state
// table, queue and dead-letter queue. A subcommand reads only what it needs.
type Ops struct {
	LedgerTable string
	StateTables map[events.Domain]string
	QueueURLs   map[events.Domain]string
	DLQURLs     map[events.Domain]string
}

// OpsNeeds says which resources a subcommand uses; each named one is required.
type OpsNeeds struct {
	Ledger      bool
	Domains     []events.Domain // the domains whose resources below are required
	StateTables bool
	Queues      bool
	DLQs        bool
}

// LoadOps reads the resources a subcommand needs, the way the stack outputs
// name them, and reports every missing variable in one message.
func LoadOps(getenv func(string) string, need OpsNeeds) (Ops, error) {
	r := &reader{getenv: getenv}
	c := Ops{
		StateTables: map[events.Domain]string{},
		QueueURLs:   map[events.Domain]string{},
		DLQURLs:     map[events.Domain]string{},
	}
	if need.Ledger {
		c.LedgerTable = r.required(schema.EnvLedgerTable)
	}
	for _, d := range need.Domains {
		if need.StateTables {
			c.StateTables[d] = r.required(StateTableEnv(d))
		}
		if need.Queues {
			c.QueueURLs[d] = r.required(schema.QueueURLEnv(d))
		}
		if need.DLQs {
			c.DLQURLs[d] = r.required(DLQURLEnv(d))
		}
	}
	return c, r.err("ops")
}

// WithOverrides returns o with each resource a set variable names instead
// (the same variables LoadOps reads): with -local, make run's resources are
// the defaults, and STATE_TABLE_ORDERS=orders-restored points a command at
// another table, as it does against a deployed stack.
func (o Ops) WithOverrides(getenv func(string) string) Ops {
	if v := getenv(schema.EnvLedgerTable); v != "" {
		o.LedgerTable = v
	}
	override := func(m map[events.Domain]string, env func(events.Domain) string) map[events.Domain]string {
		out := make(map[events.Domain]string, len(m))
		for d, v := range m {
			out[d] = v
		}
		for _, d := range events.Domains() {
			if v := getenv(env(d)); v != "" {
				out[d] = v
			}
		}
		return out
	}
	o.StateTables = override(o.StateTables, StateTableEnv)
	o.QueueURLs = override(o.QueueURLs, schema.QueueURLEnv)
	o.DLQURLs = override(o.DLQURLs, DLQURLEnv)
	return o
}
