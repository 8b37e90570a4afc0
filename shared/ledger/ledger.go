// Package ledger is the event log and the deduplication record: one item per
// Upvest event id, with the status that tells what became of the event.
package ledger

import "context"

// Status is where an event stands. RECEIVED → ENQUEUED → APPLIED | SKIPPED_STALE
// | DUPLICATE; PARKED at any point where the event can never be processed.
type Status string

const (
	// Received: recorded, not yet known to be on its queue. Not trusted: a
	// redelivery fans it out again, since the call that wrote it may have died.
	Received Status = "RECEIVED"
	// Enqueued: on its domain queue.
	Enqueued Status = "ENQUEUED"
	// Parked: kept aside with a reason; it can never be processed as it is.
	Parked Status = "PARKED"
	// Applied: a worker changed the entity's state row with it.
	Applied Status = "APPLIED"
	// SkippedStale: the state row was already newer than the event.
	SkippedStale Status = "SKIPPED_STALE"
	// Duplicate: the worker found the event already applied.
	Duplicate Status = "DUPLICATE"
)

// Settled reports whether nothing more will happen to an event in this status:
// a redelivery of it is a plain duplicate.
func (s Status) Settled() bool {
	return s != Received
}

// OutcomeRecorder is what a worker needs from the ledger: recording what became
// of an event. Recording an outcome for an event already in a final status
// (Parked, Applied, SkippedStale, Duplicate) changes nothing and is not an error.
type OutcomeRecorder interface {
	RecordOutcome(ctx context.Context, eventID string, status Status, reason string) error
}

// RawEventReader reads an event's raw bytes back from the ledger; a worker uses
// it for events too large to travel in their queue message.
type RawEventReader interface {
	RawEvent(ctx context.Context, eventID string) ([]byte, error)
}
