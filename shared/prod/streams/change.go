package streams

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	upvest "github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/schema"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/state"
)

// Kind is what happened to a state row.
type Kind string

// The kinds of change, as DynamoDB Streams names them.
const (
	Insert Kind = "INSERT"
	Modify Kind = "MODIFY"
	Remove Kind = "REMOVE"
)

// Change is one state-table stream record made readable: which entity changed,
// from which status and version to which, and because of which Upvest event.
// Category, OrderedAt, Object and Views describe the row after the change
// (before it, for a REMOVE). EventID and EventType name the event that caused
// the change: the row's own, or a view entry's when only a view changed.
type Change struct {
	Table      string          `json:"table"`
	Domain     upvest.Domain   `json:"domain,omitempty"`
	Key        string          `json:"key"`
	Kind       Kind            `json:"kind"`
	Category   string          `json:"category,omitempty"`
	OldStatus  string          `json:"old_status,omitempty"`
	NewStatus  string          `json:"new_status,omitempty"`
	OldVersion int64           `json:"old_version,omitempty"`
	NewVersion int64           `json:"new_version,omitempty"`
	EventID    string          `json:"event_id,omitempty"`
	EventType  string          `json:"event_type,omitempty"`
	OrderedAt  string          `json:"ordered_at,omitempty"`
	Object     json.RawMessage `json:"object,omitempty"`
	// Views summarises the row's parent views (ORDER rows: executions_view), by attribute name.
	Views          map[string]ViewSummary `json:"views,omitempty"`
	SequenceNumber string                 `json:"sequence_number"`
	// At is when DynamoDB wrote the record (second precision).
	At time.Time `json:"at,omitzero"`
}

// ViewSummary counts the entries of a view map (one per child entity, e.g. per
// EXECUTION of an ORDER) and how many of them are in each status.
type ViewSummary struct {
	Count    int            `json:"count"`
	ByStatus map[string]int `json:"by_status,omitempty"`
}

// ErrNotStateRecord means a stream record cannot be read as a state-table change.
var ErrNotStateRecord = errors.New("not a state-table stream record")

// Decode reads one stream record of a state table (stream view
// NEW_AND_OLD_IMAGES) as Lambda delivers it. The local Tailer reads records
// of the Streams API through the same decoding.
func Decode(r events.DynamoDBEventRecord) (Change, error) {
	rec, err := fromLambda(r)
	if err != nil {
		return Change{}, err
	}
	return decode(rec)
}

// decode reads the record's images as state rows and describes the change.
func decode(r record) (Change, error) {
	c := Change{Table: tableFromARN(r.SourceARN), Kind: Kind(r.EventName), SequenceNumber: r.SequenceNumber, At: r.At}
	switch c.Kind {
	case Insert, Modify, Remove:
	default:
		return Change{}, fmt.Errorf("%w: event name %q", ErrNotStateRecord, r.EventName)
	}
	keys, err := state.DecodeRow(r.Keys)
	if err != nil {
		return Change{}, fmt.Errorf("record %s keys: %w", r.SequenceNumber, err)
	}
	oldRow, err := state.DecodeRow(r.OldImage)
	if err != nil {
		return Change{}, fmt.Errorf("record %s old image: %w", r.SequenceNumber, err)
	}
	newRow, err := state.DecodeRow(r.NewImage)
	if err != nil {
		return Change{}, fmt.Errorf("record %s new image: %w", r.SequenceNumber, err)
	}
	c.Key = cmp.Or(keys.PK, newRow.PK, oldRow.PK)
	if c.Key == "" {
		return Change{}, fmt.Errorf("%w: record %s has no %q key", ErrNotStateRecord, r.SequenceNumber, schema.StatePK)
	}

	// The row as it is now; for a REMOVE, as it was.
	current := newRow
	if c.Kind == Remove || r.NewImage == nil {
		current = oldRow
	}
	c.Category = current.Category
	if c.Category != "" {
		cat, _ := upvest.Lookup(c.Category)
		c.Domain = cat.Domain
	}
	c.OldStatus, c.NewStatus = oldRow.Status, newRow.Status
	c.OldVersion, c.NewVersion = oldRow.Version, newRow.Version
	c.EventID, c.EventType = cause(c.Kind, oldRow, newRow)
	c.OrderedAt = current.OrderedAt
	if current.Object != "" {
		if !json.Valid([]byte(current.Object)) {
			return Change{}, fmt.Errorf("record %s: attribute %q is not valid JSON", c.SequenceNumber, schema.StateObject)
		}
		c.Object = json.RawMessage(current.Object)
	}
	for attr, entries := range current.Views {
		if c.Views == nil {
			c.Views = map[string]ViewSummary{}
		}
		c.Views[attr] = summarise(entries)
	}
	return c, nil
}

// cause names the event behind a change. The row's own event_id/event_type
// describe the row's last event; when a change only touched a view entry (an
// EXECUTION updating its ORDER's executions_view), the event is the entry's.
func cause(kind Kind, oldRow, newRow state.Row) (id, typ string) {
	if kind == Remove {
		return oldRow.EventID, oldRow.EventType
	}
	if newRow.EventID != "" && newRow.EventID != oldRow.EventID {
		return newRow.EventID, newRow.EventType
	}
	for _, attr := range state.ViewAttributes {
		newView, oldView := newRow.Views[attr], oldRow.Views[attr]
		for _, entry := range slices.Sorted(maps.Keys(newView)) {
			n := newView[entry]
			if n.EventID != "" && n.EventID != oldView[entry].EventID {
				return n.EventID, n.EventType
			}
		}
	}
	return newRow.EventID, newRow.EventType
}

// summarise counts a view's entries by status: the entry's status, or for
// an entry without one the status field of its object; an entry without a
// readable status is counted under "" only.
func summarise(entries map[string]state.ViewEntry) ViewSummary {
	s := ViewSummary{Count: len(entries)}
	for _, e := range entries {
		status := e.Status
		if status == "" {
			var probe struct {
				Status string `json:"status"`
			}
			if json.Unmarshal([]byte(e.Object), &probe) == nil {
				status = probe.Status
			}
		}
		if status == "" {
			continue
		}
		if s.ByStatus == nil {
			s.ByStatus = map[string]int{}
		}
		s.ByStatus[status]++
	}
	return s
}

// tableFromARN takes the table name out of a stream ARN
// (arn:aws:dynamodb:<region>:<account>:table/<name>/stream/<label>).
func tableFromARN(arn string) string {
	_, rest, ok := strings.Cut(arn, ":table/")
	if !ok {
		return ""
	}
	name, _, _ := strings.Cut(rest, "/")
	return name
}
