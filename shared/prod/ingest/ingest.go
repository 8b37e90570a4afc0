// Package ingest is the webhook receiver: it authenticates an Upvest request,
// records every event in the ledger (the dedup record and event log), fans the
// events out to their domain queues, and answers 200 only when no event can be lost.
package ingest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"golang.org/x/sync/errgroup"

	upvest "github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/deadline"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/fanout"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/ledger"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/observability"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/signature"
)

// Authenticator verifies Upvest's HTTP message signature.
type Authenticator interface {
	Verify(ctx context.Context, r signature.Request) error
}

// SourceFilter decides whether a client IP may call at all.
type SourceFilter interface {
	Allows(ip string) bool
}

// Ledger records events, and requests that are not envelopes, with one
// conditional put each; MarkEnqueued is for the rare partly failed fan-out.
type Ledger interface {
	Claim(ctx context.Context, rec ledger.Record) (ledger.ClaimResult, ledger.Status, error)
	MarkEnqueued(ctx context.Context, eventID string) error
	// Read returns a recorded event: its bytes are the ones fanned out when a
	// redelivery brings other bytes under its id.
	Read(ctx context.Context, key string) (ledger.Stored, error)
}

var _ Ledger = (*ledger.Dynamo)(nil)

// Service handles API Gateway HTTP API (payload v2) requests.
type Service struct {
	auth       Authenticator
	sources    SourceFilter
	ledger     Ledger
	publisher  fanout.Publisher
	log        *slog.Logger
	metrics    *observability.Metrics
	publicPath string
	parallel   int
	margin     time.Duration
	tracer     trace.Tracer
	now        func() time.Time
}

// Options tune a Service.
type Options struct {
	// PublicPath is the URL path Upvest signs; empty means the request's path
	// without the API Gateway stage prefix.
	PublicPath string
	// Concurrency bounds the ledger writes in flight for one request; zero
	// adapts it to the package's size (ClaimsInFlight).
	Concurrency int
	// Tracing records a span per request and per signature check (shared/prod/tracing);
	// nil records nothing.
	Tracing trace.TracerProvider
	// Now is the clock events' ordering times are checked against
	// (events.MaxAhead); nil is time.Now.
	Now func() time.Time
	// AnswerMargin is how long before the invocation's deadline a request
	// stops waiting for DynamoDB and SQS; zero is DefaultAnswerMargin.
	AnswerMargin time.Duration
}

// DefaultAnswerMargin is how long before the invocation's deadline (the
// function timeout) a request gives up on the calls still running, marks what
// it did send and answers 500 itself, at most a quarter of the time it had. A
// function still waiting at its deadline is stopped by Lambda: API Gateway
// answers a bare 5xx, no log line says why, no Failed metric counts it, and the
// events that went out are not marked, so the redelivery sends them all again.
const DefaultAnswerMargin = 2 * time.Second

// markTimeout bounds the ENQUEUED marks after a failed fan-out; they run in
// the answer margin when the fan-out failed at the deadline.
const markTimeout = time.Second

// New returns a Service. sources may be nil (no IP allowlist).
func New(auth Authenticator, sources SourceFilter, l Ledger, p fanout.Publisher, log *slog.Logger, m *observability.Metrics, opts Options) *Service {
	if opts.Tracing == nil {
		opts.Tracing = noop.NewTracerProvider()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.AnswerMargin <= 0 {
		opts.AnswerMargin = DefaultAnswerMargin
	}
	return &Service{
		auth: auth, sources: sources, ledger: l, publisher: p, log: log, metrics: m,
		publicPath: opts.PublicPath, parallel: opts.Concurrency, margin: opts.AnswerMargin,
		tracer: opts.Tracing.Tracer("github.com/upvest-webhooks/upvest-webhooks/shared/prod/ingest"),
		now:    opts.Now,
	}
}

// Span names of a request's trace.
const (
	SpanRequest   = "ingest request"
	SpanSignature = "signature verify"
)

// Summary is the body of a 200 answer.
type Summary struct {
	Received   int `json:"received"`   // new events recorded
	Duplicates int `json:"duplicates"` // events already recorded and settled
	Refanned   int `json:"refanned"`   // events recorded before and still RECEIVED (applied or not: the state row tells), sent again
	Parked     int `json:"parked"`     // events (or the whole request) kept aside as unusable
	Enqueued   int `json:"enqueued"`   // events sent to their queues by this request
}

// Handle answers one webhook request. It never returns an error: every
// failure becomes a documented status with a short JSON body.
func (s *Service) Handle(ctx context.Context, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	ctx, span := s.tracer.Start(ctx, SpanRequest, trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(attribute.String("faas.invocation_id", req.RequestContext.RequestID)))
	ctx, cancel := deadline.Before(ctx, s.margin)
	resp := s.handle(ctx, req)
	cancel()
	span.SetAttributes(attribute.Int("http.response.status_code", resp.StatusCode))
	if resp.StatusCode >= http.StatusInternalServerError {
		span.SetStatus(codes.Error, http.StatusText(resp.StatusCode))
	}
	span.End()
	if err := s.metrics.Flush(); err != nil {
		s.log.Warn("metrics not written", "error", err)
	}
	return resp, nil
}

func (s *Service) handle(ctx context.Context, req events.APIGatewayV2HTTPRequest) events.APIGatewayV2HTTPResponse {
	log := s.log.With("request_id", req.RequestContext.RequestID)
	if req.RequestContext.HTTP.Method != "" && req.RequestContext.HTTP.Method != http.MethodPost {
		return s.reject(http.StatusMethodNotAllowed, "method_not_allowed", "only POST is accepted")
	}
	if s.sources != nil && !s.sources.Allows(req.RequestContext.HTTP.SourceIP) {
		log.Warn("request from an address outside the allowlist", "source_ip", req.RequestContext.HTTP.SourceIP)
		s.metrics.Add(observability.MetricUnauthorized, 1)
		return answer(http.StatusForbidden, errorBody("forbidden", "source address not allowed"))
	}
	body, err := requestBody(req)
	if err != nil {
		// Only a broken gateway sends this; it cannot be authenticated.
		return s.reject(http.StatusBadRequest, "bad_request", "body is not valid base64")
	}

	vctx, vspan := s.tracer.Start(ctx, SpanSignature)
	err = s.auth.Verify(vctx, signature.Request{
		Method:   http.MethodPost,
		Path:     s.signedPath(req),
		RawQuery: req.RawQueryString,
		Header:   headers(req.Headers),
		Body:     body,
	})
	if err != nil {
		vspan.SetStatus(codes.Error, err.Error())
	}
	vspan.End()
	switch {
	case errors.Is(err, signature.ErrUnauthenticated):
		log.Warn("signature rejected", "reason", err.Error())
		s.metrics.Add(observability.MetricUnauthorized, 1)
		return answer(http.StatusUnauthorized, errorBody("unauthorized", "signature verification failed"))
	case err != nil:
		// The keys could not be loaded: a retry may succeed.
		log.Error("signature keys unavailable", "error", err)
		s.metrics.Add(observability.MetricFailed, 1)
		return answer(http.StatusServiceUnavailable, errorBody("unavailable", "try again later"))
	}

	// Authentic: from here on the answer is 200, unless a dependency failed
	// now and a retry can succeed. What can never succeed is kept.
	var summary Summary
	env, notEnvelope := upvest.DecodeEnvelope(body)
	if notEnvelope != nil {
		summary, err = s.keepRequest(ctx, log, body, notEnvelope)
	} else {
		summary, err = s.process(ctx, log, env)
	}
	if err != nil {
		log.Error("request not fully recorded; Upvest will retry", "error", err)
		s.metrics.Add(observability.MetricFailed, 1)
		return answer(http.StatusInternalServerError, errorBody("internal_error", "events not stored; retry later"))
	}
	log.Info("request accepted", "received", summary.Received, "duplicates", summary.Duplicates,
		"refanned", summary.Refanned, "parked", summary.Parked, "enqueued", summary.Enqueued)
	return answer(http.StatusOK, summary)
}

// Reingest records and fans out the events of a kept request body, as if
// Upvest had just sent it (a replay, once the code knows the body's shape).
// It fails with events.ErrNotEnvelope while the body is still not an envelope.
func (s *Service) Reingest(ctx context.Context, body []byte) (Summary, error) {
	env, err := upvest.DecodeEnvelope(body)
	if err != nil {
		return Summary{}, err
	}
	summary, err := s.process(ctx, s.log.With("replay", true), env)
	if flushErr := s.metrics.Flush(); flushErr != nil {
		s.log.Warn("metrics not written", "error", flushErr)
	}
	return summary, err
}

// requestBody returns the raw request body.
func requestBody(req events.APIGatewayV2HTTPRequest) ([]byte, error) {
	if !req.IsBase64Encoded {
		return []byte(req.Body), nil
	}
	return base64.StdEncoding.DecodeString(req.Body)
}

// keepRequest records an authentic body that is not an Upvest envelope, whole,
// under its digest: it is listed with the parked records and can be replayed
// once the code knows its shape. A redelivery finds it recorded.
func (s *Service) keepRequest(ctx context.Context, log *slog.Logger, body []byte, why error) (Summary, error) {
	sum := sha256.Sum256(body)
	rec := ledger.Record{
		EventID: RequestKeyPrefix + hex.EncodeToString(sum[:]), Kind: ledger.KindRequest,
		Raw: body, Status: ledger.Parked, Reason: why.Error(),
	}
	claim, _, err := s.ledger.Claim(ctx, rec)
	if err != nil {
		return Summary{}, err
	}
	if claim != ledger.ClaimNew {
		return Summary{Duplicates: 1}, nil
	}
	s.metrics.Add(observability.MetricRequestsParked, 1)
	log.Error("authentic request is not an Upvest envelope; kept whole and answered 200",
		"key", rec.EventID, "bytes", len(body), "reason", upvest.Truncate(rec.Reason, 300))
	return Summary{Parked: 1}, nil
}

// Ledger keys of records that have no event id of their own.
const (
	RequestKeyPrefix  = "request:"  // + hex SHA-256 of the body
	InvalidKeyPrefix  = "invalid:"  // + hex SHA-256 of the event's bytes
	ConflictKeyPrefix = "conflict:" // + event id + ":" + hex SHA-256 of the differing bytes
)

// ConflictKey is the ledger key of bytes that arrived under a recorded id
// with other content.
func ConflictKey(eventID string, raw []byte) string {
	sum := sha256.Sum256(raw)
	return ConflictKeyPrefix + eventID + ":" + hex.EncodeToString(sum[:])
}

// signedPath is the path Upvest signed: the configured public path, or the
// request path without a named stage's prefix, percent-decoded.
func (s *Service) signedPath(req events.APIGatewayV2HTTPRequest) string {
	if s.publicPath != "" {
		return s.publicPath
	}
	path := req.RawPath
	if stage := req.RequestContext.Stage; stage != "" && stage != "$default" {
		path = strings.TrimPrefix(path, "/"+stage)
	}
	if decoded, err := url.PathUnescape(path); err == nil {
		path = decoded
	}
	return path
}

// pending is one event of the request on its way through the ledger.
type pending struct {
	record ledger.Record
	ahead  bool // parked as too far ahead of the clock
	claim  ledger.ClaimResult
	status ledger.Status // the recorded event's status, on a conflict
	// conflicted: the ledger held other bytes under the id, so these were kept aside.
	conflicted bool
	// repeat: the id came earlier in this request with other bytes; claimed
	// once the first occurrence's claim said which bytes the ledger holds.
	repeat bool
	// resend: the recorded event, still RECEIVED, to send again instead of these bytes.
	resend *ledger.Stored
}

// process records every event, fans out what needs it, and fails when any
// event is neither recorded nor known to be on its queue.
func (s *Service) process(ctx context.Context, log *slog.Logger, env upvest.Envelope) (Summary, error) {
	var summary Summary
	items := make([]*pending, 0, len(env.Payload))
	seen := map[string][]byte{}
	now := s.now()
	// An event's claim starts as soon as it is classified: the first writes
	// are in flight while the rest of the package is still being read.
	group, gctx := errgroup.WithContext(ctx)
	group.SetLimit(s.claimsInFlight(len(env.Payload)))
	startClaim := func(item *pending) {
		items = append(items, item)
		group.Go(func() error {
			claim, status, err := s.ledger.Claim(gctx, item.record)
			item.claim, item.status = claim, status
			if err == nil && claim == ledger.ClaimConflict {
				// Other bytes under a recorded id: keep them aside under their own key.
				item.record, item.conflicted = conflictRecord(item.record), true
				item.claim, _, err = s.ledger.Claim(gctx, item.record)
				if err == nil && !item.repeat && status == ledger.Received {
					// The recorded event is still RECEIVED: it is sent again, its
					// bytes, not these. Read here, among the claims in flight: a
					// redelivery whose every event changed reads them all.
					var stored ledger.Stored
					stored, err = s.ledger.Read(gctx, conflictOf(item.record))
					item.resend = &stored
				}
			}
			if err == nil && item.claim == ledger.ClaimNew {
				// Now, not after the other claims: if one of them fails, the
				// redelivery finds this record settled and would say nothing.
				s.reportKeptAside(log, item)
			}
			return err
		})
	}
	firsts := map[string]*pending{}
	type repeat struct{ first, item *pending }
	var repeats []repeat
	for _, raw := range env.Payload {
		rec, ahead := recordFor(raw, now)
		if first, ok := seen[rec.EventID]; ok {
			if bytes.Equal(first, raw) {
				summary.Duplicates++ // the same event twice in one request
				continue
			}
			// The same id twice with other bytes: unless the ledger holds
			// other bytes still, the first is the event and this one is kept aside.
			conflict := conflictRecord(rec)
			if _, ok := seen[conflict.EventID]; ok {
				summary.Duplicates++
				continue
			}
			seen[conflict.EventID] = raw
			repeats = append(repeats, repeat{first: firsts[rec.EventID], item: &pending{record: rec, ahead: ahead, repeat: true}})
			continue
		}
		seen[rec.EventID] = raw
		item := &pending{record: rec, ahead: ahead}
		firsts[rec.EventID] = item
		startClaim(item)
	}
	if err := group.Wait(); err != nil {
		return summary, err
	}
	if len(repeats) > 0 {
		// Rare: an id twice in one request with other bytes. When the ledger
		// held other bytes than the first occurrence, a repeat may be those
		// bytes, the event itself: it is claimed under its id to find out.
		// Otherwise the first occurrence's bytes are the event's.
		group, gctx = errgroup.WithContext(ctx)
		group.SetLimit(s.claimsInFlight(len(repeats)))
		for _, r := range repeats {
			if !r.first.conflicted {
				r.item.record = conflictRecord(r.item.record)
			}
			startClaim(r.item)
		}
		if err := group.Wait(); err != nil {
			return summary, err
		}
	}

	var outgoing []fanout.Message
	for _, item := range items {
		rec := item.record
		if stored := item.resend; stored != nil {
			summary.Refanned++
			outgoing = append(outgoing, fanout.Message{EventID: stored.EventID, EventType: stored.EventType, Domain: stored.Domain, Raw: stored.Raw})
		}
		switch {
		case item.repeat && item.claim == ledger.ClaimPending:
			// The recorded bytes, which the first occurrence's conflict sent and counted.
			continue
		case item.claim == ledger.ClaimSettled:
			summary.Duplicates++
			continue
		case item.claim == ledger.ClaimNew && (rec.Kind == ledger.KindConflict || rec.Status == ledger.Parked):
			summary.Parked++ // reported when its claim succeeded
			continue
		case item.claim == ledger.ClaimConflict:
			// Cannot happen: a conflict record is keyed by its own bytes.
			return summary, fmt.Errorf("ledger key %s holds other bytes than its digest names", rec.EventID)
		case item.claim == ledger.ClaimNew:
			summary.Received++
		case item.claim == ledger.ClaimPending:
			summary.Refanned++
			log.Info("event recorded before but not yet applied; sending it again", "event_id", rec.EventID)
		}
		if rec.Domain == upvest.Unrouted {
			s.metrics.Add(observability.MetricUnrouted, 1)
			log.Warn("event of a category the routing table lacks", "event_id", rec.EventID, "event_type", rec.EventType)
		}
		outgoing = append(outgoing, fanout.Message{EventID: rec.EventID, EventType: rec.EventType, Domain: rec.Domain, Raw: rec.Raw})
	}
	s.metrics.Add(observability.MetricReceived, summary.Received)
	s.metrics.Add(observability.MetricDuplicate, summary.Duplicates)
	s.metrics.Add(observability.MetricRefanned, summary.Refanned)
	if len(outgoing) == 0 {
		return summary, nil
	}
	// On success no per-event mark follows: a RECEIVED record is fanned out
	// again on redelivery anyway, and the worker's outcome moves it on. Only
	// when some sends failed are the others marked, so that the redelivery
	// this 500 causes sends just the failed ones again.
	if err := s.publisher.Publish(ctx, outgoing); err != nil {
		// Even when the request's time is up: what went out need not go again.
		mctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), markTimeout)
		s.markEnqueued(mctx, log, sentDespite(outgoing, err))
		cancel()
		return summary, err
	}
	summary.Enqueued = len(outgoing)
	s.metrics.Add(observability.MetricEnqueued, len(outgoing))
	return summary, nil
}

// reportKeptAside logs and counts a record newly kept aside: bytes under a
// recorded id that differ (conflict) or an event that can never be processed
// as it is (parked). The alarm on these metrics is what tells an operator.
func (s *Service) reportKeptAside(log *slog.Logger, item *pending) {
	rec := item.record
	switch {
	case rec.Kind == ledger.KindConflict:
		s.metrics.Add(observability.MetricParked, 1)
		s.metrics.Add(observability.MetricConflicting, 1)
		log.Error("event id recorded before with other bytes; the recorded bytes stay the event, these are kept aside",
			"key", rec.EventID, "event_type", upvest.Truncate(rec.EventType, 100))
	case rec.Status == ledger.Parked:
		s.metrics.Add(observability.MetricParked, 1)
		if item.ahead {
			s.metrics.Add(observability.MetricAhead, 1)
		}
		log.Error("event can never be processed as it is; parked", "event_id", rec.EventID,
			"event_type", upvest.Truncate(rec.EventType, 100), "reason", upvest.Truncate(rec.Reason, 300))
	}
}

// sentDespite returns the messages that reached their queues despite err.
func sentDespite(outgoing []fanout.Message, err error) []fanout.Message {
	var partial *fanout.PartialError
	if !errors.As(err, &partial) {
		return nil // nothing known to be sent
	}
	failed := map[string]bool{}
	for _, id := range partial.Failed {
		failed[id] = true
	}
	var sent []fanout.Message
	for _, m := range outgoing {
		if !failed[m.EventID] {
			sent = append(sent, m)
		}
	}
	return sent
}

// markEnqueued records the events that are on their queues. A failed mark
// only means a redelivery sends that event again, which the workers absorb.
func (s *Service) markEnqueued(ctx context.Context, log *slog.Logger, sent []fanout.Message) {
	marks, mctx := errgroup.WithContext(ctx)
	marks.SetLimit(s.claimsInFlight(len(sent)))
	for _, m := range sent {
		marks.Go(func() error {
			if err := s.ledger.MarkEnqueued(mctx, m.EventID); err != nil {
				log.Warn("event enqueued but not marked", "event_id", m.EventID, "error", err)
			}
			return nil
		})
	}
	_ = marks.Wait()
}

// recordFor turns one raw event into its ledger record: RECEIVED and routed
// when it is usable, PARKED with the reason when it never will be (ahead: its
// ordering time lies too far past now).
func recordFor(raw json.RawMessage, now time.Time) (ledger.Record, bool) {
	e, route, err := upvest.ClassifyAt(raw, now)
	if errors.Is(err, upvest.ErrAhead) {
		return ledger.Record{EventID: e.ID, EventType: e.Type, Domain: route.Domain, EntityKey: route.EntityKey,
			Raw: raw, Status: ledger.Parked, Reason: err.Error()}, true
	}
	if err != nil {
		id := e.ID
		if !upvest.IsUUID(id) {
			// No usable id: key it by content so a redelivery still dedupes.
			sum := sha256.Sum256(raw)
			id = InvalidKeyPrefix + hex.EncodeToString(sum[:])
		}
		domain, _ := upvest.Lookup(e.Category())
		return ledger.Record{EventID: id, EventType: e.Type, Domain: domain.Domain, Raw: raw, Status: ledger.Parked, Reason: err.Error()}, false
	}
	return ledger.Record{
		EventID: e.ID, EventType: e.Type, Domain: route.Domain, EntityKey: route.EntityKey, Raw: raw, Status: ledger.Received,
	}, false
}

// conflictRecord keeps bytes that arrived under a recorded id with other
// content: parked under their own key, in their own domain's partition, never
// applied. The recorded event stays what the id means.
func conflictRecord(rec ledger.Record) ledger.Record {
	domain := rec.Domain
	if domain == "" {
		domain = upvest.Unrouted
	}
	return ledger.Record{
		EventID: ConflictKey(rec.EventID, rec.Raw), Kind: ledger.KindConflict, EventType: rec.EventType, Domain: domain,
		EntityKey: rec.EntityKey, Raw: rec.Raw, Status: ledger.Parked,
		Reason: "event id " + rec.EventID + " was recorded before with other bytes; the recorded bytes are the event, these are kept aside unapplied",
	}
}

// conflictOf returns the event id a conflict record's key names.
func conflictOf(rec ledger.Record) string {
	id := strings.TrimPrefix(rec.EventID, ConflictKeyPrefix)
	if i := strings.LastIndexByte(id, ':'); i >= 0 {
		id = id[:i]
	}
	return id
}

func (s *Service) reject(status int, code, message string) events.APIGatewayV2HTTPResponse {
	s.metrics.Add(observability.MetricRejected, 1)
	return answer(status, errorBody(code, message))
}

// ErrorBody is the JSON body of every non-200 answer.
type ErrorBody struct {
	Error   string `json:"error"`
	Message string `json:"message"`
}

func errorBody(code, message string) ErrorBody { return ErrorBody{Error: code, Message: message} }

func answer(status int, body any) events.APIGatewayV2HTTPResponse {
	b, err := json.Marshal(body)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"internal_error","message":"retry later"}`)
	}
	return events.APIGatewayV2HTTPResponse{
		StatusCode: status,
		Headers:    map[string]string{"content-type": "application/json"},
		Body:       string(b),
	}
}

// headers turns API Gateway's lower-cased, comma-joined header map into an http.Header.
func headers(in map[string]string) http.Header {
	h := make(http.Header, len(in))
	for name, value := range in {
		h.Set(name, value)
	}
	return h
}
