package events

import (
	"encoding/json"
	"regexp"
	"testing"
)

// The hand-written checks accept exactly what these expressions match.
var (
	uuidOracle = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	typeOracle = regexp.MustCompile(`^[A-Z][A-Z0-9_]*\.[A-Z][A-Z0-9_.]*$`)
)

var uuidCases = []string{
	"", "56510309-d9de-4730-9b5b-4a0ed047f3a9", "56510309-D9DE-4730-9B5B-4A0ED047F3A9",
	"56510309-d9de-4730-9b5b-4a0ed047f3a", "56510309-d9de-4730-9b5b-4a0ed047f3a99",
	"56510309d9de-4730-9b5b-4a0ed047f3a9-", "5651030g-d9de-4730-9b5b-4a0ed047f3a9",
	"56510309-d9de-4730-9b5b_4a0ed047f3a9", "{6510309-d9de-4730-9b5b-4a0ed047f3a9",
	"56510309-d9de-4730-9b5b-4a0ed047f3a\n", "ÿ6510309-d9de-4730-9b5b-4a0ed047f3a",
}

var typeCases = []string{
	"", "ORDER.FILLED", "ORDER", "ORDER.", ".FILLED", "order.FILLED", "ORDER.filled",
	"ORDER_CANCELLATION.REJECTED", "A.B", "A1_.B2_.C", "A.B.C", "A..B", "A.B..", "A.1B", "1A.B",
	"_A.B", "A._B", "A.B ", " A.B", "A-B.C", "A.B-C", "A.BÉ", "ORDER.FILLED\n",
}

func TestIsUUIDMatchesTheExpression(t *testing.T) {
	for _, s := range uuidCases {
		if got, want := IsUUID(s), uuidOracle.MatchString(s); got != want {
			t.Errorf("IsUUID(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestWellFormedTypeMatchesTheExpression(t *testing.T) {
	for _, s := range typeCases {
		if got, want := wellFormedType(s), typeOracle.MatchString(s); got != want {
			t.Errorf("wellFormedType(%q) = %v, want %v", s, got, want)
		}
	}
}

func FuzzValidatorsMatchTheExpressions(f *testing.F) {
	for _, s := range append(append([]string{}, uuidCases...), typeCases...) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if IsUUID(s) != uuidOracle.MatchString(s) {
			t.Errorf("IsUUID(%q) = %v", s, IsUUID(s))
		}
		if wellFormedType(s) != typeOracle.MatchString(s) {
			t.Errorf("wellFormedType(%q) = %v", s, wellFormedType(s))
		}
	})
}

var stringCases = []string{
	`"abc"`, `""`, `"a\"b"`, `"a\\b"`, `"\u00e9"`, `"é"`, "\"a\x01b\"", "\"\xff\"", `"a`, `a"`, `"`, `null`, `12`,
	`"with "quote"`, `"tab	in"`,
}

// plainString takes a short cut only where json.Unmarshal gives the same string.
func TestPlainStringAgreesWithUnmarshal(t *testing.T) {
	fastPaths := 0
	for _, raw := range stringCases {
		if plainStringAgrees(t, raw) {
			fastPaths++
		}
	}
	if fastPaths < 3 {
		t.Errorf("only %d of the cases took the short cut", fastPaths)
	}
}

func FuzzPlainStringAgreesWithUnmarshal(f *testing.F) {
	for _, s := range stringCases {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) { plainStringAgrees(t, raw) })
}

func plainStringAgrees(t *testing.T, raw string) bool {
	t.Helper()
	got, ok := plainString(json.RawMessage(raw))
	if !ok {
		return false
	}
	var want string
	if err := json.Unmarshal([]byte(raw), &want); err != nil || got != want {
		t.Errorf("plainString(%q) = %q; json.Unmarshal gives %q, %v", raw, got, want, err)
	}
	return true
}

var objectCases = []string{
	`{}`, ` { "a" : 1 , "b":[1,{"c":"}"}],"d":{"e":null} } `, `{"a":1,"a":2}`, `{"\u0069d":"x"}`, `{"a\"b":true}`,
	`{"a":"\u00e9\n"}`, `[]`, `null`, `{"a":}`, `{"a":1,}`, `{"a" 1}`, `{"a":1}x`, `{`, `"s"`, "{\"\xff\":1}",
	`{"id":"8962b496-8d42-4560-bfab-10490dd1a721","status":"NEW","instrument":{"uuid":"u","isin":"US0378331005"}}`,
}

// decodeObject gives each member's exact bytes, as decoding into a map of raw
// messages does, and refuses what that decoding refuses (null aside, which no
// caller passes: an event's object must start with '{').
func TestDecodeObjectAgreesWithUnmarshal(t *testing.T) {
	for _, raw := range objectCases {
		decodeObjectAgrees(t, raw)
	}
}

func FuzzDecodeObjectAgreesWithUnmarshal(f *testing.F) {
	for _, s := range objectCases {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) { decodeObjectAgrees(t, raw) })
}

func decodeObjectAgrees(t *testing.T, raw string) {
	t.Helper()
	var want map[string]json.RawMessage
	wantErr := json.Unmarshal([]byte(raw), &want)
	got, err := decodeObject(json.RawMessage(raw))
	if wantErr == nil && want == nil { // JSON null: a nil map without error
		if err == nil {
			t.Errorf("decodeObject(%q) accepted null", raw)
		}
		return
	}
	if (err != nil) != (wantErr != nil) {
		t.Fatalf("decodeObject(%q): error %v, json.Unmarshal: %v", raw, err, wantErr)
	}
	if len(got) != len(want) {
		t.Fatalf("decodeObject(%q) = %q, want %q", raw, got, want)
	}
	for k, v := range want {
		if string(got[k]) != string(v) {
			t.Errorf("decodeObject(%q)[%q] = %q, want %q", raw, k, got[k], v)
		}
	}
}
