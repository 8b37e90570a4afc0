package events

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// KeySpec lists the object fields that identify an entity, in key order. A
// field is a dotted path ("instrument.uuid"); "a|b" takes a, or b when a is absent.
type KeySpec []string

// ParentView makes a category also maintain a view on a parent entity: each
// EXECUTION is kept, newest wins per execution, inside its ORDER row.
type ParentView struct {
	Category  string // the parent's category, e.g. "ORDER"
	KeyField  string // the field of this object naming the parent, e.g. "order_id"
	Attribute string // the parent row's map attribute holding the view
}

// Category is one line of the routing table.
type Category struct {
	Name     string
	Domain   Domain
	Types    []string // known actions, in lifecycle order
	Model    StateModel
	Key      KeySpec            // default: {"id"}
	TypeKeys map[string]KeySpec // per-action key overrides (USER.DATA_CHANGE_FAILED: user_id)
	View     *ParentView
}

func latest(name string, d Domain, types string) Category {
	return Category{Name: name, Domain: d, Types: strings.Fields(types), Model: LatestWins, Key: KeySpec{"id"}}
}

func appendOnly(name string, d Domain, types string) Category {
	c := latest(name, d, types)
	c.Model = AppendOnly
	return c
}

func (c Category) keyedBy(fields ...string) Category {
	c.Key = fields
	return c
}

func (c Category) keyForType(action string, fields ...string) Category {
	if c.TypeKeys == nil {
		c.TypeKeys = map[string]KeySpec{}
	}
	c.TypeKeys[action] = fields
	return c
}

func (c Category) viewOn(parent, keyField, attribute string) Category {
	c.View = &ParentView{Category: parent, KeyField: keyField, Attribute: attribute}
	return c
}

// Rank is the action's place in the lifecycle (1-based); 0 for an action the
// catalogue does not list. It only breaks ties between equal ordering timestamps.
func (c Category) Rank(action string) int {
	for i, t := range c.Types {
		if t == action {
			return i + 1
		}
	}
	return 0
}

// object is an event's object decoded one level deep, for key and field lookups.
type object map[string]json.RawMessage

// decodeObject cuts an object into its members, each the exact bytes of its
// value, as decoding into a map[string]json.RawMessage gives them (the last
// of a repeated name wins). The envelope's scanner does it in one pass once
// json.Valid has passed: half the CPU of that decoding, which was the larger
// part of ingest's work per event.
func decodeObject(raw json.RawMessage) (object, error) {
	if !json.Valid(raw) {
		return nil, errors.New("object is not a JSON object: not valid JSON")
	}
	o := object{}
	s := scanner{b: raw, kind: errNotObject}
	err := s.object(func(key string) error {
		v, err := s.value()
		o[key] = v
		return err
	})
	if err != nil {
		return nil, err
	}
	return o, nil
}

var errNotObject = errors.New("object is not a JSON object")

// str returns the string at a dotted path, or "" when it is absent, null or not a string.
func (o object) str(path string) string {
	head, rest, nested := strings.Cut(path, ".")
	raw, ok := o[head]
	if !ok {
		return ""
	}
	if nested {
		inner, err := decodeObject(raw)
		if err != nil {
			return ""
		}
		return inner.str(rest)
	}
	if s, ok := plainString(raw); ok {
		return s
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return ""
	}
	return s
}

// plainString reads a JSON string with nothing to unescape or replace (no
// backslash, no control character, valid UTF-8) straight from its bytes, as
// json.Unmarshal would; ok is false for anything else, which then goes
// through json.Unmarshal. Nearly every id and status is such a string.
func plainString(raw json.RawMessage) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return "", false
	}
	inner := raw[1 : len(raw)-1]
	for _, c := range inner {
		if c < 0x20 || c == '"' || c == '\\' {
			return "", false
		}
	}
	if !utf8.Valid(inner) {
		return "", false
	}
	return string(inner), true
}

// first returns the first non-empty value of "a|b|..." alternatives.
func (o object) first(alternatives string) string {
	for _, path := range strings.Split(alternatives, "|") {
		if v := o.str(path); v != "" {
			return v
		}
	}
	return ""
}

// ErrNoKey means the object lacks a field its category's key needs.
var ErrNoKey = errors.New("entity key field missing")

// entityKey builds "<prefix>#<part>#<part>..." from the object, each part
// escaped by KeyPart.
func entityKey(prefix string, spec KeySpec, o object) (string, error) {
	parts := []string{prefix}
	for _, field := range spec {
		v := o.first(field)
		if v == "" {
			return "", fmt.Errorf("%w: object.%s", ErrNoKey, field)
		}
		parts = append(parts, v)
	}
	return JoinKey(parts...), nil
}

// keyEscaper escapes the separator and the escape character of key parts.
var keyEscaper = strings.NewReplacer("%", "%25", "#", "%23")

// KeyPart escapes one part of a composite key: "%" becomes "%25" and "#"
// becomes "%23", so that no part holds the separator and joined part lists
// never meet (account "X#B" with instrument "C" is "X%23B#C", account "X"
// with instrument "B#C" is "X#B%23C"). A part without either character is
// unchanged, so the keys of existing rows stay as they were.
func KeyPart(s string) string {
	if !strings.ContainsAny(s, "%#") {
		return s
	}
	return keyEscaper.Replace(s)
}

// JoinKey joins escaped parts with "#"; SplitKey undoes it.
func JoinKey(parts ...string) string {
	escaped := make([]string, len(parts))
	for i, p := range parts {
		escaped[i] = KeyPart(p)
	}
	return strings.Join(escaped, "#")
}

// SplitKey returns the parts JoinKey joined, and false when key is not such
// a join (a "%" not followed by "25" or "23").
func SplitKey(key string) ([]string, bool) {
	parts := strings.Split(key, "#")
	for i, p := range parts {
		if !strings.Contains(p, "%") {
			continue
		}
		var b strings.Builder
		for j := 0; j < len(p); j++ {
			if p[j] != '%' {
				b.WriteByte(p[j])
				continue
			}
			switch {
			case strings.HasPrefix(p[j:], "%25"):
				b.WriteByte('%')
			case strings.HasPrefix(p[j:], "%23"):
				b.WriteByte('#')
			default:
				return nil, false
			}
			j += 2
		}
		parts[i] = b.String()
	}
	return parts, true
}

// readFields lists the object fields Classify reads for this category.
func (c Category) readFields() []string {
	fields := []string{"id", "status", "updated_at", "user_id", "account_id", "account_group_id"}
	fields = append(fields, c.Key...)
	for _, spec := range c.TypeKeys {
		fields = append(fields, spec...)
	}
	if c.View != nil {
		fields = append(fields, c.View.KeyField)
	}
	return fields
}
