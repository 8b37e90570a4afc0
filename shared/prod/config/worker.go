package config

import (
	"fmt"
	"strings"

	"github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/schema"
)

// Worker is a domain worker's configuration.
type Worker struct {
	Domain      events.Domain
	StateTable  string
	LedgerTable string
}

// LoadWorker reads and validates a worker's configuration.
func LoadWorker(getenv func(string) string) (Worker, error) {
	r := &reader{getenv: getenv}
	c := Worker{
		StateTable:  r.required(schema.EnvStateTable),
		LedgerTable: r.required(schema.EnvLedgerTable),
	}
	if name := r.required(schema.EnvDomain); name != "" {
		d, ok := events.ParseDomain(name)
		if !ok {
			r.problems = append(r.problems, fmt.Sprintf("%s=%q is not a domain; use one of %s", schema.EnvDomain, name, domainList()))
		}
		c.Domain = d
	}
	return c, r.err("worker")
}

func domainList() string {
	names := make([]string, 0, len(events.Domains()))
	for _, d := range events.Domains() {
		names = append(names, string(d))
	}
	return strings.Join(names, ", ")
}
