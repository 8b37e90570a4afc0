package events

import (
	"encoding/json"
	"errors"
	"fmt"
)

// Envelope is the body of one Upvest webhook request: {"payload": [event, ...]}.
// Events are kept as raw JSON so that one bad event never spoils the others.
type Envelope struct {
	Payload []json.RawMessage `json:"payload"`
}

// ErrNotEnvelope means the body is not a JSON object with a "payload" array.
var ErrNotEnvelope = errors.New(`body is not an Upvest envelope {"payload": [...]}`)

// DecodeEnvelope splits a request body into its events' exact bytes. Unknown
// top-level fields are ignored, but "payload" must be present, once, spelt in
// lower case, and be an array, and no top-level name may repeat.
//
// It only finds where each value starts and ends (brackets, strings, literals),
// with no limit on nesting, so that an event nested deeper than encoding/json
// accepts, or with a bad byte inside, is still cut out whole: ParseEvent then
// rejects that one event and the others go through.
func DecodeEnvelope(body []byte) (Envelope, error) {
	s := scanner{b: body, kind: ErrNotEnvelope}
	var (
		payload []json.RawMessage
		found   bool
		seen    = map[string]bool{}
	)
	err := s.object(func(key string) error {
		// Readers disagree on a repeated name (encoding/json takes the last,
		// others the first) and on "Payload" (encoding/json takes it for
		// "payload"): such a body is not an envelope we can read one way.
		if seen[key] {
			return s.fail(fmt.Sprintf("member %q appears twice", upvestTruncate(key)))
		}
		seen[key] = true
		if key != "payload" {
			if _, ok := caseVariant(key, []string{"payload"}); ok {
				return s.fail(fmt.Sprintf("member %q beside or instead of \"payload\" (names are case-sensitive)", upvestTruncate(key)))
			}
			v, err := s.value()
			if err == nil && !json.Valid(v) {
				// Not JSON: the body is not an envelope, and is kept whole.
				return s.fail(fmt.Sprintf("member %q is not valid JSON", upvestTruncate(key)))
			}
			return err
		}
		elems, err := s.array()
		payload, found = elems, true
		return err
	})
	if err != nil {
		return Envelope{}, err
	}
	if !found {
		return Envelope{}, fmt.Errorf("%w: no payload", ErrNotEnvelope)
	}
	return Envelope{Payload: payload}, nil
}

// scanner delimits JSON values without decoding them.
type scanner struct {
	b    []byte
	i    int
	kind error // what its errors wrap
}

func (s *scanner) fail(what string) error {
	return fmt.Errorf("%w: %s at byte %d", s.kind, what, s.i)
}

// object walks the whole input as one object: for each member it decodes the
// name and calls member with s at the value, which member must consume.
func (s *scanner) object(member func(key string) error) error {
	s.space()
	if !s.consume('{') {
		return s.fail("want an object")
	}
	s.space()
	if !s.consume('}') {
		for {
			s.space()
			keyStart := s.i
			if err := s.skipString(); err != nil {
				return err
			}
			key, ok := plainString(s.b[keyStart:s.i])
			if !ok && json.Unmarshal(s.b[keyStart:s.i], &key) != nil {
				return s.fail("bad member name")
			}
			s.space()
			if !s.consume(':') {
				return s.fail("want ':'")
			}
			s.space()
			if err := member(key); err != nil {
				return err
			}
			s.space()
			if s.consume(',') {
				continue
			}
			if s.consume('}') {
				break
			}
			return s.fail("want ',' or '}'")
		}
	}
	s.space()
	if s.i != len(s.b) {
		return s.fail("trailing bytes after the object")
	}
	return nil
}

func (s *scanner) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *scanner) consume(c byte) bool {
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// array returns the exact bytes of each element of the array at s.i.
func (s *scanner) array() ([]json.RawMessage, error) {
	if !s.consume('[') {
		return nil, s.fail(`"payload" is not an array`)
	}
	elems := []json.RawMessage{}
	s.space()
	if s.consume(']') {
		return elems, nil
	}
	for {
		s.space()
		v, err := s.value()
		if err != nil {
			return nil, err
		}
		elems = append(elems, v)
		s.space()
		if s.consume(',') {
			continue
		}
		if s.consume(']') {
			return elems, nil
		}
		return nil, s.fail("want ',' or ']' in payload")
	}
}

// value skips one value and returns its bytes. Containers are matched with an
// explicit stack, so depth costs memory, not recursion.
func (s *scanner) value() (json.RawMessage, error) {
	start := s.i
	var closers []byte
	for {
		if s.i >= len(s.b) {
			return nil, s.fail("unexpected end")
		}
		switch c := s.b[s.i]; {
		case c == '"':
			if err := s.skipString(); err != nil {
				return nil, err
			}
		case c == '{':
			closers = append(closers, '}')
			s.i++
		case c == '[':
			closers = append(closers, ']')
			s.i++
		case c == '}' || c == ']':
			if len(closers) == 0 || closers[len(closers)-1] != c {
				return nil, s.fail("unbalanced brackets")
			}
			closers = closers[:len(closers)-1]
			s.i++
		case c == ',' || c == ':' || c == ' ' || c == '\t' || c == '\n' || c == '\r':
			if len(closers) == 0 {
				return nil, s.fail("want a value")
			}
			s.i++
		case c == '-' || c == '+' || c == '.' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'):
			// Numbers and literals; their exact grammar is the event decoder's business.
			for s.i < len(s.b) && isLiteralByte(s.b[s.i]) {
				s.i++
			}
		default:
			return nil, s.fail(fmt.Sprintf("unexpected byte %#x", c))
		}
		if len(closers) == 0 {
			return s.b[start:s.i], nil
		}
	}
}

func isLiteralByte(c byte) bool {
	return c == '-' || c == '+' || c == '.' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

// skipString skips a string at s.i, escapes included; its content is not checked.
func (s *scanner) skipString() error {
	if !s.consume('"') {
		return s.fail("want a string")
	}
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case '\\':
			s.i += 2
		case '"':
			s.i++
			return nil
		default:
			s.i++
		}
	}
	return s.fail("unterminated string")
}

func upvestTruncate(s string) string { return Truncate(s, 100) }
