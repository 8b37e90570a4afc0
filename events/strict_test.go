package events

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseTimeRFC3339Forms(t *testing.T) {
	tests := []struct{ in, want string }{
		{"2024-01-01t10:00:00z", "2024-01-01T10:00:00.000000000Z"},
		{"2024-01-01t10:00:00.5+02:00", "2024-01-01T08:00:00.500000000Z"},
		{"2016-12-31T23:59:60Z", "2016-12-31T23:59:59.999999999Z"},
		{"2016-12-31T23:59:60.25Z", "2016-12-31T23:59:59.999999999Z"},
		{"2017-01-01T00:59:60+01:00", "2016-12-31T23:59:59.999999999Z"},
	}
	for _, tt := range tests {
		got, err := ParseTime(tt.in)
		if err != nil || SortableTime(got) != tt.want {
			t.Errorf("ParseTime(%s) = %s, %v; want %s", tt.in, SortableTime(got), err, tt.want)
		}
	}
	for _, bad := range []string{"2016-12-31T23:59:61Z", "2024-01-01 10:00:00Z", "2024-01-01T10:00:00"} {
		if _, err := ParseTime(bad); err == nil {
			t.Errorf("ParseTime(%s) accepted", bad)
		}
	}
}

func TestCheckAheadTolerance(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		updated string
		ahead   bool
	}{
		{"2026-01-01T00:05:00Z", false}, // exactly the tolerance
		{"2026-01-01T00:05:01Z", true},
		{"2025-12-31T00:00:00Z", false},
		{"9999-12-31T00:00:00Z", true},
	} {
		_, _, err := ClassifyAt(orderEvent(tt.updated), now)
		if got := errors.Is(err, ErrAhead); got != tt.ahead {
			t.Errorf("updated_at %s: error %v, want ahead %v", tt.updated, err, tt.ahead)
		}
		if tt.ahead && !strings.Contains(err.Error(), "object.updated_at") {
			t.Errorf("reason %q does not name the field", err)
		}
	}
}

func TestParseEventOneReading(t *testing.T) {
	for raw, want := range map[string]string{
		`{"id":"a","ID":"b"}`:                       "names are case-sensitive",
		`{"id":"a","id":"b"}`:                       `"id" appears twice`,
		`{"object":{"x":{"y":1,"y":2}}}`:            `"y" appears twice`,
		`{"type":1}`:                                `"type" is not a string`,
		"{\"\\u0074ype\":\"A.B\",\"type\":\"C.D\"}": `"type" appears twice`,
	} {
		if _, err := ParseEvent([]byte(raw)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseEvent(%s) error %v, want one containing %q", raw, err, want)
		}
	}
	e, err := ParseEvent([]byte(`{"id":"AAAAAAAA-AAAA-4AAA-8AAA-AAAAAAAAAAAA","Note":1,"note":2,"type":null}`))
	if err != nil || e.ID != "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa" || e.Type != "" {
		t.Errorf("ParseEvent = %+v, %v; want the id in lower case, unread names of any case, null as absent", e, err)
	}
}
