package streams

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	upvest "github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/shared/schema"
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

// viewAttributes are the map attributes the routing table maintains on parent rows.
var viewAttributes = func() []string {
	seen := map[string]bool{}
	var out []string
	for _, c := range upvest.Categories() {
		if c.View != nil && !seen[c.View.Attribute] {
			seen[c.View.Attribute] = true
			out = append(out, c.View.Attribute)
		}
	}
	sort.Strings(out)
	return out
}()

// ErrNotStateRecord means a stream record cannot be read as a state-table change.
var ErrNotStateRecord = errors.New("not a state-table stream record")

// Decode reads one stream record of a state table (stream view NEW_AND_OLD_IMAGES).
// It is the same code for records Lambda delivers and records the local Tailer reads.
func Decode(r events.DynamoDBEventRecord) (Change, error) {
	c := Change{
		Table:          tableFromARN(r.EventSourceArn),
		Kind:           Kind(r.EventName),
		SequenceNumber: r.Change.SequenceNumber,
		At:             r.Change.ApproximateCreationDateTime.UTC(),
	}
	switch c.Kind {
	case Insert, Modify, Remove:
	default:
		return Change{}, fmt.Errorf("%w: event name %q", ErrNotStateRecord, r.EventName)
	}
	oldImg, newImg := r.Change.OldImage, r.Change.NewImage
	c.Key = str(r.Change.Keys, schema.StatePK)
	if c.Key == "" {
		c.Key = firstStr(schema.StatePK, newImg, oldImg)
	}
	if c.Key == "" {
		return Change{}, fmt.Errorf("%w: record %s has no %q key", ErrNotStateRecord, r.Change.SequenceNumber, schema.StatePK)
	}

	// The row as it is now; for a REMOVE, as it was.
	current := newImg
	if c.Kind == Remove || current == nil {
		current = oldImg
	}
	c.Category = str(current, schema.StateCategory)
	if c.Category != "" {
		cat, _ := upvest.Lookup(c.Category)
		c.Domain = cat.Domain
	}
	c.OldStatus, c.NewStatus = str(oldImg, schema.StateStatus), str(newImg, schema.StateStatus)
	c.EventID, c.EventType = cause(c.Kind, oldImg, newImg)
	c.OrderedAt = str(current, schema.StateOrderedAt)

	var err error
	if c.OldVersion, err = num(oldImg, schema.StateVersion); err != nil {
		return Change{}, fmt.Errorf("record %s old image: %w", c.SequenceNumber, err)
	}
	if c.NewVersion, err = num(newImg, schema.StateVersion); err != nil {
		return Change{}, fmt.Errorf("record %s new image: %w", c.SequenceNumber, err)
	}
	if obj := str(current, schema.StateObject); obj != "" {
		if !json.Valid([]byte(obj)) {
			return Change{}, fmt.Errorf("record %s: attribute %q is not valid JSON", c.SequenceNumber, schema.StateObject)
		}
		c.Object = json.RawMessage(obj)
	}
	for _, attr := range viewAttributes {
		if v, ok := current[attr]; ok && v.DataType() == events.DataTypeMap {
			if c.Views == nil {
				c.Views = map[string]ViewSummary{}
			}
			c.Views[attr] = summarise(v.Map())
		}
	}
	return c, nil
}

// cause names the event behind a change. The row's own event_id/event_type
// describe the row's last event; when a change only touched a view entry (an
// EXECUTION updating its ORDER's executions_view), the event is the entry's.
func cause(kind Kind, oldImg, newImg map[string]events.DynamoDBAttributeValue) (id, typ string) {
	if kind == Remove {
		return str(oldImg, schema.StateEventID), str(oldImg, schema.StateEventType)
	}
	rowID := str(newImg, schema.StateEventID)
	if rowID != "" && rowID != str(oldImg, schema.StateEventID) {
		return rowID, str(newImg, schema.StateEventType)
	}
	for _, attr := range viewAttributes {
		newView, oldView := mapAttr(newImg, attr), mapAttr(oldImg, attr)
		entries := make([]string, 0, len(newView))
		for entry := range newView {
			entries = append(entries, entry)
		}
		sort.Strings(entries)
		for _, entry := range entries {
			n, o := mapOf(newView[entry]), mapOf(oldView[entry])
			if eid := str(n, schema.StateEventID); eid != "" && eid != str(o, schema.StateEventID) {
				return eid, str(n, schema.StateEventType)
			}
		}
	}
	return rowID, str(newImg, schema.StateEventType)
}

func mapAttr(img map[string]events.DynamoDBAttributeValue, name string) map[string]events.DynamoDBAttributeValue {
	v, ok := img[name]
	if !ok {
		return nil
	}
	return mapOf(v)
}

func mapOf(v events.DynamoDBAttributeValue) map[string]events.DynamoDBAttributeValue {
	if v.DataType() != events.DataTypeMap {
		return nil
	}
	return v.Map()
}

// summarise counts a view's entries by status. An entry is a map with a
// "status" string, or with an "object" string holding the child's JSON; an
// entry without a readable status is counted under "".
func summarise(entries map[string]events.DynamoDBAttributeValue) ViewSummary {
	s := ViewSummary{Count: len(entries)}
	for _, e := range entries {
		status := entryStatus(e)
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

func entryStatus(e events.DynamoDBAttributeValue) string {
	var text string
	switch e.DataType() {
	case events.DataTypeMap:
		m := e.Map()
		if st := str(m, "status"); st != "" {
			return st
		}
		text = str(m, "object")
	case events.DataTypeString:
		text = e.String()
	}
	var probe struct {
		Status string `json:"status"`
	}
	if text == "" || json.Unmarshal([]byte(text), &probe) != nil {
		return ""
	}
	return probe.Status
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

// str returns a string attribute, or "" when it is absent or not a string.
func str(img map[string]events.DynamoDBAttributeValue, name string) string {
	v, ok := img[name]
	if !ok || v.DataType() != events.DataTypeString {
		return ""
	}
	return v.String()
}

func firstStr(name string, imgs ...map[string]events.DynamoDBAttributeValue) string {
	for _, img := range imgs {
		if s := str(img, name); s != "" {
			return s
		}
	}
	return ""
}

// num returns a whole-number attribute, 0 when it is absent.
func num(img map[string]events.DynamoDBAttributeValue, name string) (int64, error) {
	v, ok := img[name]
	if !ok || v.IsNull() {
		return 0, nil
	}
	if v.DataType() != events.DataTypeNumber {
		return 0, fmt.Errorf("attribute %q is not a number", name)
	}
	n, err := strconv.ParseInt(v.Number(), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("attribute %q: %w", name, err)
	}
	return n, nil
}
