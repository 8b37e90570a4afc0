package state

import (
	"fmt"
	"maps"
	"slices"
	"sort"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/upvest-webhooks/upvest-webhooks/events"
)

// Row is one entity's item in a domain's state table (attribute names as in
// shared/prod/schema): what the store writes, what a failed condition returns and
// what the table's stream images show. An attribute the row lacks reads as
// the zero value; the store never writes an empty string, so "" means absent.
type Row struct {
	PK             string `dynamodbav:"pk"`
	Category       string `dynamodbav:"category,omitempty"`
	Status         string `dynamodbav:"status,omitempty"`
	Object         string `dynamodbav:"object,omitempty"` // the latest object: the JSON Upvest sent, compacted (events.CompactJSON)
	UserID         string `dynamodbav:"user_id,omitempty"`
	AccountID      string `dynamodbav:"account_id,omitempty"`
	AccountGroupID string `dynamodbav:"account_group_id,omitempty"`
	OrderedAt      string `dynamodbav:"ordered_at,omitempty"`
	Position       string `dynamodbav:"position,omitempty"` // events.Route.Position of the row's own event; "" for a row made by a view only
	EventID        string `dynamodbav:"event_id,omitempty"`
	EventType      string `dynamodbav:"event_type,omitempty"`
	Version        int64  `dynamodbav:"version"`
	UpdatedAt      string `dynamodbav:"updated_at,omitempty"`

	// Views are the parent views on the row (an ORDER's executions_view), by
	// attribute name, then by child entity id. Their attribute names come from
	// the routing table, so they are read by UnmarshalDynamoDBAttributeValue.
	Views map[string]map[string]ViewEntry `dynamodbav:"-"`
}

// rowKey is a row's primary key.
type rowKey struct {
	PK string `dynamodbav:"pk"`
}

// ViewEntry is one child entity's entry in a parent view: its newest event.
type ViewEntry struct {
	Position  string `dynamodbav:"position"`
	EventID   string `dynamodbav:"event_id"`
	EventType string `dynamodbav:"event_type"`
	Status    string `dynamodbav:"status,omitempty"`
	Object    string `dynamodbav:"object,omitempty"` // "" when over MaxViewObjectBytes
}

// MaxViewObjectBytes bounds the object a view entry copies from its event
// (compacted). A parent row holds its own object and every entry of its
// views within DynamoDB's 400 KB per item, and an ORDER's own object already
// lists its executions: one large execution copied whole into the view would
// make every later event of its order too large to write, so that the order
// never moved again. An execution is a few hundred bytes; a larger one's
// entry keeps its position, event and status, and its own row the object.
const MaxViewObjectBytes = 8 * 1024

// NewViewEntry is the entry event e, routed as r, keeps in its parent's view.
func NewViewEntry(e events.Event, r events.Route) ViewEntry {
	entry := ViewEntry{Position: r.Position, EventID: e.ID, EventType: e.Type, Status: r.Status}
	if object := e.CompactObject(); len(object) <= MaxViewObjectBytes {
		entry.Object = object
	}
	return entry
}

// ViewAttributes are the map attributes the routing table maintains on parent rows, sorted.
var ViewAttributes = func() []string {
	seen := map[string]bool{}
	var out []string
	for _, c := range events.Categories() {
		if c.View != nil && !seen[c.View.Attribute] {
			seen[c.View.Attribute] = true
			out = append(out, c.View.Attribute)
		}
	}
	sort.Strings(out)
	return out
}()

// UnmarshalDynamoDBAttributeValue reads a row item: the fixed attributes by
// their tags, then each view attribute the item has.
func (r *Row) UnmarshalDynamoDBAttributeValue(av types.AttributeValue) error {
	item, ok := av.(*types.AttributeValueMemberM)
	if !ok {
		return fmt.Errorf("state row: want a map, got %T", av)
	}
	type fields Row // the same fields without this method
	if err := attributevalue.UnmarshalMap(item.Value, (*fields)(r)); err != nil {
		// attributevalue does not say which attribute failed: find it.
		for _, name := range slices.Sorted(maps.Keys(item.Value)) {
			one := map[string]types.AttributeValue{name: item.Value[name]}
			if attrErr := attributevalue.UnmarshalMap(one, new(fields)); attrErr != nil {
				return fmt.Errorf("state row: attribute %q: %w", name, attrErr)
			}
		}
		return fmt.Errorf("state row: %w", err)
	}
	r.Views = nil
	for _, attr := range ViewAttributes {
		v, ok := item.Value[attr]
		if !ok {
			continue
		}
		var entries map[string]ViewEntry
		if err := attributevalue.Unmarshal(v, &entries); err != nil {
			return fmt.Errorf("state row: attribute %q: %w", attr, err)
		}
		if r.Views == nil {
			r.Views = map[string]map[string]ViewEntry{}
		}
		r.Views[attr] = entries
	}
	return nil
}

// DecodeRow reads a state item.
func DecodeRow(item map[string]types.AttributeValue) (Row, error) {
	var r Row
	err := attributevalue.UnmarshalMap(item, &r)
	return r, err
}
