package ingest

import (
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
	"testing"

	"github.com/aws/aws-lambda-go/events"

	upvest "github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/shared/fanout"
	"github.com/upvest-webhooks/upvest-webhooks/shared/ledger"
	"github.com/upvest-webhooks/upvest-webhooks/shared/observability"
	"github.com/upvest-webhooks/upvest-webhooks/shared/signature"
)

// fakeLedger is an in-memory ledger with fault injection; the real conditions
// are tested against DynamoDB Local in integration_test.go.
type fakeLedger struct {
	mu       sync.Mutex
	statuses map[string]ledger.Status
	records  map[string]ledger.Record
	claimErr error
	markErr  error
}

func newFakeLedger() *fakeLedger {
	return &fakeLedger{statuses: map[string]ledger.Status{}, records: map[string]ledger.Record{}}
}

func (l *fakeLedger) Claim(_ context.Context, rec ledger.Record) (ledger.ClaimResult, ledger.Status, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.claimErr != nil {
		return 0, "", l.claimErr
	}
	if st, ok := l.statuses[rec.EventID]; ok {
		if st.Settled() {
			return ledger.ClaimSettled, st, nil
		}
		return ledger.ClaimRetry, st, nil
	}
	l.statuses[rec.EventID] = rec.Status
	l.records[rec.EventID] = rec
	return ledger.ClaimNew, rec.Status, nil
}

func (l *fakeLedger) MarkEnqueued(_ context.Context, id string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.markErr != nil {
		return l.markErr
	}
	if l.statuses[id] == ledger.Received {
		l.statuses[id] = ledger.Enqueued
	}
	return nil
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
	if l.statuses[orderID1] != ledger.Enqueued || l.statuses[badObj] != ledger.Parked {
		t.Errorf("ledger statuses %v", l.statuses)
	}
	if r := l.records[badObj]; !strings.Contains(r.Reason, "object.id") {
		t.Errorf("parked reason %q does not name the missing field", r.Reason)
	}
	parkedByContent := 0
	for id, st := range l.statuses {
		if strings.HasPrefix(id, "invalid:") && st == ledger.Parked {
			parkedByContent++
		}
	}
	if parkedByContent != 1 {
		t.Errorf("an event without a usable id must be parked under a content key; statuses %v", l.statuses)
	}
}

func TestRedeliveryOfSettledEventsAddsNothing(t *testing.T) {
	l, p := newFakeLedger(), &fakePublisher{}
	s := newService(fakeAuth{}, l, p, Options{})
	body := `{"payload":[` + event(orderID1, "ORDER.NEW", `{"id":"o-1"}`) + `]}`
	for i := 0; i < 2; i++ {
		if resp, _ := s.Handle(context.Background(), request(body)); resp.StatusCode != http.StatusOK {
			t.Fatalf("delivery %d: status %d", i, resp.StatusCode)
		}
	}
	if len(p.sent) != 1 {
		t.Errorf("sent %d messages for one event delivered twice, want 1", len(p.sent))
	}
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
	if l.statuses[orderID1] != ledger.Received {
		t.Fatalf("status %s, want RECEIVED after a failed fan-out", l.statuses[orderID1])
	}

	p.err = nil
	resp, _ = s.Handle(context.Background(), request(body))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("redelivery status %d", resp.StatusCode)
	}
	if got := decode[Summary](t, resp.Body); got.Refanned != 1 || got.Enqueued != 1 {
		t.Errorf("redelivery summary %+v, want the event fanned out again", got)
	}
	if len(p.sent) != 1 || l.statuses[orderID1] != ledger.Enqueued {
		t.Errorf("sent %d, status %s", len(p.sent), l.statuses[orderID1])
	}
}

func TestLedgerFailureFailsRequestWithoutFanOut(t *testing.T) {
	l, p := newFakeLedger(), &fakePublisher{}
	l.claimErr = errors.New("throttled")
	s := newService(fakeAuth{}, l, p, Options{})
	resp, _ := s.Handle(context.Background(), request(`{"payload":[`+event(orderID1, "ORDER.NEW", `{"id":"o"}`)+`]}`))
	if resp.StatusCode != http.StatusInternalServerError || len(p.sent) != 0 {
		t.Errorf("status %d, sent %d; want 500 and nothing sent", resp.StatusCode, len(p.sent))
	}
}

func TestMarkFailureAfterFanOutStillAnswers200(t *testing.T) {
	l, p := newFakeLedger(), &fakePublisher{}
	l.markErr = errors.New("throttled")
	s := newService(fakeAuth{}, l, p, Options{})
	resp, _ := s.Handle(context.Background(), request(`{"payload":[`+event(orderID1, "ORDER.NEW", `{"id":"o"}`)+`]}`))
	if resp.StatusCode != http.StatusOK || len(p.sent) != 1 {
		t.Errorf("status %d sent %d: the event is on its queue, so the request succeeded", resp.StatusCode, len(p.sent))
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
		{name: "not json", mutate: func(r *events.APIGatewayV2HTTPRequest) { r.Body = "hello" }, status: 400, errorKey: "bad_request"},
		{name: "no payload", mutate: func(r *events.APIGatewayV2HTTPRequest) { r.Body = `{"events":[]}` }, status: 400, errorKey: "bad_request"},
		{name: "payload not array", mutate: func(r *events.APIGatewayV2HTTPRequest) { r.Body = `{"payload":{}}` }, status: 400, errorKey: "bad_request"},
		{name: "bad base64", mutate: func(r *events.APIGatewayV2HTTPRequest) { r.Body, r.IsBase64Encoded = "%%%", true }, status: 400, errorKey: "bad_request"},
		{name: "too large", opts: Options{MaxBodyBytes: 10}, status: 413, errorKey: "payload_too_large"},
		{name: "too large base64", opts: Options{MaxBodyBytes: 10}, mutate: func(r *events.APIGatewayV2HTTPRequest) {
			r.Body, r.IsBase64Encoded = base64.StdEncoding.EncodeToString([]byte(valid)), true
		}, status: 413, errorKey: "payload_too_large"},
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
			if len(l.records) != 0 {
				t.Errorf("a rejected request stored %d records", len(l.records))
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
