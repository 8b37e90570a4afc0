package state

import (
	"context"

	"github.com/upvest-webhooks/upvest-webhooks/events"
)

// Outcome is what applying one event did to the state.
type Outcome string

const (
	// Applied: the event changed the state (its own row or its parent's view).
	Applied Outcome = "applied"
	// Stale: the state already holds a newer event; nothing changed.
	Stale Outcome = "stale"
	// Duplicate: the state already holds this very event; nothing changed.
	Duplicate Outcome = "duplicate"
)

// Store applies classified events to a domain's state table. An error means
// the outcome is unknown and applying again is safe (every write is conditional).
type Store interface {
	Apply(ctx context.Context, e events.Event, r events.Route) (Outcome, error)
}
