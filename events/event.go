// Package events is the Upvest webhook event model: the envelope, the event,
// the catalogue of categories and the one routing table from category to domain.
package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Event is one Upvest event. Raw holds the exact bytes Upvest sent, which is
// what the ledger stores and the queues carry; the typed fields are for routing.
type Event struct {
	ID        string          `json:"id"`
	CreatedAt string          `json:"created_at"`
	Type      string          `json:"type"`
	Object    json.RawMessage `json:"object"`
	WebhookID string          `json:"webhook_id"`
	Raw       json.RawMessage `json:"-"`
}

// IsUUID reports whether s is a canonical textual UUID: 8-4-4-4-12 hex digits
// of either case. (Checked by hand: a regular expression was a tenth of
// ingest's CPU per event.)
func IsUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := range len(s) {
		switch c := s[i]; i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !isHex(c) {
				return false
			}
		}
	}
	return true
}

func isHex(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }

// CompactObject is the object as state rows store it: the same JSON without
// insignificant whitespace (json.Compact keeps key order, numbers and escapes
// as sent). The ledger keeps the exact bytes; a row's size, which DynamoDB
// bills by the kilobyte, then does not depend on how Upvest formats its JSON.
func (e Event) CompactObject() string { return CompactJSON(e.Object) }

// CompactJSON is raw without the whitespace between JSON tokens; raw as it is
// when it is not JSON (Validate refuses such an event before any row is written).
func CompactJSON(raw []byte) string {
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return string(raw)
	}
	return b.String()
}

// Category is the part of the type before the first dot ("ORDER" of "ORDER.FILLED").
func (e Event) Category() string {
	category, _, _ := strings.Cut(e.Type, ".")
	return category
}

// Action is the part of the type after the first dot ("FILLED" of "ORDER.FILLED").
func (e Event) Action() string {
	_, action, _ := strings.Cut(e.Type, ".")
	return action
}

// maxTypeBytes bounds an event type; Upvest's longest is under 50 bytes.
const maxTypeBytes = 256

// ValidType reports whether t is a well-formed, bounded CATEGORY.ACTION type.
func ValidType(t string) bool { return len(t) <= maxTypeBytes && wellFormedType(t) }

// wellFormedType matches ^[A-Z][A-Z0-9_]*\.[A-Z][A-Z0-9_.]*$: a category of
// capitals, digits and underscores that starts with a capital, a dot, and an
// action that starts with a capital and may hold dots too.
func wellFormedType(t string) bool {
	category, action, found := strings.Cut(t, ".")
	if !found || category == "" || action == "" || !isUpper(category[0]) || !isUpper(action[0]) {
		return false
	}
	for i := range len(category) {
		if c := category[i]; !isUpper(c) && !isDigit(c) && c != '_' {
			return false
		}
	}
	for i := range len(action) {
		if c := action[i]; !isUpper(c) && !isDigit(c) && c != '_' && c != '.' {
			return false
		}
	}
	return true
}

func isUpper(c byte) bool { return 'A' <= c && c <= 'Z' }
func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// Validate checks the envelope fields every event must have. The error text is
// the reason stored with a parked event, so it names the field.
func (e Event) Validate() error {
	switch {
	case e.ID == "":
		return errors.New("missing id")
	case !IsUUID(e.ID):
		return fmt.Errorf("id %q is not a uuid", e.ID)
	case e.CreatedAt == "":
		return errors.New("missing created_at")
	case e.Type == "":
		return errors.New("missing type")
	case len(e.Type) > maxTypeBytes:
		return fmt.Errorf("type is %d bytes long, more than %d", len(e.Type), maxTypeBytes)
	case !wellFormedType(e.Type):
		return fmt.Errorf("type %q is not CATEGORY.ACTION", e.Type)
	case e.WebhookID == "":
		return errors.New("missing webhook_id")
	}
	if _, err := ParseTime(e.CreatedAt); err != nil {
		return fmt.Errorf("created_at: %w", err)
	}
	trimmed := bytes.TrimSpace(e.Object)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return errors.New("object is missing or not a JSON object")
	}
	return nil
}

// ParseTime parses an RFC 3339 timestamp with any number of fractional digits.
// Its UTC year must lie in 0000..9999 (an offset can push "9999-12-31T23:00:00-02:00"
// out), so that SortableTime stays fixed-width and string order stays time order.
//
// RFC 3339 also allows a lower-case "t" and "z" and a leap second (second
// 60), which time.Parse refuses: the letters are read as upper case, and a
// leap second as the last nanosecond of its minute's second 59, which keeps
// it after every earlier instant and before the next minute.
func ParseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, canonicalRFC3339(s))
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not an RFC 3339 timestamp", s)
	}
	if leapSecond(s) {
		t = t.Add(time.Second - time.Nanosecond - time.Duration(t.Nanosecond()))
	}
	t = t.UTC()
	if year := t.Year(); year < 0 || year > 9999 {
		return time.Time{}, fmt.Errorf("%q is outside years 0000..9999 in UTC", s)
	}
	return t, nil
}

// SortableTime formats t so that string order equals time order (fixed width, UTC, nanoseconds).
func SortableTime(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000000000Z")
}

// canonicalRFC3339 upper-cases the "t" and "z" RFC 3339 allows in lower case,
// and turns a leap second's "60" into "59" (ParseTime then moves it on).
func canonicalRFC3339(s string) string {
	if len(s) < len("2006-01-02T15:04:05Z") {
		return s
	}
	b := []byte(s)
	if b[10] == 't' {
		b[10] = 'T'
	}
	if b[len(b)-1] == 'z' {
		b[len(b)-1] = 'Z'
	}
	if leapSecond(s) {
		b[17], b[18] = '5', '9'
	}
	return string(b)
}

// leapSecond reports whether s's seconds are "60".
func leapSecond(s string) bool {
	return len(s) >= len("2006-01-02T15:04:05Z") && s[16] == ':' && s[17] == '6' && s[18] == '0'
}
