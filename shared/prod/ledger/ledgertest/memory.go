// Package ledgertest holds an in-memory ledger for tests of the ledger's
// users, and the contract suite that both it and the DynamoDB ledger pass, so
// that what the fake does is what DynamoDB does.
package ledgertest

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/ledger"
)

// Memory is an in-memory ledger.Store with the DynamoDB ledger's conditions.
// Set ClaimErr or OutcomeErr to inject a failure. Safe for concurrent use.
type Memory struct {
	mu         sync.Mutex
	records    map[string]*ledger.Stored
	now        func() time.Time
	ClaimErr   error
	OutcomeErr error
}

var _ ledger.Store = (*Memory)(nil)

// NewMemory returns an empty ledger; now may be nil (time.Now).
func NewMemory(now func() time.Time) *Memory {
	if now == nil {
		now = time.Now
	}
	return &Memory{records: map[string]*ledger.Stored{}, now: now}
}

// Status returns a record's status, "" when there is none.
func (m *Memory) Status(key string) ledger.Status {
	m.mu.Lock()
	defer m.mu.Unlock()
	if r, ok := m.records[key]; ok {
		return r.Status
	}
	return ""
}

// Keys returns every record's key, sorted.
func (m *Memory) Keys() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	keys := make([]string, 0, len(m.records))
	for k := range m.records {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func (m *Memory) Claim(_ context.Context, rec ledger.Record) (ledger.ClaimResult, ledger.Status, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ClaimErr != nil {
		return 0, "", m.ClaimErr
	}
	if r, ok := m.records[rec.EventID]; ok {
		switch {
		case !bytes.Equal(r.Raw, rec.Raw):
			return ledger.ClaimConflict, r.Status, nil
		case r.Status.Settled() || r.Status == ledger.Enqueued:
			return ledger.ClaimSettled, r.Status, nil
		}
		return ledger.ClaimPending, r.Status, nil
	}
	now := m.now()
	s := &ledger.Stored{
		EventID: rec.EventID, Kind: rec.Kind, Status: rec.Status, EventType: events.Truncate(rec.EventType, 256),
		Domain: rec.Domain, EntityKey: rec.EntityKey, Reason: events.Truncate(rec.Reason, 1000),
		ReceivedAt: events.SortableTime(now), Raw: append([]byte(nil), rec.Raw...),
	}
	switch {
	case rec.Status == ledger.Received:
		s.LeaseUntil = now.Add(ledger.Lease).Truncate(time.Second).UTC()
	case rec.Kind == ledger.KindRequest:
		s.Parked = ledger.RequestsPartition
	default:
		s.Parked = parkedIn(s)
	}
	m.records[rec.EventID] = s
	return ledger.ClaimNew, rec.Status, nil
}

func parkedIn(s *ledger.Stored) string {
	if s.Parked != "" {
		return s.Parked
	}
	if s.Domain != "" {
		return string(s.Domain)
	}
	return string(events.Unrouted)
}

func (m *Memory) MarkEnqueued(_ context.Context, eventID string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if r, ok := m.records[eventID]; ok && r.Status == ledger.Received {
		r.Status, r.UpdatedAt = ledger.Enqueued, events.SortableTime(m.now())
	}
	return nil
}

func (m *Memory) RecordOutcome(_ context.Context, eventID string, to ledger.Status, reason string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.OutcomeErr != nil {
		return m.OutcomeErr
	}
	r, ok := m.records[eventID]
	if !ok || r.Status.Settled() {
		return nil
	}
	r.Status, r.UpdatedAt, r.LeaseUntil = to, events.SortableTime(m.now()), time.Time{}
	if reason != "" {
		r.Reason = events.Truncate(reason, 1000)
	}
	if to == ledger.Parked {
		r.Parked = parkedIn(r)
	} else {
		r.Parked = ""
	}
	return nil
}

func (m *Memory) Release(_ context.Context, eventID string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.OutcomeErr != nil {
		return m.OutcomeErr
	}
	if r, ok := m.records[eventID]; ok && r.Parked != "" && !r.Status.Settled() {
		r.Parked, r.UpdatedAt = "", events.SortableTime(m.now())
	}
	return nil
}

func (m *Memory) RawEvent(ctx context.Context, eventID string) ([]byte, error) {
	s, err := m.Read(ctx, eventID)
	return s.Raw, err
}

func (m *Memory) Read(_ context.Context, key string) (ledger.Stored, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.records[key]
	if !ok {
		return ledger.Stored{}, fmt.Errorf("%w: %s", ledger.ErrNotFound, key)
	}
	s := *r
	s.Raw = append([]byte(nil), r.Raw...)
	return s, nil
}

func (m *Memory) Reopen(_ context.Context, eventID string, domain events.Domain, entityKey string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.records[eventID]
	now := m.now()
	reopenable := ok && r.Kind == ledger.KindEvent && (r.Status == ledger.Parked ||
		(r.Domain == events.Unrouted && (r.Status == ledger.Applied || r.Status == ledger.SkippedStale || r.Status == ledger.Duplicate)) ||
		(r.Status == ledger.Received && r.Parked != "") ||
		(!r.Status.Settled() && !r.LeaseUntil.IsZero() && r.LeaseUntil.Unix() < now.Unix()))
	if !reopenable {
		return fmt.Errorf("%w: %s", ledger.ErrNotReopenable, eventID)
	}
	r.Parked = parkedIn(r)
	r.Status, r.Domain, r.EntityKey, r.Reason = ledger.Received, domain, entityKey, ""
	r.LeaseUntil = now.Add(ledger.Lease).Truncate(time.Second).UTC()
	r.UpdatedAt = events.SortableTime(now)
	return nil
}

func (m *Memory) ResolveRequest(_ context.Context, requestKey, note string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.records[requestKey]
	if !ok || r.Kind != ledger.KindRequest || r.Status != ledger.Parked {
		return fmt.Errorf("%w: %s is not a parked request", ledger.ErrNotReopenable, requestKey)
	}
	r.Status, r.Reason, r.Parked, r.UpdatedAt = ledger.Applied, events.Truncate(note, 1000), "", events.SortableTime(m.now())
	return nil
}

func (m *Memory) Parked(_ context.Context, partition string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var found []*ledger.Stored
	for _, r := range m.records {
		if r.Parked == partition {
			found = append(found, r)
		}
	}
	sort.Slice(found, func(i, j int) bool {
		if found[i].ReceivedAt != found[j].ReceivedAt {
			return found[i].ReceivedAt < found[j].ReceivedAt
		}
		return found[i].EventID < found[j].EventID
	})
	ids := make([]string, len(found))
	for i, r := range found {
		ids[i] = r.EventID
	}
	return ids, nil
}

func (m *Memory) Unrouted(context.Context) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var ids []string
	for k, r := range m.records {
		if r.Domain == events.Unrouted {
			ids = append(ids, k)
		}
	}
	sort.Strings(ids)
	return ids, nil
}
