package streams

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
)

// recordingSink remembers the keys and sequence numbers it was given and
// refuses the sequence numbers listed in fail.
type recordingSink struct {
	seen []string
	fail map[string]bool
}

func (s *recordingSink) sink(_ context.Context, c Change) error {
	s.seen = append(s.seen, c.SequenceNumber)
	if s.fail[c.SequenceNumber] {
		return errors.New("downstream unavailable")
	}
	return nil
}

func seqs(ev events.DynamoDBEvent) []string {
	out := make([]string, len(ev.Records))
	for i, r := range ev.Records {
		out[i] = r.Change.SequenceNumber
	}
	return out
}

func TestHandlePartialBatchFailures(t *testing.T) {
	base := loadEvent(t, "testdata/orders.event.json")
	all := seqs(base)

	undecodable := func(ev events.DynamoDBEvent, i int) events.DynamoDBEvent {
		ev.Records = append([]events.DynamoDBEventRecord(nil), ev.Records...)
		ev.Records[i].EventName = "TRUNCATE"
		return ev
	}
	noSeq := func(ev events.DynamoDBEvent, i int) events.DynamoDBEvent {
		ev.Records = append([]events.DynamoDBEventRecord(nil), ev.Records...)
		ev.Records[i].Change.SequenceNumber = ""
		return ev
	}

	tests := []struct {
		name     string
		event    events.DynamoDBEvent
		fail     map[string]bool
		wantSeen []string // sink calls, in order
		wantItem string   // the one reported failure; "" for none
		wantErr  error
	}{
		{name: "all succeed", event: base, wantSeen: all},
		{name: "first fails", event: base, fail: map[string]bool{all[0]: true}, wantSeen: all[:1], wantItem: all[0]},
		{
			name: "middle fails: later records are not handled", event: base,
			fail:     map[string]bool{all[2]: true, all[4]: true},
			wantSeen: all[:3], wantItem: all[2],
		},
		{name: "last fails", event: base, fail: map[string]bool{all[4]: true}, wantSeen: all, wantItem: all[4]},
		{
			name: "undecodable record is reported without reaching the sink", event: undecodable(base, 1),
			wantSeen: all[:1], wantItem: all[1],
		},
		{
			name: "failing record without sequence number fails the whole batch", event: noSeq(base, 1),
			fail: map[string]bool{"": true}, wantSeen: []string{all[0], ""}, wantErr: ErrNoSequenceNumber,
		},
		{
			name: "record without sequence number that succeeds is fine", event: noSeq(base, 1),
			wantSeen: []string{all[0], "", all[2], all[3], all[4]},
		},
		{name: "empty batch", event: events.DynamoDBEvent{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &recordingSink{fail: tt.fail}
			var logs bytes.Buffer
			c := &Consumer{Sink: s.sink, Logger: slog.New(slog.NewJSONHandler(&logs, nil))}
			resp, err := c.Handle(context.Background(), tt.event)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("error = %v, want %v", err, tt.wantErr)
			}
			if strings.Join(s.seen, ",") != strings.Join(tt.wantSeen, ",") {
				t.Errorf("sink saw %v, want %v", s.seen, tt.wantSeen)
			}
			var got []string
			for _, f := range resp.BatchItemFailures {
				if f.ItemIdentifier == "" {
					t.Errorf("empty item identifier in %+v", resp)
				}
				got = append(got, f.ItemIdentifier)
			}
			if tt.wantItem == "" && len(got) != 0 {
				t.Errorf("failures = %v, want none", got)
			}
			if tt.wantItem != "" && (len(got) != 1 || got[0] != tt.wantItem) {
				t.Errorf("failures = %v, want exactly [%s]", got, tt.wantItem)
			}
			failed, logged := tt.wantItem != "" || tt.wantErr != nil, strings.Contains(logs.String(), "stream record failed")
			if failed != logged {
				t.Errorf("failure logged = %v, want %v; logs: %s", logged, failed, logs.String())
			}
		})
	}
}

// The response must serialise as Lambda's ReportBatchItemFailures contract expects.
func TestHandleResponseShape(t *testing.T) {
	ev := loadEvent(t, "testdata/holdings.event.json")
	s := &recordingSink{fail: map[string]bool{ev.Records[1].Change.SequenceNumber: true}}
	resp, err := (&Consumer{Sink: s.sink}).Handle(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	got, err := json.Marshal(resp)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"batchItemFailures":[{"itemIdentifier":"5100000000000000000000000002"}]}`
	if string(got) != want {
		t.Errorf("response = %s, want %s", got, want)
	}
}

// A cancelled invocation reports the first unhandled record so it is retried.
func TestHandleCancelled(t *testing.T) {
	ev := loadEvent(t, "testdata/orders.event.json")
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	c := &Consumer{Sink: func(context.Context, Change) error {
		calls++
		cancel()
		return nil
	}}
	resp, err := c.Handle(ctx, ev)
	if err != nil {
		t.Fatal(err)
	}
	if calls != 1 {
		t.Errorf("sink called %d times after cancellation, want 1", calls)
	}
	if len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != ev.Records[1].Change.SequenceNumber {
		t.Errorf("failures = %+v, want the second record", resp.BatchItemFailures)
	}
}

func TestJSONLines(t *testing.T) {
	ev := loadEvent(t, "testdata/holdings.event.json")
	var out bytes.Buffer
	if resp, err := (&Consumer{Sink: JSONLines(&out)}).Handle(context.Background(), ev); err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("Handle = %+v, %v", resp, err)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != len(ev.Records) {
		t.Fatalf("%d lines for %d records:\n%s", len(lines), len(ev.Records), out.String())
	}
	for i, line := range lines {
		var c Change
		if err := json.Unmarshal([]byte(line), &c); err != nil {
			t.Fatalf("line %d is not a Change: %v", i, err)
		}
		want, _ := Decode(ev.Records[i])
		if c.Key != want.Key || c.Kind != want.Kind || c.NewVersion != want.NewVersion || c.SequenceNumber != want.SequenceNumber {
			t.Errorf("line %d = %+v, want %+v", i, c, want)
		}
		// The object is carried as the exact JSON stored in the row.
		if !bytes.Equal(c.Object, want.Object) {
			t.Errorf("line %d object = %s, want %s", i, c.Object, want.Object)
		}
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("pipe closed") }

func TestJSONLinesWriteError(t *testing.T) {
	err := JSONLines(failingWriter{})(context.Background(), Change{Key: "ORDER#1"})
	if err == nil || !strings.Contains(err.Error(), "pipe closed") {
		t.Errorf("error = %v, want the write error", err)
	}
}

func TestHandleWithoutSink(t *testing.T) {
	if _, err := (&Consumer{}).Handle(context.Background(), loadEvent(t, "testdata/holdings.event.json")); err == nil {
		t.Error("Handle without a sink succeeded")
	}
}
