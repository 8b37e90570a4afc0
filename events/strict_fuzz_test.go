package events

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// The envelope scanner against encoding/json: when both read a body, they
// read the same events, byte for byte; when only the scanner does, an event
// that encoding/json cannot read is among them and is parked by ParseEvent
// (kept as unusable); when the scanner refuses, ingest keeps the body whole.
func FuzzEnvelopeAgainstEncodingJSON(f *testing.F) {
	for _, seed := range []string{
		`{"payload":[` + string(ev(nil)) + `]}`,
		`{"payload":[{"a":1}],"payload":[]}`,
		`{"Payload":[{"a":1}]}`,
		`{"payload":[],"PAYLOAD":[1]}`,
		`{"x":tru,"payload":[]}`,
		`{"payload":[tru]}`,
		`{"payload":[1, {"b":[2]} ,"s"]}`,
		`{"payload":null}`,
		"{\"p\\u0061yload\":[1]}",
		`{"payload":[{"id":"a","ID":"b"}]}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		env, err := DecodeEnvelope(body)
		if err != nil {
			return // kept whole as a request record
		}
		var std struct {
			Payload []json.RawMessage `json:"payload"`
		}
		if stdErr := json.Unmarshal(body, &std); stdErr != nil {
			for _, raw := range env.Payload {
				if !json.Valid(raw) {
					if _, err := ParseEvent(raw); err == nil {
						t.Fatalf("event %q is not JSON, yet ParseEvent reads it", raw)
					}
					return // that event is parked; the others go through
				}
			}
			t.Fatalf("DecodeEnvelope read %q, encoding/json refuses it (%v), and no event explains why", body, stdErr)
		}
		if len(std.Payload) != len(env.Payload) {
			t.Fatalf("%q: scanner reads %d events, encoding/json %d", body, len(env.Payload), len(std.Payload))
		}
		for i := range std.Payload {
			if !bytes.Equal(std.Payload[i], env.Payload[i]) {
				t.Fatalf("%q: event %d is %q to the scanner, %q to encoding/json", body, i, env.Payload[i], std.Payload[i])
			}
		}
	})
}

// ParseEvent against encoding/json on one event: whenever ParseEvent reads
// an event, encoding/json reads the same id, type and created_at (up to the
// id's case), because every name that encoding/json could match another way
// is refused.
func FuzzParseEventAgainstEncodingJSON(f *testing.F) {
	f.Add(ev(nil))
	f.Add([]byte(`{"id":"a","ID":"b","type":"ORDER.NEW","Type":"POSITION.UPDATED"}`))
	f.Add([]byte(`{"id":"a","id":"b"}`))
	f.Add([]byte(`{"object":{"id":"x","Id":"y"},"type":"ORDER.NEW"}`))
	f.Add([]byte("{\"\\u0069d\":\"a\",\"id\":\"b\"}"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		e, err := ParseEvent(raw)
		if err != nil {
			return
		}
		var std struct{ ID, CreatedAt, Type, WebhookID string }
		var fields struct {
			ID        string `json:"id"`
			CreatedAt string `json:"created_at"`
			Type      string `json:"type"`
			WebhookID string `json:"webhook_id"`
		}
		if err := json.Unmarshal(raw, &fields); err != nil {
			t.Fatalf("ParseEvent reads %q, encoding/json refuses it: %v", raw, err)
		}
		std = struct{ ID, CreatedAt, Type, WebhookID string }(fields)
		if IsUUID(std.ID) {
			std.ID = strings.ToLower(std.ID)
		}
		if std.ID != e.ID || std.CreatedAt != e.CreatedAt || std.Type != e.Type || std.WebhookID != e.WebhookID {
			t.Fatalf("%q: ParseEvent reads %+v, encoding/json %+v", raw, e, std)
		}
	})
}

// splitParts cuts fuzz input into a list of parts at NUL bytes.
func splitParts(b []byte) []string { return strings.Split(string(b), "\x00") }

// Entity-key encoding is injective: two different part lists never give one
// key, SplitKey undoes JoinKey, and parts without "#" or "%" join as before.
func FuzzEntityKeyInjective(f *testing.F) {
	f.Add([]byte("POSITION\x00X#B\x00C"), []byte("POSITION\x00X\x00B#C"))
	f.Add([]byte("POSITION\x00X%23B\x00C"), []byte("POSITION\x00X#B\x00C"))
	f.Add([]byte("CASH_BALANCE\x00g\x00EUR"), []byte("CASH_BALANCE\x00g#EUR"))
	f.Add([]byte("A\x00%"), []byte("A\x00%25"))
	f.Fuzz(func(t *testing.T, a, b []byte) {
		pa, pb := splitParts(a), splitParts(b)
		ka, kb := JoinKey(pa...), JoinKey(pb...)
		if ka == kb && !slices.Equal(pa, pb) {
			t.Fatalf("parts %q and %q both give key %q", pa, pb, ka)
		}
		back, ok := SplitKey(ka)
		if !ok || !slices.Equal(back, pa) {
			t.Fatalf("SplitKey(JoinKey(%q)) = %q, %v", pa, back, ok)
		}
		if !strings.ContainsAny(string(a), "#%") && ka != strings.Join(pa, "#") {
			t.Fatalf("parts %q without separator or escape give %q, not the old key", pa, ka)
		}
		// The same through Classify: two POSITIONs with different
		// (account, instrument) never share a row.
		if len(pa) == 2 && len(pb) == 2 && !slices.Equal(pa, pb) && utf8.Valid(a) && utf8.Valid(b) {
			_, ra, errA := ClassifyRaw(positionEvent(pa[0], pa[1]))
			_, rb, errB := ClassifyRaw(positionEvent(pb[0], pb[1]))
			if errA == nil && errB == nil && ra.EntityKey == rb.EntityKey {
				t.Fatalf("positions %q and %q share the row %q", pa, pb, ra.EntityKey)
			}
		}
	})
}

// positionEvent is a POSITION.UPDATED of account and instrument.
func positionEvent(account, instrument string) []byte {
	obj, _ := json.Marshal(map[string]any{"account_id": account, "instrument": map[string]string{"uuid": instrument}})
	return []byte(`{"id":"` + validID + `","created_at":"2024-01-02T03:04:05Z","type":"POSITION.UPDATED","object":` + string(obj) + `,"webhook_id":"w"}`)
}
