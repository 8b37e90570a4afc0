package worker

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"

	"github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/ledger"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/message"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/observability"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/state"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/state/statetest"
)

// fakeStore answers Apply from a per-event table (default Applied) and
// remembers what it was asked.
type fakeStore struct {
	mu       sync.Mutex
	outcomes map[string]state.Outcome
	errs     map[string]error
	applied  map[string]events.Route
	hook     func()          // runs inside Apply, for concurrency checks
	hang     map[string]bool // events whose Apply waits for its context to end, as a hung connection does
	// invocationEnd is the invocation's deadline; a hung Apply whose context
	// does not end before it is counted in unbounded and returns at once.
	invocationEnd time.Time
	unbounded     int
}

func newFakeStore() *fakeStore {
	return &fakeStore{outcomes: map[string]state.Outcome{}, errs: map[string]error{}, applied: map[string]events.Route{}}
}

func (s *fakeStore) Apply(ctx context.Context, e events.Event, r events.Route) (state.Outcome, error) {
	if s.hook != nil {
		s.hook()
	}
	s.mu.Lock()
	hang := s.hang[e.ID]
	if end, ok := ctx.Deadline(); hang && (!ok || !end.Before(s.invocationEnd)) {
		// It would hang until Lambda stopped the invocation.
		s.unbounded++
		s.mu.Unlock()
		return "", errors.New("the context does not end before the invocation's deadline")
	}
	s.mu.Unlock()
	if hang {
		<-ctx.Done()
		return "", ctx.Err()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.errs[e.ID]; err != nil {
		return "", err
	}
	s.applied[e.ID] = r
	if o, ok := s.outcomes[e.ID]; ok {
		return o, nil
	}
	return state.Applied, nil
}

type recorded struct {
	status ledger.Status
	reason string
}

// fakeLedger keeps outcomes, releases and raw events in maps, with injectable failures.
type fakeLedger struct {
	mu        sync.Mutex
	outcomes  map[string]recorded
	released  map[string]int
	raw       map[string][]byte
	recordErr map[string]error
	rawErr    error
}

func newFakeLedger() *fakeLedger {
	return &fakeLedger{outcomes: map[string]recorded{}, released: map[string]int{}, raw: map[string][]byte{}, recordErr: map[string]error{}}
}

func (l *fakeLedger) Release(_ context.Context, id string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.recordErr[id]; err != nil {
		return err
	}
	l.released[id]++
	return nil
}

func (l *fakeLedger) RecordOutcome(_ context.Context, id string, s ledger.Status, reason string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.recordErr[id]; err != nil {
		return err
	}
	l.outcomes[id] = recorded{s, reason}
	return nil
}

func (l *fakeLedger) RawEvent(_ context.Context, id string) ([]byte, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.rawErr != nil {
		return nil, l.rawErr
	}
	raw, ok := l.raw[id]
	if !ok {
		return nil, fmt.Errorf("%w: %s", ledger.ErrNotFound, id)
	}
	return raw, nil
}

var _ Ledger = (*fakeLedger)(nil)
var _ state.Store = (*fakeStore)(nil)

// event returns a valid raw event of the given type and its id.
func event(typ string, object map[string]any) (string, string) {
	id := statetest.UUID()
	raw, _ := json.Marshal(map[string]any{
		"id": id, "created_at": "2024-05-01T10:00:00.00Z", "type": typ, "object": object, "webhook_id": statetest.UUID(),
	})
	return string(raw), id
}

func order(status string) map[string]any {
	return map[string]any{"id": statetest.UUID(), "status": status, "updated_at": "2024-05-01T10:00:00Z", "account_id": statetest.UUID()}
}

func msg(body, eventID string, extra ...string) lambdaevents.SQSMessage {
	attrs := map[string]lambdaevents.SQSMessageAttribute{}
	if eventID != "" {
		attrs[message.AttrEventID] = strAttr(eventID)
	}
	for i := 0; i+1 < len(extra); i += 2 {
		attrs[extra[i]] = strAttr(extra[i+1])
	}
	return lambdaevents.SQSMessage{MessageId: "m-" + statetest.UUID(), Body: body, MessageAttributes: attrs}
}

func strAttr(v string) lambdaevents.SQSMessageAttribute {
	return lambdaevents.SQSMessageAttribute{StringValue: &v, DataType: "String"}
}

type harness struct {
	store   *fakeStore
	ledger  *fakeLedger
	logs    bytes.Buffer
	emf     bytes.Buffer
	metrics *observability.Metrics
	worker  *Worker
}

func newHarness(d events.Domain) *harness { return newHarnessAt(d, slog.LevelInfo) }

func newHarnessAt(d events.Domain, level slog.Level) *harness {
	h := &harness{store: newFakeStore(), ledger: newFakeLedger()}
	h.metrics = observability.NewMetrics(&h.emf, "worker")
	h.worker = New(d, h.store, h.ledger, slog.New(slog.NewJSONHandler(&h.logs, &slog.HandlerOptions{Level: level})), h.metrics)
	return h
}

// outcome is what became of an event, derived as ops inspect derives it:
// PARKED from the ledger, else what the state store did with it (the state
// row records that), "" when neither has it. The worker must not write a
// settled outcome to the ledger.
func (h *harness) outcome(t *testing.T, id string) string {
	t.Helper()
	h.ledger.mu.Lock()
	rec, inLedger := h.ledger.outcomes[id]
	h.ledger.mu.Unlock()
	h.store.mu.Lock()
	_, stored := h.store.applied[id]
	o, preset := h.store.outcomes[id]
	h.store.mu.Unlock()
	switch {
	case inLedger:
		if rec.status != ledger.Parked {
			t.Errorf("worker wrote %s for %s in the ledger; it records only PARKED", rec.status, id)
		}
		return string(rec.status)
	case !stored:
		return ""
	case !preset:
		o = state.Applied
	}
	return string(o)
}

func (h *harness) handle(t *testing.T, records ...lambdaevents.SQSMessage) []string {
	t.Helper()
	resp, err := h.worker.Handle(context.Background(), lambdaevents.SQSEvent{Records: records})
	if err != nil {
		t.Fatalf("Handle: %v", err)
	}
	var failed []string
	for _, f := range resp.BatchItemFailures {
		if f.ItemIdentifier == "" {
			t.Fatal("batch item failure with an empty identifier")
		}
		failed = append(failed, f.ItemIdentifier)
	}
	return failed
}

// counts reads the metrics of the EMF lines written so far.
func (h *harness) counts(t *testing.T) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	lines := strings.Split(strings.TrimSpace(h.emf.String()), "\n")
	if len(lines) > 1 {
		t.Fatalf("metrics flushed %d times in one batch, want once", len(lines))
	}
	for _, line := range lines {
		if line == "" {
			continue
		}
		var doc map[string]any
		if err := json.Unmarshal([]byte(line), &doc); err != nil {
			t.Fatalf("EMF line %q: %v", line, err)
		}
		for _, name := range []string{observability.MetricApplied, observability.MetricSkippedStale, observability.MetricWorkerDuplicate, observability.MetricParked} {
			if v, ok := doc[name].(float64); ok {
				out[name] += v
			}
		}
	}
	return out
}

// logLines returns the worker's log lines that carry an outcome.
func (h *harness) logLines(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(h.logs.String()), "\n") {
		if line == "" {
			continue
		}
		var doc map[string]any
		if err := json.Unmarshal([]byte(line), &doc); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if _, ok := doc["outcome"]; ok {
			out = append(out, doc)
		}
	}
	return out
}

func TestHandleOutcomes(t *testing.T) {
	h := newHarness(events.Orders)
	newOrder := order("NEW")
	appliedBody, appliedID := event("ORDER.NEW", newOrder)
	staleBody, staleID := event("ORDER.PROCESSING", order("PROCESSING"))
	dupBody, dupID := event("ORDER.FILLED", order("FILLED"))
	invalidBody, invalidID := event("ORDER.NEW", map[string]any{"status": "NEW"}) // no id to key it by
	misroutedBody, misroutedID := event("USER.CREATED", map[string]any{"id": statetest.UUID()})
	notJSONID := statetest.UUID()
	h.store.outcomes[staleID] = state.Stale
	h.store.outcomes[dupID] = state.Duplicate

	failed := h.handle(t,
		msg(appliedBody, appliedID),
		msg(staleBody, staleID),
		msg(dupBody, dupID),
		msg(invalidBody, invalidID),
		msg(misroutedBody, misroutedID),
		msg("not json", notJSONID),
	)
	if len(failed) != 0 {
		t.Fatalf("failures %v, want none: every message has a final outcome", failed)
	}

	want := map[string]string{
		appliedID: string(state.Applied), staleID: string(state.Stale), dupID: string(state.Duplicate),
		invalidID: string(ledger.Parked), misroutedID: string(ledger.Parked), notJSONID: string(ledger.Parked),
	}
	for id, outcome := range want {
		if got := h.outcome(t, id); got != outcome {
			t.Errorf("outcome of %s = %q, want %q", id, got, outcome)
		}
	}
	if len(h.ledger.outcomes) != 3 || len(h.ledger.released) != 0 {
		t.Errorf("ledger writes %v, releases %v; want only the three parks", h.ledger.outcomes, h.ledger.released)
	}
	if reason := h.ledger.outcomes[misroutedID].reason; !strings.Contains(reason, "domain users reached the orders worker") {
		t.Errorf("misrouted reason = %q", reason)
	}
	if reason := h.ledger.outcomes[invalidID].reason; !strings.Contains(reason, "object.id") {
		t.Errorf("invalid reason = %q, want it to name the missing field", reason)
	}
	if reason := h.ledger.outcomes[notJSONID].reason; reason == "" {
		t.Error("unparsable event parked without a reason")
	}

	// Only events of this domain reach the store, with their route.
	if len(h.store.applied) != 3 {
		t.Errorf("store saw %d events, want 3", len(h.store.applied))
	}
	if r := h.store.applied[appliedID]; r.EntityKey != "ORDER#"+newOrder["id"].(string) || r.Domain != events.Orders {
		t.Errorf("route of the applied event = %+v", r)
	}

	wantCounts := map[string]float64{
		observability.MetricApplied: 1, observability.MetricSkippedStale: 1,
		observability.MetricWorkerDuplicate: 1, observability.MetricParked: 3,
	}
	if got := h.counts(t); !mapsEqual(got, wantCounts) {
		t.Errorf("metrics %v, want %v", got, wantCounts)
	}

	// At info, only what an operator acts on is logged: the parked events.
	// The metrics count the settled outcomes.
	lines := h.logLines(t)
	if len(lines) != 3 {
		t.Fatalf("%d outcome log lines at info, want one per parked message (3):\n%s", len(lines), h.logs.String())
	}
	for _, l := range lines {
		if l["outcome"] != string(ledger.Parked) || l["level"] != "ERROR" {
			t.Errorf("info log line for a settled outcome: %v", l)
		}
	}
	// At debug (LOG_LEVEL=debug), every message has its line.
	debug := newHarnessAt(events.Orders, slog.LevelDebug)
	debug.store.outcomes[staleID] = state.Stale
	debug.handle(t, msg(appliedBody, appliedID), msg(staleBody, staleID), msg(misroutedBody, misroutedID))
	lines = debug.logLines(t)
	if len(lines) != 3 {
		t.Fatalf("%d outcome log lines at debug, want one per message (3):\n%s", len(lines), debug.logs.String())
	}
	for _, l := range lines {
		if l["event_id"] == "" || l["event_type"] == nil {
			t.Errorf("log line without event id or type: %v", l)
		}
		if l["outcome"] != string(ledger.Parked) && (l["entity"] == nil || l["level"] != "DEBUG") {
			t.Errorf("log line without entity: %v", l)
		}
	}
}

func TestHandleRetriableFailures(t *testing.T) {
	tests := []struct {
		name     string
		setup    func(h *harness, failingID string)
		replayed bool
	}{
		{"store error", func(h *harness, id string) { h.store.errs[id] = errors.New("dynamodb: throttled") }, false},
		{"ledger release error", func(h *harness, id string) { h.ledger.recordErr[id] = errors.New("ledger: timeout") }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(events.Orders)
			okBody, okID := event("ORDER.NEW", order("NEW"))
			badBody, badID := event("ORDER.FILLED", order("FILLED"))
			tt.setup(h, badID)
			ok, bad := msg(okBody, okID), msg(badBody, badID)
			if tt.replayed {
				ok, bad = msg(okBody, okID, message.AttrReplay, message.Replayed), msg(badBody, badID, message.AttrReplay, message.Replayed)
			}

			failed := h.handle(t, ok, bad)
			if !slices.Equal(failed, []string{bad.MessageId}) {
				t.Fatalf("failures %v, want only %s", failed, bad.MessageId)
			}
			if got := h.outcome(t, okID); got != string(state.Applied) {
				t.Errorf("healthy message outcome %q, want applied", got)
			}
			if tt.replayed && h.ledger.released[okID] != 1 {
				t.Errorf("healthy replayed message released %d times, want once", h.ledger.released[okID])
			}
			if _, ok := h.ledger.outcomes[badID]; ok || h.ledger.released[badID] != 0 {
				t.Errorf("failed message has a ledger outcome %v or release %d", h.ledger.outcomes[badID], h.ledger.released[badID])
			}
			if got := h.outcome(t, badID); !tt.replayed && got != "" {
				t.Errorf("failed store write has outcome %q", got)
			}
			if got := h.counts(t); got[observability.MetricApplied] != 1 {
				t.Errorf("metrics %v, want exactly one applied", got)
			}
		})
	}
}

func TestHandleParkFailureIsRetried(t *testing.T) {
	h := newHarness(events.Orders)
	body, id := event("USER.CREATED", map[string]any{"id": statetest.UUID()})
	h.ledger.recordErr[id] = errors.New("ledger: timeout")
	m := msg(body, id)
	if failed := h.handle(t, m); !slices.Equal(failed, []string{m.MessageId}) {
		t.Fatalf("failures %v, want %s: an unrecorded park must be retried", failed, m.MessageId)
	}
}

func TestHandleMissingMessageIDFailsBatch(t *testing.T) {
	h := newHarness(events.Orders)
	body, id := event("ORDER.NEW", order("NEW"))
	noID := msg(body, id)
	noID.MessageId = ""
	other, otherID := event("ORDER.NEW", order("NEW"))

	_, err := h.worker.Handle(context.Background(), lambdaevents.SQSEvent{Records: []lambdaevents.SQSMessage{msg(other, otherID), noID}})
	if err == nil || !strings.Contains(err.Error(), "record 2 of 2 has no message id") {
		t.Fatalf("Handle error = %v, want one naming the record without message id", err)
	}
	if len(h.store.applied) != 0 || len(h.ledger.outcomes) != 0 {
		t.Errorf("batch was partly processed before failing: store %d, ledger %d", len(h.store.applied), len(h.ledger.outcomes))
	}
}

func TestHandleClaimCheck(t *testing.T) {
	raw, id := event("ORDER.NEW", order("NEW"))
	ref := fmt.Sprintf(`{"id":%q}`, id)

	t.Run("event read from the ledger", func(t *testing.T) {
		h := newHarness(events.Orders)
		h.ledger.raw[id] = []byte(raw)
		if failed := h.handle(t, msg(ref, id, message.AttrBodyRef, message.BodyInLedger)); len(failed) != 0 {
			t.Fatalf("failures %v", failed)
		}
		if got := h.outcome(t, id); got != string(state.Applied) {
			t.Fatalf("claim-checked event not applied: store %v, ledger %v", h.store.applied, h.ledger.outcomes)
		}
	})
	t.Run("id taken from the body when the attribute is missing", func(t *testing.T) {
		h := newHarness(events.Orders)
		h.ledger.raw[id] = []byte(raw)
		if failed := h.handle(t, msg(ref, "", message.AttrBodyRef, message.BodyInLedger)); len(failed) != 0 {
			t.Fatalf("failures %v", failed)
		}
		if got := h.outcome(t, id); got != string(state.Applied) {
			t.Fatalf("outcome %q, want %s applied", got, id)
		}
	})
	t.Run("ledger read error is retried", func(t *testing.T) {
		h := newHarness(events.Orders)
		h.ledger.rawErr = errors.New("ledger: unavailable")
		m := msg(ref, id, message.AttrBodyRef, message.BodyInLedger)
		if failed := h.handle(t, m); !slices.Equal(failed, []string{m.MessageId}) {
			t.Fatalf("failures %v, want %s", failed, m.MessageId)
		}
		if len(h.store.applied) != 0 {
			t.Error("store called without the event")
		}
	})
	t.Run("no event id anywhere is retried, not parked", func(t *testing.T) {
		h := newHarness(events.Orders)
		m := msg(`{}`, "", message.AttrBodyRef, message.BodyInLedger)
		if failed := h.handle(t, m); !slices.Equal(failed, []string{m.MessageId}) {
			t.Fatalf("failures %v, want %s", failed, m.MessageId)
		}
	})
}

func TestHandleBoundsConcurrency(t *testing.T) {
	t.Run("a full batch of ten in one round", func(t *testing.T) { testConcurrency(t, 10, 10) })
	t.Run("a larger batch at most Concurrency records at once", func(t *testing.T) { testConcurrency(t, 3*Concurrency, Concurrency) })
}

// testConcurrency hands the worker a batch of n records and requires that
// want of them are in flight at once, and never more than Concurrency.
func testConcurrency(t *testing.T, n, want int) {
	h := newHarness(events.Orders)
	var mu sync.Mutex
	inFlight, most := 0, 0
	full := make(chan struct{})
	var fullOnce sync.Once
	guard, cancel := context.WithTimeout(context.Background(), 30*time.Second) // deadlock guard, not a timing assertion
	defer cancel()
	h.store.hook = func() {
		mu.Lock()
		inFlight++
		most = max(most, inFlight)
		if inFlight == want {
			fullOnce.Do(func() { close(full) }) // only reachable if the worker really runs this many at once
		}
		mu.Unlock()
		select {
		case <-full:
		case <-guard.Done():
		}
		mu.Lock()
		inFlight--
		mu.Unlock()
	}
	var records []lambdaevents.SQSMessage
	for range n {
		body, id := event("ORDER.NEW", order("NEW"))
		records = append(records, msg(body, id))
	}
	if failed := h.handle(t, records...); len(failed) != 0 {
		t.Fatalf("failures %v", failed)
	}
	select {
	case <-full:
	default:
		t.Fatalf("never had %d records in flight", want)
	}
	if most > Concurrency {
		t.Errorf("%d records in flight at once, want at most %d", most, Concurrency)
	}
	if len(h.store.applied) != len(records) || len(h.ledger.outcomes) != 0 {
		t.Errorf("%d applied for %d records, %d ledger writes (want none)", len(h.store.applied), len(records), len(h.ledger.outcomes))
	}
}

func mapsEqual(a, b map[string]float64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestHandleReleasesReplayedRecords: a replayed message's record leaves the
// parked index once its worker is done, whatever the settled outcome; other
// messages cost the ledger nothing, and a replayed event parked again stays
// listed (the park keeps it there).
func TestHandleReleasesReplayedRecords(t *testing.T) {
	h := newHarness(events.Orders)
	appliedBody, appliedID := event("ORDER.NEW", order("NEW"))
	staleBody, staleID := event("ORDER.PROCESSING", order("PROCESSING"))
	plainBody, plainID := event("ORDER.FILLED", order("FILLED"))
	poisonBody, poisonID := event("USER.CREATED", map[string]any{"id": statetest.UUID()})
	h.store.outcomes[staleID] = state.Stale
	failed := h.handle(t,
		msg(appliedBody, appliedID, message.AttrReplay, message.Replayed),
		msg(staleBody, staleID, message.AttrReplay, message.Replayed),
		msg(plainBody, plainID),
		msg(poisonBody, poisonID, message.AttrReplay, message.Replayed))
	if len(failed) != 0 {
		t.Fatalf("failures %v", failed)
	}
	want := map[string]int{appliedID: 1, staleID: 1}
	if !maps.Equal(h.ledger.released, want) {
		t.Errorf("released %v, want %v", h.ledger.released, want)
	}
	if got := h.outcome(t, poisonID); got != string(ledger.Parked) {
		t.Errorf("replayed poison: %q, want PARKED", got)
	}
}

// TestHandleAnswersBeforeTheInvocationDeadline: Lambda discards the answer of
// an invocation that runs out of time and returns every message of the batch
// to the queue, the applied ones too, each a receive nearer the dead-letter
// queue. A message that hangs (here Concurrency of them, a connection that
// never answers) must not do that to the others: the batch stops before the
// deadline, answers for what is done, and reports the hung messages and those
// it never started as failures. The invocation's context never ends here,
// so that the test does not depend on how fast a loaded machine runs: the
// hung messages must end by the batch's own earlier deadline.
func TestHandleAnswersBeforeTheInvocationDeadline(t *testing.T) {
	h := newHarness(events.Orders)
	h.store.hang = map[string]bool{}
	invocation := invocationContext{context.Background(), time.Now().Add(5 * time.Second)}
	h.store.invocationEnd = invocation.deadline
	var records []lambdaevents.SQSMessage
	var goodIDs []string
	wantFailed := map[string]bool{}
	for i := range Concurrency + 3 {
		body, id := event("ORDER.NEW", order("NEW"))
		m := msg(body, id)
		records = append(records, m)
		switch {
		case i == 0: // started at once, applied
			goodIDs = append(goodIDs, id)
		case i <= Concurrency-1: // the other slots hang
			h.store.hang[id] = true
			wantFailed[m.MessageId] = true
		default: // waiting for a slot that never frees before the deadline
			wantFailed[m.MessageId] = true
		}
	}
	// One more hung message takes the slot the first one frees.
	body, id := event("ORDER.NEW", order("NEW"))
	hung := msg(body, id)
	h.store.hang[id] = true
	wantFailed[hung.MessageId] = true
	records = append(records[:1], append([]lambdaevents.SQSMessage{hung}, records[1:]...)...)

	resp, err := h.worker.Handle(invocation, lambdaevents.SQSEvent{Records: records})
	if h.store.unbounded > 0 {
		t.Fatalf("%d hung messages would wait until the invocation's deadline: Lambda would discard the answer and retry the whole batch", h.store.unbounded)
	}
	if err != nil {
		t.Fatalf("Handle: %v", err)
	}
	got := map[string]bool{}
	for _, f := range resp.BatchItemFailures {
		got[f.ItemIdentifier] = true
	}
	if !maps.Equal(got, wantFailed) {
		t.Errorf("%d failures reported, want the %d hung or never started messages", len(got), len(wantFailed))
	}
	for _, id := range goodIDs {
		if h.outcome(t, id) != string(state.Applied) {
			t.Errorf("event %s not applied", id)
		}
	}
}

// invocationContext is a Lambda invocation's context whose deadline is
// reported but never reached: work that waits for the invocation itself to
// end never ends.
type invocationContext struct {
	context.Context
	deadline time.Time
}

func (c invocationContext) Deadline() (time.Time, bool) { return c.deadline, true }
