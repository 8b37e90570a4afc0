// Package ingest is the webhook receiver: it authenticates an Upvest request,
// records every event in the ledger (the dedup record and event log), fans the
// events out to their domain queues, and answers 200 only when no event can be lost.
package ingest

import (
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

	"github.com/aws/aws-lambda-go/events"
	"golang.org/x/sync/errgroup"

	upvest "github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/shared/fanout"
	"github.com/upvest-webhooks/upvest-webhooks/shared/ledger"
	"github.com/upvest-webhooks/upvest-webhooks/shared/observability"
	"github.com/upvest-webhooks/upvest-webhooks/shared/signature"
)

// Authenticator verifies Upvest's HTTP message signature.
type Authenticator interface {
	Verify(ctx context.Context, r signature.Request) error
}

// SourceFilter decides whether a client IP may call at all.
type SourceFilter interface {
	Allows(ip string) bool
}

// Ledger records events and their fan-out.
type Ledger interface {
	Claim(ctx context.Context, rec ledger.Record) (ledger.ClaimResult, ledger.Status, error)
	MarkEnqueued(ctx context.Context, eventID string) error
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
	maxBody    int64
	parallel   int
}

// Options tune a Service.
type Options struct {
	// PublicPath is the URL path Upvest signs; empty means the request's path
	// without the API Gateway stage prefix.
	PublicPath string
	// MaxBodyBytes is the largest body accepted (413 above).
	MaxBodyBytes int64
	// Concurrency bounds the ledger writes in flight for one request.
	Concurrency int
}

// New returns a Service. sources may be nil (no IP allowlist).
func New(auth Authenticator, sources SourceFilter, l Ledger, p fanout.Publisher, log *slog.Logger, m *observability.Metrics, opts Options) *Service {
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = 4 << 20
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 16
	}
	return &Service{
		auth: auth, sources: sources, ledger: l, publisher: p, log: log, metrics: m,
		publicPath: opts.PublicPath, maxBody: opts.MaxBodyBytes, parallel: opts.Concurrency,
	}
}

// Summary is the body of a 200 answer.
type Summary struct {
	Received   int `json:"received"`   // new events recorded
	Duplicates int `json:"duplicates"` // events already recorded and settled
	Refanned   int `json:"refanned"`   // events recorded before but not known enqueued, sent again
	Parked     int `json:"parked"`     // events kept aside as unusable
	Enqueued   int `json:"enqueued"`   // events sent to their queues by this request
}

// Handle answers one webhook request. It never returns an error: every
// failure becomes a documented status with a short JSON body.
func (s *Service) Handle(ctx context.Context, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	resp := s.handle(ctx, req)
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
	body, status := s.body(req)
	if status != 0 {
		if status == http.StatusRequestEntityTooLarge {
			return s.reject(status, "payload_too_large", fmt.Sprintf("body larger than %d bytes", s.maxBody))
		}
		return s.reject(status, "bad_request", "body is not valid base64")
	}

	err := s.auth.Verify(ctx, signature.Request{
		Method:   http.MethodPost,
		Path:     s.signedPath(req),
		RawQuery: req.RawQueryString,
		Header:   headers(req.Headers),
		Body:     body,
	})
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

	env, err := upvest.DecodeEnvelope(body)
	if err != nil {
		// Upvest retries this forever and holds back later deliveries: say so loudly.
		log.Error("authentic request is not an envelope; Upvest will retry it", "error", err)
		return s.reject(http.StatusBadRequest, "bad_request", `body must be {"payload": [events]}`)
	}
	summary, err := s.process(ctx, log, env)
	if err != nil {
		log.Error("request not fully recorded; Upvest will retry", "error", err)
		s.metrics.Add(observability.MetricFailed, 1)
		return answer(http.StatusInternalServerError, errorBody("internal_error", "events not stored; retry later"))
	}
	log.Info("request accepted", "events", len(env.Payload), "received", summary.Received,
		"duplicates", summary.Duplicates, "refanned", summary.Refanned, "parked", summary.Parked, "enqueued", summary.Enqueued)
	return answer(http.StatusOK, summary)
}

// body returns the raw request body, or the status to answer when it is unusable.
func (s *Service) body(req events.APIGatewayV2HTTPRequest) ([]byte, int) {
	if !req.IsBase64Encoded {
		if int64(len(req.Body)) > s.maxBody {
			return nil, http.StatusRequestEntityTooLarge
		}
		return []byte(req.Body), 0
	}
	if int64(base64.StdEncoding.DecodedLen(len(req.Body))) > s.maxBody+3 {
		return nil, http.StatusRequestEntityTooLarge
	}
	b, err := base64.StdEncoding.DecodeString(req.Body)
	if err != nil {
		return nil, http.StatusBadRequest
	}
	if int64(len(b)) > s.maxBody {
		return nil, http.StatusRequestEntityTooLarge
	}
	return b, 0
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
	claim  ledger.ClaimResult
}

// process records every event, fans out what needs it, and fails when any
// event is neither recorded nor known to be on its queue.
func (s *Service) process(ctx context.Context, log *slog.Logger, env upvest.Envelope) (Summary, error) {
	var summary Summary
	items := make([]*pending, 0, len(env.Payload))
	seen := map[string]bool{}
	for _, raw := range env.Payload {
		rec := recordFor(raw)
		if seen[rec.EventID] {
			summary.Duplicates++ // the same event twice in one request
			continue
		}
		seen[rec.EventID] = true
		items = append(items, &pending{record: rec})
	}

	group, gctx := errgroup.WithContext(ctx)
	group.SetLimit(s.parallel)
	for _, item := range items {
		group.Go(func() error {
			claim, _, err := s.ledger.Claim(gctx, item.record)
			item.claim = claim
			return err
		})
	}
	if err := group.Wait(); err != nil {
		return summary, err
	}

	var outgoing []fanout.Message
	for _, item := range items {
		rec := item.record
		switch {
		case item.claim == ledger.ClaimSettled:
			summary.Duplicates++
			continue
		case item.claim == ledger.ClaimNew && rec.Status == ledger.Parked:
			summary.Parked++
			log.Warn("event parked", "event_id", rec.EventID, "event_type", rec.EventType, "reason", rec.Reason)
			continue
		case item.claim == ledger.ClaimNew:
			summary.Received++
		case item.claim == ledger.ClaimRetry:
			summary.Refanned++
			log.Info("taking over an event left RECEIVED by an earlier delivery", "event_id", rec.EventID)
		case item.claim == ledger.ClaimConcurrent:
			summary.Refanned++
			log.Info("event is being fanned out by a concurrent delivery; sending it too", "event_id", rec.EventID)
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
	s.metrics.Add(observability.MetricParked, summary.Parked)
	if len(outgoing) == 0 {
		return summary, nil
	}
	publishErr := s.publisher.Publish(ctx, outgoing)
	sent := s.sentOnly(outgoing, publishErr)
	s.markEnqueued(ctx, log, sent)
	if publishErr != nil {
		return summary, publishErr
	}
	summary.Enqueued = len(sent)
	s.metrics.Add(observability.MetricEnqueued, len(sent))
	return summary, nil
}

// sentOnly returns the messages that reached their queues despite err.
func (s *Service) sentOnly(outgoing []fanout.Message, err error) []fanout.Message {
	if err == nil {
		return outgoing
	}
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

// markEnqueued records the events that are on their queues, so that a
// redelivery sends again only what did not go out. A failed update only means
// a redelivery sends that event again, which the workers absorb.
func (s *Service) markEnqueued(ctx context.Context, log *slog.Logger, sent []fanout.Message) {
	marks, mctx := errgroup.WithContext(ctx)
	marks.SetLimit(s.parallel)
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
// when it is usable, PARKED with the reason when it never will be.
func recordFor(raw json.RawMessage) ledger.Record {
	e, err := upvest.ParseEvent(raw)
	var route upvest.Route
	if err == nil {
		route, err = upvest.Classify(e)
	}
	if err != nil {
		id := e.ID
		if !upvest.IsUUID(id) {
			// No usable id: key it by content so a redelivery still dedupes.
			sum := sha256.Sum256(raw)
			id = "invalid:" + hex.EncodeToString(sum[:])
		}
		domain, _ := upvest.Lookup(e.Category())
		return ledger.Record{
			EventID: id, EventType: e.Type, Domain: domain.Domain, CreatedAt: e.CreatedAt, WebhookID: e.WebhookID,
			Raw: raw, Status: ledger.Parked, Reason: err.Error(),
		}
	}
	return ledger.Record{
		EventID: e.ID, EventType: e.Type, Domain: route.Domain, EntityKey: route.EntityKey,
		CreatedAt: e.CreatedAt, WebhookID: e.WebhookID, Raw: raw, Status: ledger.Received,
	}
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
