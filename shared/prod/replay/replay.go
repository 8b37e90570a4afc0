// Package replay sends kept-aside records through the pipeline again: events
// parked as unusable (after the cause is fixed), events of a category the
// routing table did not know (after it gained the category), events a replay
// or a delivery left RECEIVED, and whole requests that were not envelopes
// (after the code learnt their shape). Event ids are kept, so workers stay
// idempotent and the ledger tells what happened.
package replay

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/fanout"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/ingest"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/ledger"
)

// Ledger is what a replay needs from the ledger.
type Ledger interface {
	Read(ctx context.Context, eventID string) (ledger.Stored, error)
	Reopen(ctx context.Context, eventID string, domain events.Domain, entityKey string) error
	ResolveRequest(ctx context.Context, requestKey, note string) error
	MarkEnqueued(ctx context.Context, eventID string) error
}

var _ Ledger = (*ledger.Dynamo)(nil)

// Reingester records the events of a kept request body; *ingest.Service is one.
type Reingester interface {
	Reingest(ctx context.Context, body []byte) (ingest.Summary, error)
}

var _ Reingester = (*ingest.Service)(nil)

// Outcome says what a replay did with one record.
type Outcome string

const (
	Requeued       Outcome = "requeued"       // reopened and sent to its domain queue (a request: its events recorded)
	WouldRequeue   Outcome = "would-requeue"  // dry run: it would have been requeued
	StillUnusable  Outcome = "still-unusable" // it still cannot be classified; Reason says why
	StillUnrouted  Outcome = "still-unrouted" // its category is still not in the routing table
	NotReplayable  Outcome = "not-replayable" // in flight or settled; Reason says its status
	NotInTheLedger Outcome = "not-in-ledger"  // no record with that id
)

// Result is the replay of one record.
type Result struct {
	EventID string
	Outcome Outcome
	Domain  events.Domain // where it was sent (or would be)
	Reason  string
}

// Replayer replays records kept in the ledger.
type Replayer struct {
	Ledger    Ledger
	Publisher fanout.Publisher
	Requests  Reingester // nil: request records are reported still-unusable
	DryRun    bool
	Now       func() time.Time // default time.Now
}

// Replay replays each record in turn. An error means the ledger or a queue
// could not be reached; the results so far are returned with it. A record
// whose replay failed half-way stays replayable.
func (r *Replayer) Replay(ctx context.Context, ids []string) ([]Result, error) {
	var results []Result
	for _, id := range ids {
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
	if stored.Kind == ledger.KindRequest {
		return r.request(ctx, stored)
	}
	if stored.Kind == ledger.KindConflict {
		// Other bytes under a recorded id: applying them would make the state
		// disagree with the ledger's event. They are kept for inspection only.
		return Result{EventID: id, Outcome: NotReplayable, Domain: stored.Domain, Reason: "bytes that arrived under a recorded event id with other content are never applied"}, nil
	}
	if !r.replayable(stored) {
		return Result{EventID: id, Outcome: NotReplayable, Domain: stored.Domain, Reason: "status " + string(stored.Status)}, nil
	}
	e, route, err := events.ClassifyAt(stored.Raw, time.Now()) // the wall clock, as the worker checks it
	switch {
	case err != nil:
		return Result{EventID: id, Outcome: StillUnusable, Reason: err.Error()}, nil
	case route.Domain == events.Unrouted && stored.Domain == events.Unrouted && stored.Status != ledger.Parked && stored.Parked == "":
		// Kept in the unrouted state table (or on its way there): sending it
		// to the same domain again would change nothing.
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
	// Reopen kept the record in the parked index: should this send fail, it
	// is still listed, and a second replay accepts it.
	msg := fanout.Message{EventID: id, EventType: e.Type, Domain: route.Domain, Raw: stored.Raw, Replay: true}
	if err := r.Publisher.Publish(ctx, []fanout.Message{msg}); err != nil {
		return Result{}, fmt.Errorf("requeue %s (still listed as parked; replay it again): %w", id, err)
	}
	// In flight: not replayable again until its worker releases it from the
	// parked index, or its lease runs out.
	if err := r.Ledger.MarkEnqueued(ctx, id); err != nil {
		return Result{}, fmt.Errorf("requeued %s but could not mark it (a second replay sends it again): %w", id, err)
	}
	return Result{EventID: id, Outcome: Requeued, Domain: route.Domain}, nil
}

// request replays a kept request body through ingest.
func (r *Replayer) request(ctx context.Context, stored ledger.Stored) (Result, error) {
	id := stored.EventID
	if stored.Status != ledger.Parked {
		return Result{EventID: id, Outcome: NotReplayable, Reason: "request already replayed: " + stored.Reason}, nil
	}
	if _, err := events.DecodeEnvelope(stored.Raw); err != nil {
		return Result{EventID: id, Outcome: StillUnusable, Reason: err.Error()}, nil
	}
	if r.DryRun {
		return Result{EventID: id, Outcome: WouldRequeue}, nil
	}
	if r.Requests == nil {
		return Result{EventID: id, Outcome: StillUnusable, Reason: "this replay cannot re-ingest requests"}, nil
	}
	summary, err := r.Requests.Reingest(ctx, stored.Raw)
	if err != nil {
		return Result{}, fmt.Errorf("re-ingest request %s (still parked; replay it again): %w", id, err)
	}
	note := fmt.Sprintf("replayed: %d new, %d duplicate, %d sent again, %d parked",
		summary.Received, summary.Duplicates, summary.Refanned, summary.Parked)
	if err := r.Ledger.ResolveRequest(ctx, id, note); err != nil {
		return Result{}, err
	}
	return Result{EventID: id, Outcome: Requeued, Reason: note}, nil
}

// replayable: parked; settled by the unrouted worker of an earlier version;
// or RECEIVED and either left in the parked index by a replay or past its
// lease (an event its worker has applied stays RECEIVED: sending it again is
// a no-op there).
func (r *Replayer) replayable(s ledger.Stored) bool {
	switch {
	case s.Status == ledger.Parked:
		return true
	case s.Status == ledger.Received && s.Parked != "":
		return true // a replay whose send failed
	case !s.Status.Settled():
		return s.LeaseOver(r.now())
	case s.Domain == events.Unrouted:
		return s.Status == ledger.Applied || s.Status == ledger.SkippedStale || s.Status == ledger.Duplicate
	}
	return false
}

func (r *Replayer) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}
