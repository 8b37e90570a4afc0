package events

import (
	"errors"
	"fmt"
	"time"
	"unicode/utf8"
)

// Route is everything the pipeline derives from one valid event: where it goes,
// which entity it describes and where it stands in that entity's history.
type Route struct {
	Category  string
	Action    string
	Known     bool // the routing table lists the category
	Domain    Domain
	Model     StateModel
	EntityKey string // partition key of the state row, "<CATEGORY>#<key parts>"

	// OrderedAt is object.updated_at when present, else the event's created_at.
	OrderedAt time.Time
	// OrderedBy names the field OrderedAt was read from.
	OrderedBy string `json:"-"`
	// Position orders events of one entity: ordering timestamp, then lifecycle
	// rank, then event created_at, then event id. Comparing two positions as
	// strings compares the events; equal positions mean the same event.
	Position string

	Status         string
	UserID         string
	AccountID      string
	AccountGroupID string

	// Parent is set when the event also updates a view on a parent row.
	Parent *ParentRef
}

// ParentRef locates the view entry an event maintains on its parent row.
type ParentRef struct {
	Category  string // the parent's category (its key may be a digest, see BoundKey)
	EntityKey string // the parent's state row
	Attribute string // the parent's map attribute
	EntryID   string // this entity's id inside the map
}

// ErrNotUTF8 means an event's bytes are not UTF-8, as JSON must be: they were
// damaged on the way, and are kept exactly as they came.
var ErrNotUTF8 = errors.New("event is not valid UTF-8")

// ClassifyRaw decodes, validates and classifies one event's exact bytes: the
// one judgement of ingest, workers and replays on whether an event is usable.
// The Event is returned as far as it decoded, also with an error.
func ClassifyRaw(raw []byte) (Event, Route, error) {
	e, err := ParseEvent(raw)
	if err != nil {
		return e, Route{}, err
	}
	if !utf8.Valid(raw) {
		return e, Route{}, ErrNotUTF8
	}
	r, err := Classify(e)
	return e, r, err
}

// Classify validates an event and derives its Route. Unknown categories route
// to Unrouted. An error means the event can never be applied as it is, and its
// text is the reason the event is parked with.
func Classify(e Event) (Route, error) {
	if err := e.Validate(); err != nil {
		return Route{}, err
	}
	obj, err := decodeObject(e.Object)
	if err != nil {
		return Route{}, err
	}
	category, known := Lookup(e.Category())
	if err := checkNames(obj, category.readFields()); err != nil {
		return Route{}, err
	}
	r := Route{
		Category:       category.Name,
		Action:         e.Action(),
		Known:          known,
		Domain:         category.Domain,
		Model:          category.Model,
		Status:         Truncate(obj.str("status"), MaxKeyBytes),
		UserID:         boundOptional(obj.str("user_id")),
		AccountID:      boundOptional(obj.str("account_id")),
		AccountGroupID: boundOptional(obj.str("account_group_id")),
	}

	spec, prefix := category.Key, category.Name
	if override, ok := category.TypeKeys[r.Action]; ok {
		spec, prefix = override, e.Type
	}
	if r.EntityKey, err = entityKey(prefix, spec, obj); err != nil {
		if known {
			return Route{}, err
		}
		// A category nobody knows yet may have no id: key it by the event so it is still kept.
		r.EntityKey = JoinKey(prefix, "event:"+e.ID)
	}
	r.EntityKey = BoundKey(r.EntityKey)

	created, _ := ParseTime(e.CreatedAt) // Validate checked it
	r.OrderedAt, r.OrderedBy = created, "created_at"
	if updated := obj.str("updated_at"); updated != "" {
		if r.OrderedAt, err = ParseTime(updated); err != nil {
			return Route{}, fmt.Errorf("object.updated_at: %w", err)
		}
		r.OrderedBy = "object.updated_at"
	}
	r.Position = fmt.Sprintf("%s|%03d|%s|%s", SortableTime(r.OrderedAt), category.Rank(r.Action), SortableTime(created), e.ID)

	if v := category.View; v != nil {
		parentID := obj.str(v.KeyField)
		if parentID == "" {
			return Route{}, fmt.Errorf("%w: object.%s", ErrNoKey, v.KeyField)
		}
		r.Parent = &ParentRef{
			Category:  v.Category,
			EntityKey: BoundKey(JoinKey(v.Category, parentID)),
			Attribute: v.Attribute,
			EntryID:   BoundKey(obj.first(category.Key[0])),
		}
	}
	return r, nil
}

// boundOptional bounds an optional index key; "" stays "" (absent).
func boundOptional(s string) string {
	if s == "" {
		return ""
	}
	return BoundKey(s)
}
