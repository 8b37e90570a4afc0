package events

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestDecodeEnvelope(t *testing.T) {
	tests := []struct {
		body    string
		events  int
		invalid bool
	}{
		{`{"payload":[{"id":"a"},{"id":"b"}]}`, 2, false},
		{`{"payload":[],"extra":1}`, 0, false},
		{` {"payload" : [ 1, "x" ]} `, 2, false}, // bad events are the event's problem, not the envelope's
		{`{"payload":{}}`, 0, true},
		{`{"payload":null}`, 0, true},
		{`{}`, 0, true},
		{`[]`, 0, true},
		{`not json`, 0, true},
		{``, 0, true},
		{"\xef\xbb\xbf{\"payload\":[]}", 0, true}, // a byte-order mark
		{`{"payload":[]} x`, 0, true},             // trailing bytes
		{`{"payload":[]}{"payload":[]}`, 0, true}, // two bodies
		{`{"payload":[{"a":1},]}`, 0, true},       // trailing comma
		{`{"payload":[{"a":"\"]"}, {"b":[1,{"c":2}]}]}`, 2, false},
		{"{\"payload\":[{\"a\":\"\xff\xfe\"}]}", 1, false},   // invalid UTF-8 is the event's problem
		{`{"payload":[{"a":1}],"payload":[1,2,3]}`, 0, true}, // readers disagree on which payload counts
		{`{"payload":[{"a":1}],"Payload":[1,2,3]}`, 0, true}, // encoding/json would read Payload as payload
		{`{"x":1,"payload":[],"x":2}`, 0, true},              // any repeated name
		{`{"payload":[{"a":1,"a":2}]}`, 1, false},            // the event's own names are ParseEvent's business
		{`{"payload":[{"a":1]}]}`, 0, true},                  // unbalanced
		{`{"payload":[{"a":"open}]}`, 0, true},               // unterminated string
		{`{"payload":[` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `,{"id":"x"}]}`, 2, false},
	}
	for _, tt := range tests {
		env, err := DecodeEnvelope([]byte(tt.body))
		if tt.invalid {
			if !errors.Is(err, ErrNotEnvelope) {
				t.Errorf("%q: err = %v, want ErrNotEnvelope", tt.body, err)
			}
			continue
		}
		if err != nil || len(env.Payload) != tt.events {
			t.Errorf("%q: %d events, err %v; want %d", tt.body, len(env.Payload), err, tt.events)
		}
	}
}

const validID = "8962b496-8d42-4560-bfab-10490dd1a721"

func ev(fields map[string]string) []byte {
	base := map[string]string{
		"id": `"` + validID + `"`, "created_at": `"2023-08-19T13:06:57.820371Z"`, "type": `"ORDER.NEW"`,
		"object": `{"id":"o-1","status":"NEW","user_id":"u-1","account_id":"a-1"}`, "webhook_id": `"w"`,
	}
	for k, v := range fields {
		if v == "" {
			delete(base, k)
		} else {
			base[k] = v
		}
	}
	parts := []string{}
	for k, v := range base {
		parts = append(parts, fmt.Sprintf("%q:%s", k, v))
	}
	return []byte("{" + strings.Join(parts, ",") + "}")
}

func TestClassifyRejectsInvalidEvents(t *testing.T) {
	tests := []struct {
		name   string
		fields map[string]string
		reason string
	}{
		{"missing id", map[string]string{"id": ""}, "missing id"},
		{"id not uuid", map[string]string{"id": `"123"`}, "not a uuid"},
		{"missing created_at", map[string]string{"created_at": ""}, "missing created_at"},
		{"bad created_at", map[string]string{"created_at": `"yesterday"`}, "created_at"},
		{"missing type", map[string]string{"type": ""}, "missing type"},
		{"type without action", map[string]string{"type": `"ORDER"`}, "CATEGORY.ACTION"},
		{"missing webhook_id", map[string]string{"webhook_id": ""}, "webhook_id"},
		{"missing object", map[string]string{"object": ""}, "object"},
		{"object not an object", map[string]string{"object": `"x"`}, "object"},
		{"known category without its key", map[string]string{"object": `{"status":"NEW"}`}, "object.id"},
		{"bad updated_at", map[string]string{"object": `{"id":"o","updated_at":"soon"}`}, "updated_at"},
		{"execution without order", map[string]string{"type": `"EXECUTION.FILLED"`, "object": `{"id":"x"}`}, "object.order_id"},
		{"position without instrument", map[string]string{"type": `"POSITION.UPDATED"`, "object": `{"account_id":"a"}`}, "instrument"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := ParseEvent(ev(tt.fields))
			if err != nil {
				t.Fatal(err)
			}
			_, err = Classify(e)
			if err == nil || !strings.Contains(err.Error(), tt.reason) {
				t.Errorf("err = %v, want a reason containing %q", err, tt.reason)
			}
		})
	}
}

func TestParseEventRejectsNonObjects(t *testing.T) {
	for _, raw := range []string{`1`, `"x"`, `[]`, `{"id":`, ``} {
		if _, err := ParseEvent([]byte(raw)); err == nil {
			t.Errorf("%q parsed as an event", raw)
		}
	}
}

func TestClassifyRoutes(t *testing.T) {
	tests := []struct {
		name      string
		fields    map[string]string
		domain    Domain
		known     bool
		entityKey string
	}{
		{"order", nil, Orders, true, "ORDER#o-1"},
		{"unknown category keeps object id", map[string]string{"type": `"MANDATE_V2.CREATED"`, "object": `{"id":"m-1"}`}, Unrouted, false, "MANDATE_V2#m-1"},
		{"unknown category without id keyed by event", map[string]string{"type": `"NEWTHING.HAPPENED"`, "object": `{}`}, Unrouted, false, "NEWTHING#event:" + validID},
		{"new type of a known category", map[string]string{"type": `"ORDER.EXPIRED"`}, Orders, true, "ORDER#o-1"},
		{"user data change failed keyed by user", map[string]string{"type": `"USER.DATA_CHANGE_FAILED"`, "object": `{"user_id":"u-9"}`}, Users, true, "USER.DATA_CHANGE_FAILED#u-9"},
		{"cash balance composite", map[string]string{"type": `"CASH_BALANCE.UPDATED"`, "object": `{"account_group_id":"g","currency":"EUR"}`}, Holdings, true, "CASH_BALANCE#g#EUR"},
		{"position by isin when no uuid", map[string]string{"type": `"POSITION.UPDATED"`, "object": `{"account_id":"a","instrument":{"isin":"US0378331005"}}`}, Holdings, true, "POSITION#a#US0378331005"},
		{"account returns by date", map[string]string{"type": `"ACCOUNT_RETURNS.CREATED"`, "object": `{"account_id":"a","date":"2024-01-01"}`}, Reports, true, "ACCOUNT_RETURNS#a#2024-01-01"},
		{"order cancellation by order", map[string]string{"type": `"ORDER_CANCELLATION.REJECTED"`, "object": `{"order_id":"o-7"}`}, Orders, true, "ORDER_CANCELLATION#o-7"},
		{"mandate routed to payments", map[string]string{"type": `"MANDATE.CREATED"`, "object": `{"id":"m"}`}, Payments, true, "MANDATE#m"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := ParseEvent(ev(tt.fields))
			if err != nil {
				t.Fatal(err)
			}
			r, err := Classify(e)
			if err != nil {
				t.Fatal(err)
			}
			if r.Domain != tt.domain || r.Known != tt.known || r.EntityKey != tt.entityKey {
				t.Errorf("got domain %s known %v key %s; want %s %v %s", r.Domain, r.Known, r.EntityKey, tt.domain, tt.known, tt.entityKey)
			}
		})
	}
}

// TestPositionOrdersEvents: updated_at first, then lifecycle rank, then the
// event's created_at, then its id.
func TestPositionOrdersEvents(t *testing.T) {
	position := func(typ, updatedAt, createdAt, id string) string {
		obj := `{"id":"o-1","order_id":"o-0"}`
		if updatedAt != "" {
			obj = fmt.Sprintf(`{"id":"o-1","order_id":"o-0","updated_at":%q}`, updatedAt)
		}
		e, err := ParseEvent(ev(map[string]string{"type": `"` + typ + `"`, "object": obj, "created_at": `"` + createdAt + `"`, "id": `"` + id + `"`}))
		if err != nil {
			t.Fatal(err)
		}
		r, err := Classify(e)
		if err != nil {
			t.Fatal(err)
		}
		return r.Position
	}
	const id2 = "9962b496-8d42-4560-bfab-10490dd1a721"
	older := []struct{ name, a, b string }{
		{"updated_at decides over rank",
			position("ORDER.FILLED", "2024-01-01T00:00:00Z", "2024-01-01T00:00:00Z", validID),
			position("ORDER.NEW", "2024-01-01T00:00:00.5Z", "2024-01-01T00:00:00Z", validID)},
		{"fractional digits compare as time",
			position("ORDER.NEW", "2024-01-01T00:00:00.9Z", "2024-01-01T00:00:00Z", validID),
			position("ORDER.NEW", "2024-01-01T00:00:01Z", "2024-01-01T00:00:00Z", validID)},
		{"time zones compare as time",
			position("ORDER.NEW", "2024-01-01T01:30:00+02:00", "2024-01-01T00:00:00Z", validID),
			position("ORDER.NEW", "2024-01-01T00:00:00Z", "2024-01-01T00:00:00Z", validID)},
		{"equal updated_at: lifecycle rank",
			position("ORDER.PROCESSING", "2024-01-01T00:00:00Z", "2024-01-01T00:00:00Z", id2),
			position("ORDER.FILLED", "2024-01-01T00:00:00Z", "2024-01-01T00:00:00Z", validID)},
		{"no updated_at: created_at",
			position("EXECUTION.FILLED", "", "2024-01-01T00:00:00Z", validID),
			position("EXECUTION.FILLED", "", "2024-01-02T00:00:00Z", validID)},
		{"all equal: event id",
			position("ORDER.NEW", "2024-01-01T00:00:00Z", "2024-01-01T00:00:00Z", validID),
			position("ORDER.NEW", "2024-01-01T00:00:00Z", "2024-01-01T00:00:00Z", id2)},
	}
	for _, tt := range older {
		if !(tt.a < tt.b) {
			t.Errorf("%s: %s should sort before %s", tt.name, tt.a, tt.b)
		}
	}
}

func TestDomainsDerivedFromTable(t *testing.T) {
	got := fmt.Sprint(Domains())
	want := "[accounts corporate_actions fees_taxes holdings instruments orders payments portfolios reports transactions transfers unrouted users]"
	if got != want {
		t.Errorf("Domains() = %s, want %s", got, want)
	}
	for _, d := range Domains() {
		if parsed, ok := ParseDomain(string(d)); !ok || parsed != d {
			t.Errorf("ParseDomain(%s) = %s, %v", d, parsed, ok)
		}
	}
	if _, ok := ParseDomain("nope"); ok {
		t.Error("ParseDomain accepted an unknown domain")
	}
}

func TestRoutingTableListsEachCategoryOnce(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range Categories() {
		if seen[c.Name] {
			t.Errorf("category %s is listed twice in the routing table", c.Name)
		}
		seen[c.Name] = true
		if c.Domain == "" || c.Domain == Unrouted || len(c.Key) == 0 || c.Model == "" {
			t.Errorf("category %s: incomplete line %+v", c.Name, c)
		}
	}
}

func TestCompactObjectDropsOnlyTheWhitespaceBetweenTokens(t *testing.T) {
	cases := []struct{ name, object, want string }{
		{"compact stays as it is", `{"b":1,"a":[1,2]}`, `{"b":1,"a":[1,2]}`},
		{"indented", "{\n    \"b\": 1,\n    \"a\": [\n      1,\n      2\n    ]\n  }", `{"b":1,"a":[1,2]}`},
		{"tabs and CRLF", "{\t\"a\" :\r\n\"x\" }", `{"a":"x"}`},
		{"spaces inside strings stay", `{ "a": "two  spaces , here" }`, `{"a":"two  spaces , here"}`},
		{"escapes stay as sent", `{ "a": "caf\u00e9 \t \"q\"", "b": "<&>" }`, `{"a":"caf\u00e9 \t \"q\"","b":"<&>"}`},
		{"number text stays as sent", `{ "a": 0.50, "b": 1e3, "c": -0 }`, `{"a":0.50,"b":1e3,"c":-0}`},
		{"key order and duplicates stay", `{ "z": 1, "a": 2, "z": 3 }`, `{"z":1,"a":2,"z":3}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := (Event{Object: json.RawMessage(c.object)}).CompactObject(); got != c.want {
				t.Errorf("CompactObject(%q) = %q, want %q", c.object, got, c.want)
			}
		})
	}
}
