package statetest

import (
	"context"
	"fmt"
	"maps"
	"sort"
	"sync"
	"time"

	"github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/state"
)

// Memory is an in-memory state.Store with the DynamoDB adapter's semantics
// (see package state), for tests. One Memory holds the rows of every domain:
// entity keys start with their category, so they never collide.
type Memory struct {
	mu   sync.Mutex
	rows map[string]*state.Row
}

var _ state.Store = (*Memory)(nil)

// NewMemory returns an empty store.
func NewMemory() *Memory { return &Memory{rows: map[string]*state.Row{}} }

// Apply writes the event to its row and its parent's view, as state.Dynamo does.
func (m *Memory) Apply(_ context.Context, e events.Event, r events.Route) (state.Outcome, error) {
	if r.EntityKey == "" || r.Position == "" {
		return "", fmt.Errorf("state: route of event %s has no entity key or position", e.ID)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	row := m.row(r.EntityKey)
	switch {
	case r.Model != events.LatestWins && r.Model != events.AppendOnly:
		return "", fmt.Errorf("state: apply %s: unknown state model %q", e.ID, r.Model)
	case row.Position != "" && (r.Model == events.AppendOnly || row.Position >= r.Position):
		own := state.Stale
		if row.EventID == e.ID {
			own = state.Duplicate
		}
		if m.applyView(e, r) {
			return state.Applied, nil
		}
		return own, nil
	}
	row.Category, row.Status, row.Object = r.Category, r.Status, e.CompactObject()
	row.UserID, row.AccountID, row.AccountGroupID = r.UserID, r.AccountID, r.AccountGroupID
	row.OrderedAt, row.Position = events.SortableTime(r.OrderedAt), r.Position
	row.EventID, row.EventType = e.ID, e.Type
	touch(row)
	m.applyView(e, r)
	return state.Applied, nil
}

// applyView writes the entry when it is newer and reports whether it did.
func (m *Memory) applyView(e events.Event, r events.Route) bool {
	p := r.Parent
	if p == nil {
		return false
	}
	parent := m.row(p.EntityKey)
	if old, ok := parent.Views[p.Attribute][p.EntryID]; ok && old.Position >= r.Position {
		return false
	}
	if parent.Views == nil {
		parent.Views = map[string]map[string]state.ViewEntry{}
	}
	if parent.Views[p.Attribute] == nil {
		parent.Views[p.Attribute] = map[string]state.ViewEntry{}
	}
	parent.Views[p.Attribute][p.EntryID] = state.NewViewEntry(e, r)
	parent.Category = p.Category
	touch(parent)
	return true
}

// row returns the stored row, creating an empty one (only kept once touched).
func (m *Memory) row(pk string) *state.Row {
	if r, ok := m.rows[pk]; ok {
		return r
	}
	r := &state.Row{PK: pk}
	m.rows[pk] = r
	return r
}

func touch(r *state.Row) {
	r.Version++
	r.UpdatedAt = events.SortableTime(time.Now())
}

// Row returns a copy of a stored row; ok is false when there is none.
func (m *Memory) Row(pk string) (state.Row, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.rows[pk]
	if !ok || r.Version == 0 {
		return state.Row{}, false
	}
	out := *r
	out.Views = nil
	for attr, entries := range r.Views {
		if out.Views == nil {
			out.Views = map[string]map[string]state.ViewEntry{}
		}
		out.Views[attr] = maps.Clone(entries)
	}
	return out, true
}

// Keys returns the keys of every row written, sorted.
func (m *Memory) Keys() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var keys []string
	for pk, r := range m.rows {
		if r.Version > 0 {
			keys = append(keys, pk)
		}
	}
	sort.Strings(keys)
	return keys
}
