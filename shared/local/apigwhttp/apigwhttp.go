// Package apigwhttp serves a Lambda handler for API Gateway HTTP API events
// (payload format 2.0) over plain HTTP, translating requests and responses the
// way API Gateway does. The local run uses it to put the real ingest handler
// behind a real HTTP port.
package apigwhttp

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
)

// HandlerFunc is the Lambda handler signature for HTTP API events.
type HandlerFunc func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error)

// DefaultMaxBodyBytes is the largest body that reaches a Lambda at all: its
// 6 MB invocation payload (API Gateway itself takes 10 MB). Larger bodies get
// 413 here, as the deployed API refuses them before the function runs.
const DefaultMaxBodyBytes = 6 * 1000 * 1000

// What API Gateway sends when it does not pass the Lambda's answer through.
const (
	internalErrorBody = `{"message":"Internal Server Error"}`
	tooLargeBody      = `{"message":"Request Entity Too Large"}`
)

// Local stand-ins for the account and API ids of a deployed API.
const (
	localAccountID = "000000000000"
	localAPIID     = "local"
)

// Option adjusts Handler.
type Option func(*config)

type config struct {
	maxBody  int64
	routeKey string
	logger   *slog.Logger
	now      func() time.Time
	newID    func() string
	newTrace func(time.Time) string
}

// WithRouteKey sets the route key reported in the event, e.g. "POST /webhooks".
// By default it is the request's method and path, as for a route with no
// path parameters.
func WithRouteKey(key string) Option { return func(c *config) { c.routeKey = key } }

// WithLogger logs handler errors and malformed responses, which the client
// only sees as a 500 (in AWS they would be in the Lambda's logs).
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// Handler returns an http.Handler that invokes fn with the API Gateway event
// for each request and writes fn's response back.
func Handler(fn HandlerFunc, opts ...Option) http.Handler {
	c := config{maxBody: DefaultMaxBodyBytes, now: time.Now, newID: requestID, newTrace: traceID}
	for _, o := range opts {
		o(&c)
	}
	if c.logger == nil {
		c.logger = slog.New(slog.DiscardHandler)
	}
	return &handler{fn: fn, cfg: c}
}

type handler struct {
	fn  HandlerFunc
	cfg config
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id := h.cfg.newID()
	w.Header().Set("Apigw-Requestid", id)
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.cfg.maxBody))
	if err != nil {
		if _, tooLarge := errors.AsType[*http.MaxBytesError](err); tooLarge {
			writeJSON(w, http.StatusRequestEntityTooLarge, tooLargeBody)
			return
		}
		http.Error(w, "reading the request body failed", http.StatusBadRequest)
		return
	}
	event := h.request(r, body, id)
	resp, err := h.fn(r.Context(), event)
	if err != nil {
		h.cfg.logger.ErrorContext(r.Context(), "handler failed", "request_id", id, "error", err)
		writeJSON(w, http.StatusInternalServerError, internalErrorBody)
		return
	}
	if err := writeResponse(w, resp); err != nil {
		h.cfg.logger.ErrorContext(r.Context(), "malformed handler response", "request_id", id, "error", err)
		writeJSON(w, http.StatusInternalServerError, internalErrorBody)
	}
}

// request builds the payload 2.0 event: header names lower-cased, repeated
// headers and query parameters joined with commas, cookies moved from the
// Cookie header to Cookies, and the forwarding headers API Gateway adds.
func (h *handler) request(r *http.Request, body []byte, id string) events.APIGatewayV2HTTPRequest {
	now := h.cfg.now()
	sourceIP := r.RemoteAddr
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		sourceIP = host
	}
	headers := map[string]string{}
	var cookies []string
	for name, values := range r.Header {
		lower := strings.ToLower(name)
		if lower == "cookie" {
			for _, v := range values {
				for c := range strings.SplitSeq(v, ";") {
					if c = strings.TrimSpace(c); c != "" {
						cookies = append(cookies, c)
					}
				}
			}
			continue
		}
		headers[lower] = strings.Join(values, ",")
	}
	headers["host"] = r.Host
	if fwd := headers["x-forwarded-for"]; fwd != "" {
		headers["x-forwarded-for"] = fwd + ", " + sourceIP
	} else {
		headers["x-forwarded-for"] = sourceIP
	}
	headers["x-forwarded-proto"], headers["x-forwarded-port"] = forwarded(r)
	if r.ContentLength >= 0 && len(body) > 0 {
		headers["content-length"] = strconv.Itoa(len(body))
	}
	headers["x-amzn-trace-id"] = h.cfg.newTrace(now)

	rawPath := r.URL.EscapedPath()
	routeKey := h.cfg.routeKey
	if routeKey == "" {
		routeKey = r.Method + " " + r.URL.Path
	}
	e := events.APIGatewayV2HTTPRequest{
		Version:               "2.0",
		RouteKey:              routeKey,
		RawPath:               rawPath,
		RawQueryString:        r.URL.RawQuery,
		Cookies:               cookies,
		Headers:               headers,
		QueryStringParameters: queryParameters(r.URL.RawQuery),
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RouteKey:     routeKey,
			AccountID:    localAccountID,
			Stage:        "$default",
			RequestID:    id,
			APIID:        localAPIID,
			DomainName:   r.Host,
			DomainPrefix: domainPrefix(r.Host),
			Time:         now.UTC().Format("02/Jan/2006:15:04:05 -0700"),
			TimeEpoch:    now.UnixMilli(),
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{
				Method:    r.Method,
				Path:      rawPath,
				Protocol:  r.Proto,
				SourceIP:  sourceIP,
				UserAgent: r.UserAgent(),
			},
		},
	}
	if len(body) > 0 {
		if isText(headers, body) {
			e.Body = string(body)
		} else {
			e.Body, e.IsBase64Encoded = base64.StdEncoding.EncodeToString(body), true
		}
	}
	return e
}

// isText says whether the body can travel as JSON text unchanged: valid UTF-8,
// not content-encoded, and not declared as a binary media type.
func isText(headers map[string]string, body []byte) bool {
	if !utf8.Valid(body) {
		return false
	}
	if enc := headers["content-encoding"]; enc != "" && enc != "identity" {
		return false
	}
	mediaType, _, _ := mime.ParseMediaType(headers["content-type"])
	switch {
	case mediaType == "application/octet-stream",
		strings.HasPrefix(mediaType, "image/"), strings.HasPrefix(mediaType, "audio/"),
		strings.HasPrefix(mediaType, "video/"), mediaType == "application/zip",
		mediaType == "application/gzip", mediaType == "application/pdf":
		return false
	}
	return true
}

func queryParameters(raw string) map[string]string {
	if raw == "" {
		return nil
	}
	values, _ := url.ParseQuery(raw) // API Gateway passes what it can parse
	out := make(map[string]string, len(values))
	for k, vs := range values {
		out[k] = strings.Join(vs, ",")
	}
	return out
}

func forwarded(r *http.Request) (proto, port string) {
	proto = "http"
	if r.TLS != nil {
		proto = "https"
	}
	if addr, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		if _, p, err := net.SplitHostPort(addr.String()); err == nil {
			return proto, p
		}
	}
	if _, p, err := net.SplitHostPort(r.Host); err == nil {
		return proto, p
	}
	if proto == "https" {
		return proto, "443"
	}
	return proto, "80"
}

func domainPrefix(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	prefix, _, _ := strings.Cut(host, ".")
	return prefix
}

// writeResponse writes a handler response as API Gateway does for payload 2.0:
// headers, each cookie as a Set-Cookie header, the body base64-decoded when
// flagged. (API Gateway ignores multiValueHeaders in 2.0 responses; so do we.)
func writeResponse(w http.ResponseWriter, resp events.APIGatewayV2HTTPResponse) error {
	if resp.StatusCode < 100 || resp.StatusCode > 599 {
		return fmt.Errorf("status code %d", resp.StatusCode)
	}
	body := []byte(resp.Body)
	if resp.IsBase64Encoded {
		var err error
		if body, err = base64.StdEncoding.DecodeString(resp.Body); err != nil {
			return fmt.Errorf("base64 body: %w", err)
		}
	}
	for k, v := range resp.Headers {
		w.Header().Set(k, v)
	}
	for _, c := range resp.Cookies {
		w.Header().Add("Set-Cookie", c)
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(body) // the client went away; nothing left to tell it
	return nil
}

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

// requestID looks like API Gateway's: 12 random bytes, base64.
func requestID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return base64.StdEncoding.EncodeToString(b)
}

// traceID is an X-Ray trace header as API Gateway adds it.
func traceID(now time.Time) string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return fmt.Sprintf("Root=1-%08x-%s", now.Unix(), hex.EncodeToString(b))
}
