// Package ledger is the event log and the deduplication record: one item per
// Upvest event id, with the status that tells what became of the event, and
// the event's exact bytes. Authentic requests that are not Upvest envelopes are
// kept here too, as request records.
package ledger

import (
	"context"

	"github.com/upvest-webhooks/upvest-webhooks/events"
)

// Status is where an event stands in the ledger: RECEIVED [→ ENQUEUED], or
// PARKED at any point where the event can never be processed. What a worker
// did with an event is not written here: the entity's state row records what
// was applied (its event_id and position), and ops.Inspect derives the
// outcome from the record and the row (state.Judge). APPLIED, SKIPPED_STALE
// and DUPLICATE are what workers wrote before that decision (issue 20); such
// records stay readable, settled and replayable as before.
type Status string

const (
	// Received: recorded and handed to its queue, not yet applied. Not
	// trusted: a redelivery fans it out again, since the call that wrote it
	// may have died before its messages went out.
	Received Status = "RECEIVED"
	// Enqueued: known to be on its queue. Ingest marks it only for the events
	// that went out when others of their request failed to, so that the
	// redelivery sends just the failed ones; like Received, it is not settled.
	Enqueued Status = "ENQUEUED"
	// Parked: kept aside with a reason; it can never be processed as it is.
	Parked Status = "PARKED"
	// Applied: written by workers of earlier versions once they changed the
	// entity's state row with the event; today only a replayed request record
	// is marked so (ResolveRequest).
	Applied Status = "APPLIED"
	// SkippedStale: written by workers of earlier versions when the state row
	// was already newer than the event.
	SkippedStale Status = "SKIPPED_STALE"
	// Duplicate: written by workers of earlier versions when the event was
	// already applied.
	Duplicate Status = "DUPLICATE"
)

// Settled reports whether nothing more will happen to an event in this status:
// a redelivery of it is a plain duplicate. RECEIVED and ENQUEUED records are
// never settled, even long after their worker applied them: a redelivery
// sends them again, and the worker's conditional write makes that a no-op.
func (s Status) Settled() bool {
	return s != Received && s != Enqueued
}

// Kind tells event records from request records.
type Kind string

const (
	// KindEvent is one Upvest event, keyed by its id.
	KindEvent Kind = ""
	// KindRequest is a whole authentic request body that is not an Upvest
	// envelope, keyed by its digest, parked in RequestsPartition.
	KindRequest Kind = "request"
	// KindConflict is an event's bytes that arrived under an id recorded with
	// other bytes, keyed by the id and their digest, parked in their domain's
	// partition and never applied: the recorded bytes are the event.
	KindConflict Kind = "conflict"
)

// RequestsPartition is the parked index partition that lists request records
// (the others are domains).
const RequestsPartition = "requests"

// Store is the whole ledger: *Dynamo on DynamoDB, and ledgertest.Memory for
// tests, both held to one contract (ledgertest.RunContract).
type Store interface {
	Claim(ctx context.Context, rec Record) (ClaimResult, Status, error)
	MarkEnqueued(ctx context.Context, eventID string) error
	OutcomeRecorder
	RawEventReader
	Read(ctx context.Context, key string) (Stored, error)
	Reopen(ctx context.Context, eventID string, domain events.Domain, entityKey string) error
	ResolveRequest(ctx context.Context, requestKey, note string) error
	Parked(ctx context.Context, partition string) ([]string, error)
	Unrouted(ctx context.Context) ([]string, error)
}

// OutcomeRecorder is what a worker needs from the ledger: the exceptions. A
// worker records PARKED for an event that can never be applied, and releases
// a replayed record from the parked index once it is done with it; a settled
// outcome (applied, stale, duplicate) is in the state row, not here.
// Recording an outcome for an event already in a final status (Parked, or the
// Applied, SkippedStale, Duplicate of earlier versions) changes nothing and
// is not an error.
type OutcomeRecorder interface {
	RecordOutcome(ctx context.Context, eventID string, status Status, reason string) error
	Release(ctx context.Context, eventID string) error
}

// RawEventReader reads an event's raw bytes back from the ledger; a worker uses
// it for events too large to travel in their queue message.
type RawEventReader interface {
	RawEvent(ctx context.Context, eventID string) ([]byte, error)
}
