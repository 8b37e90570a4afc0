package events

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestBoundKey(t *testing.T) {
	long := strings.Repeat("k", MaxKeyBytes+1)
	tests := []struct {
		in       string
		unchange bool
	}{
		{"ORDER#8962b496", true},
		{strings.Repeat("k", MaxKeyBytes), true},
		{long, false},
		{"bad\xffutf8", false},
	}
	for _, tt := range tests {
		got := BoundKey(tt.in)
		if (got == tt.in) != tt.unchange {
			t.Errorf("BoundKey(%.20q...) = %.40q, unchanged=%v want %v", tt.in, got, got == tt.in, tt.unchange)
		}
		if len(got) > MaxKeyBytes || !utf8.ValidString(got) {
			t.Errorf("BoundKey(%.20q...) = %d bytes, valid UTF-8 %v", tt.in, len(got), utf8.ValidString(got))
		}
	}
	if BoundKey(long) != BoundKey(long) || BoundKey(long) == BoundKey(long+"x") {
		t.Error("BoundKey must be a stable digest that tells values apart")
	}
}

func TestTruncate(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"abcdefghij", 6, "abc…"},
		{"ééééé", 6, "é…"}, // never cuts a rune in half
		{"a\xffb", 10, "a\uFFFDb"},
	}
	for _, tt := range tests {
		if got := Truncate(tt.in, tt.n); got != tt.want || len(got) > tt.n {
			t.Errorf("Truncate(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
		}
	}
}

func TestClassifyBoundsKeysFromContent(t *testing.T) {
	huge := strings.Repeat("x", 5000)
	e, err := ParseEvent(ev(map[string]string{
		"object": `{"id":"` + huge + `","status":"NEW","user_id":"` + huge + `","account_id":"a-1"}`,
	}))
	if err != nil {
		t.Fatal(err)
	}
	r, err := Classify(e)
	if err != nil {
		t.Fatalf("Classify: %v", err)
	}
	if len(r.EntityKey) > MaxKeyBytes || len(r.UserID) > MaxKeyBytes {
		t.Errorf("entity key %d bytes, user id %d bytes; want at most %d", len(r.EntityKey), len(r.UserID), MaxKeyBytes)
	}
	if r.AccountID != "a-1" {
		t.Errorf("short keys must stay as they are: account id %q", r.AccountID)
	}
	if _, err := Classify(Event{ID: validID, CreatedAt: "2023-08-19T13:06:57Z", Type: "ORDER." + huge, WebhookID: "w", Object: []byte(`{}`)}); err == nil || len(err.Error()) > 200 {
		t.Errorf("an over-long type must be refused with a short reason, got %v", err)
	}
}
