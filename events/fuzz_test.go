package events

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// sortableWidth is the fixed width of SortableTime's output.
const sortableWidth = len("2006-01-02T15:04:05.000000000Z")

// orderEvent is a valid ORDER event whose object was updated at updatedAt.
func orderEvent(updatedAt string) []byte {
	return []byte(`{"id":"` + validID + `","created_at":"2023-08-19T13:06:57.820371Z","type":"ORDER.FILLED",` +
		`"object":{"id":"o-1","status":"FILLED","updated_at":"` + updatedAt + `"},"webhook_id":"w"}`)
}

// checkEvent runs every step an event goes through and checks what must hold
// whatever the bytes: no panic, Raw kept exactly, a fixed-width position.
func checkEvent(t *testing.T, raw []byte) {
	e, err := ParseEvent(raw)
	if !bytes.Equal(e.Raw, raw) {
		t.Fatalf("Raw = %q, want the bytes as sent %q", e.Raw, raw)
	}
	if err != nil {
		return
	}
	r, err := Classify(e)
	if err != nil {
		return
	}
	if r.EntityKey == "" || r.Category == "" {
		t.Fatalf("classified %q without entity key or category: %+v", raw, r)
	}
	ordered := SortableTime(r.OrderedAt)
	if len(ordered) != sortableWidth || !strings.HasPrefix(r.Position, ordered+"|") {
		t.Fatalf("position %q does not start with the fixed-width time %q", r.Position, ordered)
	}
}

func FuzzDecodeEnvelope(f *testing.F) {
	for _, seed := range []string{
		`{"payload":[` + string(ev(nil)) + `]}`,
		`{"payload":[` + string(orderEvent("2024-01-02T03:04:05.123+02:00")) + `,1,"x",{}]}`,
		`{"payload":[],"extra":1}`,
		`{"payload":{}}`, `{"payload":null}`, `[]`, ``, "\xef\xbb\xbf{\"payload\":[]}",
		`{"payload":[{"id":"\ud800","type":"ORDER.NEW"}]}`,
		`{"payload":[` + strings.Repeat("[", 200) + strings.Repeat("]", 200) + `]}`,
		"{\"payload\":[{\"id\":\"\xff\"}]}",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		env, err := DecodeEnvelope(body)
		if err != nil {
			if !errors.Is(err, ErrNotEnvelope) {
				t.Fatalf("DecodeEnvelope error %v does not wrap ErrNotEnvelope", err)
			}
			return
		}
		for _, raw := range env.Payload {
			checkEvent(t, raw)
		}
	})
}

func FuzzParseEvent(f *testing.F) {
	f.Add(ev(nil))
	f.Add(ev(map[string]string{"type": `"ACCOUNT_GROUP.CREATED"`, "object": `{"id":"g"}`}))
	f.Add(ev(map[string]string{"type": `"SOMETHING_NEW.HAPPENED"`, "object": `{}`}))
	f.Add(orderEvent("9999-12-31T23:59:59.999999999-23:59"))
	f.Add(orderEvent("0000-01-01T00:00:00+23:59"))
	f.Add([]byte(`{"id":1}`))
	f.Add([]byte(` [] `))
	f.Fuzz(func(t *testing.T, raw []byte) { checkEvent(t, raw) })
}

// checkOrder insists that SortableTime orders a and b as time does.
func checkOrder(t *testing.T, a, b string) {
	ta, errA := ParseTime(a)
	tb, errB := ParseTime(b)
	if errA != nil || errB != nil {
		return
	}
	sa, sb := SortableTime(ta), SortableTime(tb)
	if len(sa) != sortableWidth || len(sb) != sortableWidth {
		t.Fatalf("SortableTime(%s) = %s, SortableTime(%s) = %s: not %d wide", a, sa, b, sb, sortableWidth)
	}
	if got, want := strings.Compare(sa, sb), ta.Compare(tb); got != want {
		t.Fatalf("%s vs %s: string order %d (%s vs %s), time order %d", a, b, got, sa, sb, want)
	}
}

// Any two strings ParseTime accepts: string order of SortableTime equals time order.
func FuzzParseTimeOrder(f *testing.F) {
	f.Add("2024-01-02T03:04:05Z", "2024-01-02T03:04:05.1Z")
	f.Add("2024-01-02T03:04:05.123456789+02:00", "2024-01-02T01:04:05.12345678Z")
	f.Add("2024-01-02T03:04:05.5-00:30", "2024-01-02T03:34:05.4999Z")
	f.Add("9999-12-31T23:00:00-02:00", "9999-12-31T23:59:59Z") // UTC year 10000
	f.Add("0000-01-01T00:30:00+01:00", "0000-01-01T00:00:00Z") // UTC year -1
	f.Fuzz(checkOrder)
}

// upvestTimestamp writes an instant the ways Upvest may: RFC 3339 with 0 to 9
// fractional digits, and Z or a numeric offset (minutes east of UTC).
func upvestTimestamp(unix int64, nanos uint32, digits uint8, offsetMinutes int16, zulu bool) string {
	// Local years 0001..9998 keep the UTC year inside 0000..9999 for every offset.
	const first, last = -62135596800, 253339257599 // 0001-01-01, 9998-12-31T23:59:59 UTC
	unix = first + (unix%(last-first)+(last-first))%(last-first)
	offset := int(offsetMinutes) % (24 * 60)
	if zulu {
		offset = 0
	}
	zone := time.FixedZone("", offset*60)
	t := time.Unix(unix, int64(nanos%1_000_000_000)).In(zone)
	s := t.Format("2006-01-02T15:04:05")
	if n := int(digits % 10); n > 0 {
		s += "." + fmt.Sprintf("%09d", t.Nanosecond())[:n]
	}
	if zulu {
		return s + "Z"
	}
	return s + t.Format("-07:00")
}

// Every timestamp form Upvest may send parses, and orders as time does, also
// as the position of an event.
func FuzzUpvestTimestampOrder(f *testing.F) {
	f.Add(int64(1_700_000_000), uint32(123_456_789), uint8(6), int16(120), false, int64(1_700_000_000), uint32(123_456_000), uint8(3), int16(0), true)
	f.Add(int64(1_700_000_000), uint32(0), uint8(0), int16(-570), false, int64(1_700_034_200), uint32(1), uint8(9), int16(0), true)
	f.Add(int64(253339257599), uint32(999_999_999), uint8(9), int16(-1439), false, int64(-62135596800), uint32(0), uint8(1), int16(1439), false)
	f.Fuzz(func(t *testing.T, unixA int64, nanosA uint32, digitsA uint8, offA int16, zuluA bool, unixB int64, nanosB uint32, digitsB uint8, offB int16, zuluB bool) {
		a := upvestTimestamp(unixA, nanosA, digitsA, offA, zuluA)
		b := upvestTimestamp(unixB, nanosB, digitsB, offB, zuluB)
		ta, err := ParseTime(a)
		if err != nil {
			t.Fatalf("ParseTime(%s): %v", a, err)
		}
		tb, err := ParseTime(b)
		if err != nil {
			t.Fatalf("ParseTime(%s): %v", b, err)
		}
		checkOrder(t, a, b)
		ra, errA := Classify(mustParse(t, orderEvent(a)))
		rb, errB := Classify(mustParse(t, orderEvent(b)))
		if errA != nil || errB != nil {
			t.Fatalf("Classify: %v, %v", errA, errB)
		}
		if got, want := strings.Compare(ra.Position, rb.Position), ta.Compare(tb); got != want {
			t.Fatalf("%s vs %s: position order %d (%s vs %s), time order %d", a, b, got, ra.Position, rb.Position, want)
		}
	})
}

func mustParse(t *testing.T, raw []byte) Event {
	t.Helper()
	e, err := ParseEvent(raw)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// Found by FuzzParseTimeOrder: an offset could move the UTC year out of four
// digits, and SortableTime then ordered it before earlier times.
func TestParseTimeYearRange(t *testing.T) {
	tests := []struct {
		in string
		ok bool
	}{
		{"9999-12-31T23:00:00-02:00", false}, // UTC year 10000
		{"0000-01-01T00:30:00+01:00", false}, // UTC year -1
		{"9999-12-31T21:59:59.999999999-02:00", true},
		{"0000-01-01T00:30:00+00:30", true},
		{"9999-12-31T23:59:59Z", true},
		{"0000-01-01T00:00:00Z", true},
	}
	for _, tt := range tests {
		got, err := ParseTime(tt.in)
		if (err == nil) != tt.ok {
			t.Errorf("ParseTime(%s) = %v, %v; want ok %v", tt.in, got, err, tt.ok)
		}
		if err == nil && len(SortableTime(got)) != sortableWidth {
			t.Errorf("SortableTime(%s) = %s", tt.in, SortableTime(got))
		}
	}
	// An event whose updated_at lies out of range is parked with a reason, not ordered wrongly.
	if _, err := Classify(mustParse(t, orderEvent("9999-12-31T23:00:00-02:00"))); err == nil || !strings.Contains(err.Error(), "updated_at") {
		t.Fatalf("Classify error = %v, want one naming updated_at", err)
	}
}
