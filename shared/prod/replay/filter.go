package replay

import (
	"bufio"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/ledger"
)

// TimeField is which time -since and -until compare.
type TimeField string

const (
	ByReceived TimeField = "received" // when ingest first recorded the event (the ledger's received_at)
	ByCreated  TimeField = "created"  // the event's own created_at, read from its bytes
)

// Filter selects ledger event records for a replay or a plan. Every set field
// must match; within a field, any value does.
type Filter struct {
	Domains  []events.Domain // the domain the routing table sends the event to now
	Types    []string        // a category ("ORDER") or a type ("ORDER.NEW")
	Since    time.Time       // inclusive; zero: no bound
	Until    time.Time       // exclusive; zero: no bound
	By       TimeField       // "": ByReceived
	Statuses []ledger.Status // RECEIVED, ENQUEUED or PARKED; none: any
	IDs      map[string]bool // nil: any id
}

// SelectableStatuses are the statuses a filter names. Records settled by a
// worker before the upgrade that stopped recording outcomes (APPLIED,
// SKIPPED_STALE, DUPLICATE) were received and are counted as RECEIVED.
var SelectableStatuses = []ledger.Status{ledger.Received, ledger.Enqueued, ledger.Parked}

// RecordGroup is the selectable status a record counts as: StatusGroup of
// its status, except that a RECEIVED record still in the parked index (a
// replay reopened it and its send failed) is PARKED, as `ops parked` lists it
// and as a replay treats it (reopened and sent again): a -status PARKED run
// resumed after such a failure must not pass it over.
func RecordGroup(s ledger.Stored) ledger.Status {
	if s.Status == ledger.Received && s.Parked != "" {
		return ledger.Parked
	}
	return StatusGroup(s.Status)
}

// StatusGroup is the selectable status a record's status counts as.
func StatusGroup(s ledger.Status) ledger.Status {
	switch s {
	case ledger.Applied, ledger.SkippedStale, ledger.Duplicate:
		return ledger.Received
	}
	return s
}

// ParseType checks a -type value: CATEGORY or CATEGORY.ACTION.
func ParseType(s string) (string, error) {
	cat, action, dotted := strings.Cut(s, ".")
	if cat == "" || (dotted && action == "") || !events.ValidType(typeForCheck(cat, action)) {
		return "", fmt.Errorf("-type %q: want CATEGORY or CATEGORY.ACTION in capitals, e.g. ORDER or ORDER.FILLED", s)
	}
	return s, nil
}

func typeForCheck(cat, action string) string {
	if action == "" {
		action = "X"
	}
	return cat + "." + action
}

// ParseStatus checks a -status value.
func ParseStatus(s string) (ledger.Status, error) {
	st := ledger.Status(strings.ToUpper(s))
	if !slices.Contains(SelectableStatuses, st) {
		return "", fmt.Errorf("-status %q: want one of RECEIVED, ENQUEUED, PARKED", s)
	}
	return st, nil
}

// ParseTime reads -since and -until: RFC 3339, or a date (midnight UTC).
func ParseTime(flag, s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%s %q: want RFC 3339 (2024-05-01T10:00:00Z) or a date (2024-05-01)", flag, s)
}

// CanonicalID is an event id as the ledger keys it: ingest records a UUID id
// in lower case whatever case Upvest sent (events.ParseEvent), so an id an
// operator copied in capitals names the same record. Other keys are as given.
func CanonicalID(id string) string {
	if events.IsUUID(id) {
		return strings.ToLower(id)
	}
	return id
}

// ReadIDs reads event ids, one a line, each as CanonicalID; blank lines and
// lines starting with # are skipped.
func ReadIDs(r io.Reader) (map[string]bool, error) {
	ids := map[string]bool{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		ids[CanonicalID(line)] = true
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read ids: %w", err)
	}
	return ids, nil
}

// RoutedDomain is the domain the routing table sends an event type to now.
func RoutedDomain(eventType string) events.Domain {
	cat, _, _ := strings.Cut(eventType, ".")
	c, _ := events.Lookup(cat)
	return c.Domain
}

// Query is the ledger Scan that finds the filter's candidates: what DynamoDB
// can check itself (types, received time, statuses) goes into its filter
// expression; Match checks every record again.
func (f Filter) Query(segments int) ledger.ScanQuery {
	q := ledger.ScanQuery{Segments: segments, WithBody: true}
	switch {
	case len(f.Types) > 0:
		for _, t := range f.Types {
			if !strings.Contains(t, ".") {
				t += "."
			}
			q.TypePrefixes = append(q.TypePrefixes, t)
		}
	case len(f.Domains) > 0 && !slices.Contains(f.Domains, events.Unrouted):
		q.TypePrefixes = CategoryPrefixes(f.Domains...)
	}
	if f.By != ByCreated {
		if !f.Since.IsZero() {
			q.ReceivedFrom = events.SortableTime(f.Since)
		}
		if !f.Until.IsZero() {
			q.ReceivedUntil = events.SortableTime(f.Until)
		}
	}
	for _, s := range f.Statuses {
		q.Statuses = append(q.Statuses, s)
		switch s {
		case ledger.Received:
			q.Statuses = append(q.Statuses, ledger.Applied, ledger.SkippedStale, ledger.Duplicate)
		case ledger.Parked:
			q.OrParked = true // RECEIVED and still listed: RecordGroup
		}
	}
	return q
}

// CategoryPrefixes are the event_type prefixes ("ORDER.") of the categories
// the routing table sends to the domains.
func CategoryPrefixes(domains ...events.Domain) []string {
	var out []string
	for _, c := range events.Categories() {
		if slices.Contains(domains, c.Domain) {
			out = append(out, c.Name+".")
		}
	}
	return out
}

// Match reports whether a record (read with its bytes) is selected.
func (f Filter) Match(s ledger.Stored) bool {
	if s.Kind != ledger.KindEvent {
		return false
	}
	if f.IDs != nil && !f.IDs[s.EventID] {
		return false
	}
	if len(f.Domains) > 0 && !slices.Contains(f.Domains, RoutedDomain(s.EventType)) {
		return false
	}
	if len(f.Types) > 0 && !slices.ContainsFunc(f.Types, func(t string) bool {
		return s.EventType == t || strings.HasPrefix(s.EventType, t+".") && !strings.Contains(t, ".")
	}) {
		return false
	}
	if len(f.Statuses) > 0 && !slices.Contains(f.Statuses, RecordGroup(s)) {
		return false
	}
	return f.matchTime(s)
}

func (f Filter) matchTime(s ledger.Stored) bool {
	if f.Since.IsZero() && f.Until.IsZero() {
		return true
	}
	var t time.Time
	if f.By == ByCreated {
		e, err := events.ParseEvent(s.Raw)
		if err != nil {
			return false
		}
		if t, err = events.ParseTime(e.CreatedAt); err != nil {
			return false // no usable created_at: not in any window
		}
	} else {
		var err error
		if t, err = time.Parse(time.RFC3339Nano, s.ReceivedAt); err != nil {
			return false
		}
	}
	return (f.Since.IsZero() || !t.Before(f.Since)) && (f.Until.IsZero() || t.Before(f.Until))
}
