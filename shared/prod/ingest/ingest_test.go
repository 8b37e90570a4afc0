package ingest

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	upvest "github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/fanout"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/ledger"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/ledger/ledgertest"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/observability"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/signature"
)

func newFakeLedger() *ledgertest.Memory { return ledgertest.NewMemory(nil) }

func read(t *testing.T, l *ledgertest.Memory, key string) ledger.Stored {
	t.Helper()
	s, err := l.Read(context.Background(), key)
	if err != nil {
		t.Fatalf("read %s: %v", key, err)
	}
	return s
}

type fakePublisher struct {
	mu   sync.Mutex
	sent []fanout.Message
	err  error
}

func (p *fakePublisher) Publish(_ context.Context, msgs []fanout.Message) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return p.err
	}
	p.sent = append(p.sent, msgs...)
	return nil
}

type fakeAuth struct{ err error }

func (a fakeAuth) Verify(context.Context, signature.Request) error { return a.err }

type allowOnly string

func (a allowOnly) Allows(ip string) bool { return ip == string(a) }

func newService(auth Authenticator, l Ledger, p fanout.Publisher, opts Options) *Service {
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	return New(auth, nil, l, p, log, observability.NewMetrics(io.Discard, "ingest"), opts)
}

func event(id, typ, object string) string {
	return fmt.Sprintf(`{"id":%q,"created_at":"2024-01-02T03:04:05.123Z","type":%q,"object":%s,"webhook_id":"9df39835-be87-4243-9018-f2500b39cee6"}`, id, typ, object)
}

func request(body string) events.APIGatewayV2HTTPRequest {
	var req events.APIGatewayV2HTTPRequest
	req.RawPath = "/webhooks"
	req.Body = body
	req.RequestContext.HTTP.Method = http.MethodPost
	req.RequestContext.HTTP.SourceIP = "34.90.198.99"
	req.RequestContext.Stage = "$default"
	return req
}

const (
	orderID1 = "11111111-1111-4111-8111-111111111111"
	orderID2 = "22222222-2222-4222-8222-222222222222"
	unknown1 = "33333333-3333-4333-8333-333333333333"
	badObj   = "44444444-4444-4444-8444-444444444444"
)

func decode[T any](t *testing.T, body string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("body %q: %v", body, err)
	}
	return v
}

func TestAcceptsAndRoutesEveryEvent(t *testing.T) {
	l, p := newFakeLedger(), &fakePublisher{}
	s := newService(fakeAuth{}, l, p, Options{})
	body := `{"payload":[` + strings.Join([]string{
		event(orderID1, "ORDER.NEW", `{"id":"o-1","status":"NEW"}`),
		event(orderID2, "POSITION.UPDATED", `{"account_id":"a","instrument":{"uuid":"u"}}`),
		event(unknown1, "SOMETHING_NEW.HAPPENED", `{"id":"x"}`),
		event(badObj, "ORDER.NEW", `{"status":"NEW"}`), // no object id: parked
		event("not-a-uuid", "ORDER.NEW", `{"id":"o-2"}`),
		event(orderID1, "ORDER.NEW", `{"id":"o-1","status":"NEW"}`), // same event twice in one request
	}, ",") + `]}`

	resp, err := s.Handle(context.Background(), request(body))
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d err %v body %s", resp.StatusCode, err, resp.Body)
	}
	got := decode[Summary](t, resp.Body)
	want := Summary{Received: 3, Duplicates: 1, Parked: 2, Enqueued: 3}
	if got != want {
		t.Errorf("summary = %+v, want %+v", got, want)
	}
	domains := map[string]upvest.Domain{}
	for _, m := range p.sent {
		domains[m.EventID] = m.Domain
	}
	wantDomains := map[string]upvest.Domain{orderID1: upvest.Orders, orderID2: upvest.Holdings, unknown1: upvest.Unrouted}
	if fmt.Sprint(domains) != fmt.Sprint(wantDomains) {
		t.Errorf("fanned out %v, want %v", domains, wantDomains)
	}
	if l.Status(orderID1) != ledger.Received || l.Status(badObj) != ledger.Parked {
		t.Errorf("statuses %s %s: events stay RECEIVED until their worker's outcome", l.Status(orderID1), l.Status(badObj))
	}
	if r := read(t, l, badObj); !strings.Contains(r.Reason, "object.id") {
		t.Errorf("parked reason %q does not name the missing field", r.Reason)
	}
	parkedByContent := 0
	for _, id := range l.Keys() {
		if strings.HasPrefix(id, InvalidKeyPrefix) && l.Status(id) == ledger.Parked {
			parkedByContent++
		}
	}
	if parkedByContent != 1 {
		t.Errorf("an event without a usable id must be parked under a content key; keys %v", l.Keys())
	}
}

func TestRedeliveryOfSettledEventsAddsNothing(t *testing.T) {
	l, p := newFakeLedger(), &fakePublisher{}
	s := newService(fakeAuth{}, l, p, Options{})
	body := `{"payload":[` + event(orderID1, "ORDER.NEW", `{"id":"o-1"}`) + `]}`
	if resp, _ := s.Handle(context.Background(), request(body)); resp.StatusCode != http.StatusOK {
		t.Fatalf("first delivery: status %d", resp.StatusCode)
	}
	if err := l.RecordOutcome(context.Background(), orderID1, ledger.Applied, ""); err != nil {
		t.Fatal(err)
	}
	resp, _ := s.Handle(context.Background(), request(body))
	if got := decode[Summary](t, resp.Body); resp.StatusCode != http.StatusOK || got != (Summary{Duplicates: 1}) {
		t.Errorf("redelivery of an applied event: %d %+v", resp.StatusCode, got)
	}
	if len(p.sent) != 1 {
		t.Errorf("sent %d messages for one event delivered twice, want 1", len(p.sent))
	}
}

// Ingest writes one record per event and nothing else: the record stays
// RECEIVED (and is sent again on redelivery) until its worker moves it on.
func TestOneLedgerWritePerEventAndRedeliveryOfPendingRefans(t *testing.T) {
	counting := &countingLedger{Memory: newFakeLedger()}
	p := &fakePublisher{}
	s := newService(fakeAuth{}, counting, p, Options{})
	body := `{"payload":[` + event(orderID1, "ORDER.NEW", `{"id":"o-1"}`) + `,` + event(orderID2, "ORDER.NEW", `{"id":"o-2"}`) + `]}`
	s.Handle(context.Background(), request(body))
	if n := counting.calls.Load(); n != 2 {
		t.Errorf("%d ledger calls for 2 events, want 2", n)
	}
	resp, _ := s.Handle(context.Background(), request(body))
	if got := decode[Summary](t, resp.Body); got != (Summary{Refanned: 2, Enqueued: 2}) || len(p.sent) != 4 {
		t.Errorf("redelivery before the workers ran: %+v, %d messages", got, len(p.sent))
	}
}

type countingLedger struct {
	*ledgertest.Memory
	calls atomic.Int64
}

func (c *countingLedger) Claim(ctx context.Context, rec ledger.Record) (ledger.ClaimResult, ledger.Status, error) {
	c.calls.Add(1)
	return c.Memory.Claim(ctx, rec)
}

func TestFailedFanOutFailsRequestAndRedeliveryFansOutAgain(t *testing.T) {
	l, p := newFakeLedger(), &fakePublisher{err: errors.New("sqs down")}
	s := newService(fakeAuth{}, l, p, Options{})
	body := `{"payload":[` + event(orderID1, "ORDER.NEW", `{"id":"o-1"}`) + `]}`

	resp, _ := s.Handle(context.Background(), request(body))
	if resp.StatusCode != http.StatusInternalServerError {
		t.Fatalf("status %d, want 500 so Upvest retries", resp.StatusCode)
	}
	if strings.Contains(resp.Body, "sqs down") {
		t.Errorf("internal error leaked: %s", resp.Body)
	}
	if l.Status(orderID1) != ledger.Received {
		t.Fatalf("status %s, want RECEIVED after a failed fan-out", l.Status(orderID1))
	}

	p.err = nil
	resp, _ = s.Handle(context.Background(), request(body))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("redelivery status %d", resp.StatusCode)
	}
	if got := decode[Summary](t, resp.Body); got.Refanned != 1 || got.Enqueued != 1 {
		t.Errorf("redelivery summary %+v, want the event fanned out again", got)
	}
	if len(p.sent) != 1 {
		t.Errorf("sent %d, want 1", len(p.sent))
	}
}

func TestLedgerFailureFailsRequestWithoutFanOut(t *testing.T) {
	l, p := newFakeLedger(), &fakePublisher{}
	l.ClaimErr = errors.New("throttled")
	s := newService(fakeAuth{}, l, p, Options{})
	resp, _ := s.Handle(context.Background(), request(`{"payload":[`+event(orderID1, "ORDER.NEW", `{"id":"o"}`)+`]}`))
	if resp.StatusCode != http.StatusInternalServerError || len(p.sent) != 0 {
		t.Errorf("status %d, sent %d; want 500 and nothing sent", resp.StatusCode, len(p.sent))
	}
}

func TestRejections(t *testing.T) {
	valid := `{"payload":[]}`
	tests := []struct {
		name     string
		auth     error
		sources  SourceFilter
		mutate   func(*events.APIGatewayV2HTTPRequest)
		opts     Options
		status   int
		errorKey string
	}{
		{name: "bad signature", auth: fmt.Errorf("x: %w", signature.ErrBadSignature), status: 401, errorKey: "unauthorized"},
		{name: "digest mismatch", auth: signature.ErrDigestMismatch, status: 401, errorKey: "unauthorized"},
		{name: "keys unavailable", auth: errors.New("ssm: access denied"), status: 503, errorKey: "unavailable"},
		{name: "bad base64", mutate: func(r *events.APIGatewayV2HTTPRequest) { r.Body, r.IsBase64Encoded = "%%%", true }, status: 400, errorKey: "bad_request"},
		{name: "wrong method", mutate: func(r *events.APIGatewayV2HTTPRequest) { r.RequestContext.HTTP.Method = "GET" }, status: 405, errorKey: "method_not_allowed"},
		{name: "outside allowlist", sources: allowOnly("1.2.3.4"), status: 403, errorKey: "forbidden"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newFakeLedger()
			s := newService(fakeAuth{err: tt.auth}, l, &fakePublisher{}, tt.opts)
			s.sources = tt.sources
			req := request(valid)
			if tt.mutate != nil {
				tt.mutate(&req)
			}
			resp, err := s.Handle(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d (%s)", resp.StatusCode, tt.status, resp.Body)
			}
			if got := decode[ErrorBody](t, resp.Body); got.Error != tt.errorKey || got.Message == "" {
				t.Errorf("body %s, want error %q with a message", resp.Body, tt.errorKey)
			}
			if resp.Headers["content-type"] != "application/json" {
				t.Errorf("content-type %q", resp.Headers["content-type"])
			}
			if keys := l.Keys(); len(keys) != 0 {
				t.Errorf("a rejected request stored %v", keys)
			}
		})
	}
}

func TestBase64BodyIsDecodedBeforeVerification(t *testing.T) {
	var seen []byte
	auth := authFunc(func(r signature.Request) error { seen = r.Body; return nil })
	s := newService(auth, newFakeLedger(), &fakePublisher{}, Options{})
	req := request(base64.StdEncoding.EncodeToString([]byte(`{"payload":[]}`)))
	req.IsBase64Encoded = true
	if resp, _ := s.Handle(context.Background(), req); resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if string(seen) != `{"payload":[]}` {
		t.Errorf("verifier saw %q", seen)
	}
}

type authFunc func(signature.Request) error

func (f authFunc) Verify(_ context.Context, r signature.Request) error { return f(r) }

func TestSignedPath(t *testing.T) {
	tests := []struct {
		name, public, rawPath, stage, want string
	}{
		{"default stage", "", "/webhooks", "$default", "/webhooks"},
		{"named stage stripped", "", "/prod/webhooks", "prod", "/webhooks"},
		{"configured public path wins", "/upvest/webhooks", "/webhooks", "$default", "/upvest/webhooks"},
		{"percent-decoded", "", "/a%20b", "$default", "/a b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got string
			auth := authFunc(func(r signature.Request) error { got = r.Path; return nil })
			s := newService(auth, newFakeLedger(), &fakePublisher{}, Options{PublicPath: tt.public})
			req := request(`{"payload":[]}`)
			req.RawPath, req.RequestContext.Stage = tt.rawPath, tt.stage
			s.Handle(context.Background(), req)
			if got != tt.want {
				t.Errorf("signed path %q, want %q", got, tt.want)
			}
		})
	}
}

// An authentic body that is not an envelope can never succeed: it is kept
// whole under its digest, answered 200, and a redelivery finds it kept.
func TestAuthenticNonEnvelopesAreKeptWholeAndAnswered200(t *testing.T) {
	bodies := map[string]string{
		"empty body":        "",
		"not json":          "hello",
		"bare array":        `[` + event(orderID1, "ORDER.NEW", `{"id":"o-1"}`) + `]`,
		"byte-order mark":   "\xef\xbb\xbf" + `{"payload":[]}`,
		"trailing bytes":    `{"payload":[]}x`,
		"no payload":        `{"events":[]}`,
		"payload not array": `{"payload":{}}`,
		"invalid utf-8":     "{\"payload\":[\xff",
	}
	for name, body := range bodies {
		t.Run(name, func(t *testing.T) {
			l, p := newFakeLedger(), &fakePublisher{}
			s := newService(fakeAuth{}, l, p, Options{})
			for delivery, want := range []Summary{{Parked: 1}, {Duplicates: 1}} {
				resp, _ := s.Handle(context.Background(), request(body))
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("delivery %d: status %d %s, want 200", delivery+1, resp.StatusCode, resp.Body)
				}
				if got := decode[Summary](t, resp.Body); got != want {
					t.Errorf("delivery %d: %+v, want %+v", delivery+1, got, want)
				}
			}
			keys, _ := l.Parked(context.Background(), ledger.RequestsPartition)
			if len(keys) != 1 || !strings.HasPrefix(keys[0], RequestKeyPrefix) {
				t.Fatalf("kept requests %v", keys)
			}
			kept := read(t, l, keys[0])
			if string(kept.Raw) != body || kept.Kind != ledger.KindRequest || kept.Status != ledger.Parked || kept.Reason == "" {
				t.Errorf("kept %+v", kept)
			}
			if len(p.sent) != 0 {
				t.Errorf("sent %d messages for a body with no events", len(p.sent))
			}
		})
	}
}

// Events that can never be processed are parked one by one, with their exact
// bytes; the rest of their request goes through.
func TestEventsThatCanNeverSucceedAreParkedAlone(t *testing.T) {
	deep := `{"id":"` + badObj + `","object":` + strings.Repeat(`{"a":`, 20_000) + `1` + strings.Repeat(`}`, 20_000) + `}`
	notUTF8 := event("55555555-5555-4555-8555-555555555555", "ORDER.NEW", "{\"id\":\"o-\xff\"}")
	longID := event(strings.Repeat("9", 100_000), "ORDER.NEW", `{"id":"o-3"}`)
	nonChars := event(orderID2, "ORDER.NEW", "{\"id\":\"o-2\",\"note\":\"\uFFFE\uFFFF \U0001F680\"}")
	good := event(orderID1, "ORDER.NEW", `{"id":"o-1"}`)
	body := `{"payload":[` + strings.Join([]string{deep, notUTF8, good, longID, nonChars}, ",") + `]}`

	l, p := newFakeLedger(), &fakePublisher{}
	s := newService(fakeAuth{}, l, p, Options{})
	resp, _ := s.Handle(context.Background(), request(body))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d %s", resp.StatusCode, resp.Body)
	}
	if got := decode[Summary](t, resp.Body); got != (Summary{Received: 2, Parked: 3, Enqueued: 2}) {
		t.Errorf("summary %+v", got)
	}
	sent := map[string]string{}
	for _, m := range p.sent {
		sent[m.EventID] = string(m.Raw)
	}
	if sent[orderID1] != good || sent[orderID2] != nonChars {
		t.Errorf("good events must go out byte for byte; sent %d", len(sent))
	}
	parked, _ := l.Parked(context.Background(), string(upvest.Orders))
	parked2, _ := l.Parked(context.Background(), string(upvest.Unrouted))
	kept := map[string]bool{}
	for _, id := range append(parked, parked2...) {
		kept[string(read(t, l, id).Raw)] = true
		if r := read(t, l, id); len(id) > 100 || len(r.Reason) > 1000 || r.Reason == "" {
			t.Errorf("parked %q: key or reason unbounded or empty (%q)", id[:20], r.Reason)
		}
	}
	for name, raw := range map[string]string{"too deep": deep, "not UTF-8": notUTF8, "over-long id": longID} {
		if !kept[raw] {
			t.Errorf("%s event not kept with its exact bytes", name)
		}
	}
}

// failOnce fails the first claim of one key, as a throttled write would.
type failOnce struct {
	Ledger
	key    string
	failed atomic.Bool
}

func (f *failOnce) Claim(ctx context.Context, rec ledger.Record) (ledger.ClaimResult, ledger.Status, error) {
	if rec.EventID == f.key && !f.failed.Swap(true) {
		return 0, "", errors.New("injected: ProvisionedThroughputExceededException")
	}
	return f.Ledger.Claim(ctx, rec)
}

// A parked event is reported (error line and the metrics the alarm watches)
// when its record is written, even if the request then fails on another
// event: the redelivery finds the record settled and says nothing more.
func TestAParkedEventIsReportedOnceEvenWhenItsRequestFails(t *testing.T) {
	mem := newFakeLedger()
	var metrics, logs bytes.Buffer
	s := New(fakeAuth{}, nil, &failOnce{Ledger: mem, key: orderID2}, &fakePublisher{}, slog.New(slog.NewJSONHandler(&logs, nil)),
		observability.NewMetrics(&metrics, "ingest"), Options{Concurrency: 1})
	body := `{"payload":[` + event(badObj, "ORDER.NEW", `{"status":"NEW"}`) + `,` + // no object.id: parked
		event(orderID2, "ORDER.NEW", `{"id":"o-2","status":"NEW"}`) + `]}`
	for delivery, want := range []int{http.StatusInternalServerError, http.StatusOK} {
		if resp, _ := s.Handle(context.Background(), request(body)); resp.StatusCode != want {
			t.Fatalf("delivery %d: %d %s, want %d", delivery+1, resp.StatusCode, resp.Body, want)
		}
	}
	if got := read(t, mem, badObj).Status; got != ledger.Parked {
		t.Fatalf("the event without an id is %s, want PARKED", got)
	}
	if n := strings.Count(metrics.String(), `"EventsParked":1`); n != 1 {
		t.Errorf("EventsParked counted in %d flushes, want 1:\n%s", n, metrics.String())
	}
	if n := strings.Count(logs.String(), "can never be processed"); n != 1 {
		t.Errorf("the parked event logged %d times, want once:\n%s", n, logs.String())
	}
}

// invocationContext is a Lambda invocation's context whose deadline is
// reported but never reached: the test does not depend on how fast a loaded
// machine runs. Work that waits for the invocation itself to end never ends.
type invocationContext struct {
	context.Context
	deadline time.Time
}

func (c invocationContext) Deadline() (time.Time, bool) { return c.deadline, true }

// slowPublisher sends the first message and not the others, and only says so
// once the request's time is up: SQS answering too slowly for the deadline.
// A context that does not end before the invocation's deadline is an error at
// once (the request would wait until Lambda stopped it), noted in unbounded.
type slowPublisher struct {
	invocation time.Time
	unbounded  *atomic.Bool
}

func (p slowPublisher) Publish(ctx context.Context, msgs []fanout.Message) error {
	if end, ok := ctx.Deadline(); !ok || !end.Before(p.invocation) {
		p.unbounded.Store(true)
		return errors.New("the send's context does not end before the invocation's deadline")
	}
	<-ctx.Done()
	var failed []string
	for _, m := range msgs[1:] {
		failed = append(failed, m.EventID)
	}
	return &fanout.PartialError{Failed: failed, Err: ctx.Err()}
}

// deadlineLedger refuses calls whose context has ended, as the SDK does.
type deadlineLedger struct{ *ledgertest.Memory }

func (l deadlineLedger) MarkEnqueued(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return l.Memory.MarkEnqueued(ctx, id)
}

// A request still waiting for SQS (or DynamoDB) near the invocation's
// deadline answers 500 itself before the deadline, logged and counted, and
// marks what did go out; at the deadline Lambda would stop it with none of that.
// The invocation's context never ends here: the request's calls must end by
// their own earlier deadline, and the answer must not wait for the invocation.
func TestARequestAnswersBeforeTheInvocationDeadline(t *testing.T) {
	mem := newFakeLedger()
	var metrics, logs bytes.Buffer
	invocation := invocationContext{context.Background(), time.Now().Add(6 * time.Second)} // the function timeout
	var unbounded atomic.Bool
	s := New(fakeAuth{}, nil, deadlineLedger{mem}, slowPublisher{invocation.deadline, &unbounded}, slog.New(slog.NewJSONHandler(&logs, nil)),
		observability.NewMetrics(&metrics, "ingest"), Options{AnswerMargin: 1500 * time.Millisecond})
	body := `{"payload":[` + event(orderID1, "ORDER.NEW", `{"id":"o-1"}`) + `,` + event(orderID2, "ORDER.NEW", `{"id":"o-2"}`) + `]}`

	resp, _ := s.Handle(invocation, request(body))
	if unbounded.Load() {
		t.Fatal("the request waited for SQS until the invocation's deadline: Lambda would have stopped it first")
	}
	if resp.StatusCode != http.StatusInternalServerError || decode[ErrorBody](t, resp.Body).Error != "internal_error" {
		t.Errorf("answer %d %s, want 500 internal_error", resp.StatusCode, resp.Body)
	}
	if got := mem.Status(orderID1); got != ledger.Enqueued {
		t.Errorf("the event that went out is %s, want ENQUEUED", got)
	}
	if got := mem.Status(orderID2); got != ledger.Received {
		t.Errorf("the event that did not go out is %s, want RECEIVED", got)
	}
	if !strings.Contains(logs.String(), "request not fully recorded") || !strings.Contains(metrics.String(), observability.MetricFailed) {
		t.Errorf("the failure is neither logged nor counted:\n%s\n%s", logs.String(), metrics.String())
	}
}

// meetingReads fails a Read unless another Read is in flight with it.
type meetingReads struct {
	*ledgertest.Memory
	arrived chan struct{}
}

func (l meetingReads) Read(ctx context.Context, key string) (ledger.Stored, error) {
	select {
	case l.arrived <- struct{}{}: // the other read is waiting
	case <-l.arrived: // this one waited for the other
	case <-time.After(10 * time.Second):
		return ledger.Stored{}, errors.New("no other read in flight: the recorded events are read one at a time")
	}
	return l.Memory.Read(ctx, key)
}

// A redelivery whose every event changed (Upvest re-rendered them with a new
// field, say) reads each recorded event to send it again: those reads run
// beside each other, as the claims do, not one after the other at the end.
func TestRecordedEventsOfConflictsAreReadConcurrently(t *testing.T) {
	mem := newFakeLedger()
	p := &fakePublisher{}
	first := `{"payload":[` + event(orderID1, "ORDER.NEW", `{"id":"o-1"}`) + `,` + event(orderID2, "ORDER.NEW", `{"id":"o-2"}`) + `]}`
	if resp, _ := newService(fakeAuth{}, mem, p, Options{}).Handle(context.Background(), request(first)); resp.StatusCode != http.StatusOK {
		t.Fatalf("first delivery: %d %s", resp.StatusCode, resp.Body)
	}
	changed := `{"payload":[` + event(orderID1, "ORDER.NEW", `{"id":"o-1","new":1}`) + `,` + event(orderID2, "ORDER.NEW", `{"id":"o-2","new":1}`) + `]}`
	resp, _ := newService(fakeAuth{}, meetingReads{mem, make(chan struct{})}, p, Options{}).Handle(context.Background(), request(changed))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("changed redelivery: %d %s", resp.StatusCode, resp.Body)
	}
	if got := decode[Summary](t, resp.Body); got.Refanned != 2 || got.Parked != 2 || got.Enqueued != 2 {
		t.Errorf("summary %+v, want both recorded events sent again and both changed ones kept aside", got)
	}
}
