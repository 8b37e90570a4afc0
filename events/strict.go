package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// The project reads JSON one way only, as the rest of the world does: member
// names are case-sensitive, and a name repeated in one object has no single
// meaning (encoding/json takes the last, other readers the first). Such an
// event is parked with a reason rather than read one way here and another way
// by whoever reads the stored bytes later.

// eventFields are the envelope fields of an event.
var eventFields = [...]string{"id", "created_at", "type", "object", "webhook_id"}

// ErrAmbiguous means an event can be read in more than one way: a member name
// repeated in one object, or a known field spelt in another case.
var ErrAmbiguous = errors.New("event is ambiguous")

// ParseEvent decodes one event case-sensitively (unknown fields are ignored,
// Raw keeps them). It fails when the bytes are not a JSON object, when a
// member name repeats in any object of the event, when an envelope field is
// spelt in another case ("ID", "Type") or is not a string; Validate checks the
// rest. A UUID id is lower-cased, so that its spellings dedupe as one event.
func ParseEvent(raw json.RawMessage) (Event, error) {
	trimmed := bytes.Trim(raw, " \t\r\n") // JSON's whitespace, no other
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return Event{Raw: raw}, errors.New("event is not a JSON object")
	}
	if !json.Valid(trimmed) {
		var v any
		err := json.Unmarshal(trimmed, &v) // only for its reason
		return Event{Raw: raw}, fmt.Errorf("event is not valid JSON: %w", err)
	}
	if name, ok := repeatedName(trimmed); ok {
		return Event{Raw: raw}, fmt.Errorf("%w: member name %q appears twice in one object", ErrAmbiguous, Truncate(name, 100))
	}
	e := Event{Raw: raw}
	s := scanner{b: trimmed, kind: errNotObject}
	err := s.object(func(key string) error {
		v, err := s.value()
		if err != nil {
			return err
		}
		return e.set(key, v)
	})
	if err != nil {
		return Event{Raw: raw}, err
	}
	if IsUUID(e.ID) {
		e.ID = strings.ToLower(e.ID)
	}
	return e, nil
}

// set stores one envelope member of an event.
func (e *Event) set(key string, v json.RawMessage) error {
	var field *string
	switch key {
	case "id":
		field = &e.ID
	case "created_at":
		field = &e.CreatedAt
	case "type":
		field = &e.Type
	case "webhook_id":
		field = &e.WebhookID
	case "object":
		e.Object = v
		return nil
	default:
		if known, ok := caseVariant(key, eventFields[:]); ok {
			return fmt.Errorf("%w: field %q beside or instead of %q (names are case-sensitive)", ErrAmbiguous, Truncate(key, 100), known)
		}
		return nil
	}
	if string(v) == "null" {
		return nil // as absent, as encoding/json leaves it
	}
	if s, ok := plainString(v); ok {
		*field = s
		return nil
	}
	if err := json.Unmarshal(v, field); err != nil {
		return fmt.Errorf("event is not valid JSON: field %q is not a string", key)
	}
	return nil
}

// caseVariant returns the known name that key spells in another case.
func caseVariant(key string, known []string) (string, bool) {
	for _, k := range known {
		if key != k && strings.EqualFold(key, k) {
			return k, true
		}
	}
	return "", false
}

// checkNames refuses an object that spells a field it is read by (a dotted
// path) in another case too, at any level of the path.
func checkNames(o object, paths []string) error {
	for _, path := range paths {
		for _, alt := range strings.Split(path, "|") {
			head, rest, nested := strings.Cut(alt, ".")
			for key := range o {
				if key != head && strings.EqualFold(key, head) {
					return fmt.Errorf("%w: object field %q beside or instead of %q (names are case-sensitive)", ErrAmbiguous, Truncate(key, 100), head)
				}
			}
			if raw, ok := o[head]; nested && ok {
				if inner, err := decodeObject(raw); err == nil {
					if err := checkNames(inner, []string{rest}); err != nil {
						return err
					}
				}
			}
		}
	}
	return nil
}

// repeatedName returns a member name that appears twice in one object, at
// any depth, of valid JSON b. Containers are tracked with an explicit stack,
// so depth costs memory, not recursion.
func repeatedName(b []byte) (string, bool) {
	type level struct {
		names   map[string]struct{} // nil for an array
		wantKey bool
	}
	var stack []level
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '{':
			stack = append(stack, level{names: map[string]struct{}{}, wantKey: true})
		case '[':
			stack = append(stack, level{})
		case '}', ']':
			stack = stack[:len(stack)-1]
		case ',':
			if top := len(stack) - 1; top >= 0 && stack[top].names != nil {
				stack[top].wantKey = true
			}
		case '"':
			start := i
			for i++; i < len(b) && b[i] != '"'; i++ {
				if b[i] == '\\' {
					i++
				}
			}
			top := len(stack) - 1
			if top < 0 || !stack[top].wantKey {
				continue
			}
			stack[top].wantKey = false
			name, ok := plainString(b[start : i+1])
			if !ok && json.Unmarshal(b[start:i+1], &name) != nil {
				continue // valid JSON: cannot happen
			}
			if _, seen := stack[top].names[name]; seen {
				return name, true
			}
			stack[top].names[name] = struct{}{}
		}
	}
	return "", false
}
