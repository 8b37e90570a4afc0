// Package replay sends kept-aside events through the pipeline again: events
// parked as unusable (after the cause is fixed) and events of a category the
// routing table did not know (after it gained the category). The same event
// id is kept, so workers stay idempotent and the ledger tells what happened.
package replay

import (
	"context"
	"errors"
	"fmt"

	"github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/shared/fanout"
	"github.com/upvest-webhooks/upvest-webhooks/shared/ledger"
)

// Ledger is what a replay needs from the ledger.
type Ledger interface {
	Read(ctx context.Context, eventID string) (ledger.Stored, error)
	Reopen(ctx context.Context, eventID string, domain events.Domain, entityKey string) error
	MarkEnqueued(ctx context.Context, eventID string) error
}

var _ Ledger = (*ledger.Dynamo)(nil)

// Outcome says what a replay did with one event.
type Outcome string

const (
	Requeued       Outcome = "requeued"       // reopened and sent to its domain queue
	WouldRequeue   Outcome = "would-requeue"  // dry run: it would have been requeued
	StillUnusable  Outcome = "still-unusable" // it still cannot be classified; Reason says why
	StillUnrouted  Outcome = "still-unrouted" // its category is still not in the routing table
	NotReplayable  Outcome = "not-replayable" // neither parked nor settled in the unrouted domain
	NotInTheLedger Outcome = "not-in-ledger"  // no record with that id
)

// Result is the replay of one event.
type Result struct {
	EventID string
	Outcome Outcome
	Domain  events.Domain // where it was sent (or would be)
	Reason  string
}

// Replayer replays events recorded in the ledger.
type Replayer struct {
	Ledger    Ledger
	Publisher fanout.Publisher
	DryRun    bool
}

// Replay replays each event in turn. An error means the ledger or a queue
// could not be reached; the results so far are returned with it.
func (r *Replayer) Replay(ctx context.Context, eventIDs []string) ([]Result, error) {
	var results []Result
	for _, id := range eventIDs {
		res, err := r.one(ctx, id)
		if err != nil {
			return results, err
		}
		results = append(results, res)
	}
	return results, nil
}

func (r *Replayer) one(ctx context.Context, id string) (Result, error) {
	stored, err := r.Ledger.Read(ctx, id)
	if errors.Is(err, ledger.ErrNotFound) {
		return Result{EventID: id, Outcome: NotInTheLedger}, nil
	}
	if err != nil {
		return Result{}, err
	}
	if !replayable(stored) {
		return Result{EventID: id, Outcome: NotReplayable, Domain: stored.Domain, Reason: "status " + string(stored.Status)}, nil
	}
	e, err := events.ParseEvent(stored.Raw)
	var route events.Route
	if err == nil {
		route, err = events.Classify(e)
	}
	switch {
	case err != nil:
		return Result{EventID: id, Outcome: StillUnusable, Reason: err.Error()}, nil
	case route.Domain == events.Unrouted && stored.Status != ledger.Parked:
		return Result{EventID: id, Outcome: StillUnrouted, Domain: events.Unrouted, Reason: "category " + route.Category + " is not in the routing table"}, nil
	case r.DryRun:
		return Result{EventID: id, Outcome: WouldRequeue, Domain: route.Domain}, nil
	}

	if err := r.Ledger.Reopen(ctx, id, route.Domain, route.EntityKey); err != nil {
		if errors.Is(err, ledger.ErrNotReopenable) { // it moved on since we read it
			return Result{EventID: id, Outcome: NotReplayable, Domain: stored.Domain, Reason: err.Error()}, nil
		}
		return Result{}, err
	}
	msg := fanout.Message{EventID: id, EventType: e.Type, Domain: route.Domain, Raw: stored.Raw}
	if err := r.Publisher.Publish(ctx, []fanout.Message{msg}); err != nil {
		// The record is RECEIVED again: a later replay or an Upvest redelivery sends it.
		return Result{}, fmt.Errorf("requeue %s: %w", id, err)
	}
	if err := r.Ledger.MarkEnqueued(ctx, id); err != nil {
		return Result{}, fmt.Errorf("requeued %s but could not mark it: %w", id, err)
	}
	return Result{EventID: id, Outcome: Requeued, Domain: route.Domain}, nil
}

// replayable: parked, or settled by the unrouted worker.
func replayable(s ledger.Stored) bool {
	switch {
	case s.Status == ledger.Parked:
		return true
	case s.Domain == events.Unrouted:
		return s.Status == ledger.Applied || s.Status == ledger.SkippedStale || s.Status == ledger.Duplicate
	}
	return false
}
