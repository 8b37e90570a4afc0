// Package keysynctest fakes what the Upvest API client talks to: Upvest's
// Investment API (the token, verify_keys and webhook subscription endpoints,
// checking each request's draft-15 signature and token scope as Upvest does,
// and sending signed test deliveries), and SSM and Secrets Manager speaking
// their JSON protocols, for tests of the keysync function, of `ops keys`,
// `ops webhooks` and `ops golive`, and for `make run`.
package keysynctest

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/signature"
)

// Config describes the one API client the fake knows.
type Config struct {
	ClientID, ClientSecret string
	KeyID                  string           // the API client's signing key id
	PublicKey              *ecdsa.PublicKey // its public half
	JWKS                   []byte           // what verify_keys answers
	// WebhookKey and WebhookKeyID sign the test deliveries (draft 06, as
	// Upvest signs webhooks); JWKS should hold WebhookKey's public half.
	WebhookKey   *ecdsa.PrivateKey
	WebhookKeyID string
	// AllowHTTPLoopback lets subscriptions point at http://127.0.0.1 (make run);
	// Upvest itself takes https URLs on DNS names only.
	AllowHTTPLoopback bool
	// Logf, when set, is told what the fake does (make run prints it).
	Logf func(format string, args ...any)
	// Now is the fake's clock for tokens and signatures (default time.Now):
	// a test that shares it with the client moves time on itself.
	Now func() time.Time
}

// Upvest fakes Upvest's Investment API for one API client. Like Upvest, it
// refuses (401) any request without a valid draft-15 signature by the API
// client's key covering what Upvest requires, a replayed nonce, and calls
// without a live token of a scope the operation allows (403 when the token's
// scope does not).
type Upvest struct {
	URL string

	cfg      Config
	verifier *signature.Verifier
	handler  http.Handler

	mu            sync.Mutex
	jwks          []byte
	tokens        map[string]issuedToken
	unknownTokens bool
	granted       []string
	tokenLife     time.Duration
	refusals      []string
	served        int
	nonces        map[string]bool
	failNext      map[string][]int
	calls         []string
	hooks         map[string]*Webhook
	order         []string
	deliveries    []Delivery
	delivering    sync.WaitGroup
}

type issuedToken struct {
	scopes  []string
	expires time.Time
}

// NewUpvest starts a fake for one API client whose requests are signed by the
// key with id keyID (public part pub). It serves jwks until SetJWKS.
func NewUpvest(t testing.TB, clientID, clientSecret, keyID string, pub *ecdsa.PublicKey, jwks []byte) *Upvest {
	t.Helper()
	return Start(t, Config{ClientID: clientID, ClientSecret: clientSecret, KeyID: keyID, PublicKey: pub, JWKS: jwks})
}

// Start runs a fake with cfg on a test server closed at the end of the test.
func Start(t testing.TB, cfg Config) *Upvest {
	t.Helper()
	u := New(cfg)
	srv := httptest.NewServer(u)
	t.Cleanup(func() { u.Wait(); srv.Close() })
	u.URL = srv.URL
	return u
}

// New makes a fake to serve with any server; set URL to where it listens.
func New(cfg Config) *Upvest {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	u := &Upvest{
		cfg:       cfg,
		verifier:  signature.NewVerifier(signature.StaticKeys{cfg.KeyID: cfg.PublicKey}, signature.Options{Now: cfg.Now}),
		jwks:      cfg.JWKS,
		tokens:    map[string]issuedToken{},
		granted:   []string{"webhooks:read", "webhooks:admin"},
		tokenLife: 1799 * time.Second,
		nonces:    map[string]bool{},
		failNext:  map[string][]int{},
		hooks:     map[string]*Webhook{},
	}
	u.handler = http.HandlerFunc(u.serve)
	return u
}

// ServeHTTP serves Upvest's API.
func (u *Upvest) ServeHTTP(w http.ResponseWriter, r *http.Request) { u.handler.ServeHTTP(w, r) }

// Wait waits for the test deliveries under way.
func (u *Upvest) Wait() { u.delivering.Wait() }

// SetJWKS changes the key set verify_keys answers with (a rotation).
func (u *Upvest) SetJWKS(jwks []byte) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.jwks = jwks
}

// IssueUnknownTokens makes the token endpoint answer with tokens that
// every later call then refuses (an expired or revoked token).
func (u *Upvest) IssueUnknownTokens() {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.unknownTokens = true
}

// GrantScopes sets the scopes the API client was issued (default both).
func (u *Upvest) GrantScopes(scopes ...string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.granted = scopes
}

// SetTokenLifetime sets expires_in of the tokens issued from now on.
func (u *Upvest) SetTokenLifetime(d time.Duration) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.tokenLife = d
}

// ExpireTokens ends every token issued so far (as if their time ran out).
func (u *Upvest) ExpireTokens() {
	u.mu.Lock()
	defer u.mu.Unlock()
	for k, t := range u.tokens {
		t.expires = time.Time{}
		u.tokens[k] = t
	}
}

// FailNext makes the next requests to path (e.g. "/webhooks") answer these
// statuses in turn before being served; 0 drops the connection unanswered.
func (u *Upvest) FailNext(path string, statuses ...int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.failNext[path] = append(u.failNext[path], statuses...)
}

// Refusals lists why requests were refused, in order.
func (u *Upvest) Refusals() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return slices.Clone(u.refusals)
}

// Calls lists the requests that reached the fake, as "METHOD /path", in order.
func (u *Upvest) Calls() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return slices.Clone(u.calls)
}

// TokenScopes lists the scope of each token request, in order.
func (u *Upvest) TokenScopes() []string {
	var out []string
	for _, c := range u.Calls() {
		if s, ok := strings.CutPrefix(c, "POST /auth/token scope="); ok {
			out = append(out, s)
		}
	}
	return out
}

// KeySetsServed counts the successful verify_keys answers.
func (u *Upvest) KeySetsServed() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.served
}

func (u *Upvest) logf(format string, args ...any) {
	if u.cfg.Logf != nil {
		u.cfg.Logf(format, args...)
	}
}

func (u *Upvest) serve(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Upvest-Request-Id", newUUID())
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		u.problem(w, http.StatusBadRequest, "bad_request", "unreadable body")
		return
	}
	u.mu.Lock()
	call := r.Method + " " + r.URL.Path
	if r.URL.Path == "/auth/token" {
		form, _ := url.ParseQuery(string(body))
		call += " scope=" + form.Get("scope")
	}
	u.calls = append(u.calls, call)
	var injected = -1
	if next := u.failNext[r.URL.Path]; len(next) > 0 {
		injected, u.failNext[r.URL.Path] = next[0], next[1:]
	}
	u.mu.Unlock()
	switch {
	case injected == 0:
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				_ = conn.Close()
				return
			}
		}
		panic(http.ErrAbortHandler)
	case injected > 0:
		w.Header().Set("Retry-After", "0")
		u.problem(w, injected, problemType(injected), "injected failure")
		return
	}
	if reason := u.checkSignature(r, body); reason != "" {
		u.problem(w, http.StatusUnauthorized, "unauthorized", reason)
		return
	}
	if accept := r.Header.Get("Accept"); accept != "" && !strings.Contains(accept, "application/json") && !strings.Contains(accept, "*/*") {
		u.problem(w, http.StatusNotAcceptable, "not_acceptable", "accept "+accept)
		return
	}
	if r.Method == http.MethodPost && r.URL.Path == "/auth/token" {
		u.token(w, r, body)
		return
	}
	scopes, reason := u.bearer(r)
	if reason != "" {
		u.problem(w, http.StatusUnauthorized, "unauthorized", reason)
		return
	}
	allowed, handle := u.route(r)
	if handle == nil {
		u.problem(w, http.StatusNotFound, "not_found", r.Method+" "+r.URL.Path+" is not an endpoint")
		return
	}
	if !slices.ContainsFunc(scopes, func(s string) bool { return slices.Contains(allowed, s) }) {
		u.problem(w, http.StatusForbidden, "forbidden", fmt.Sprintf("%s %s needs scope %s; the token has %s",
			r.Method, r.URL.Path, strings.Join(allowed, " or "), strings.Join(scopes, " ")))
		return
	}
	handle(w, r, body)
}

// route returns the scopes an operation allows and its handler.
func (u *Upvest) route(r *http.Request) ([]string, func(http.ResponseWriter, *http.Request, []byte)) {
	read, admin := []string{"webhooks:read", "webhooks:admin"}, []string{"webhooks:admin"}
	path := r.URL.Path
	switch {
	case path == "/auth/verify_keys" && r.Method == http.MethodGet:
		return read, func(w http.ResponseWriter, _ *http.Request, _ []byte) { u.verifyKeys(w) }
	case path == "/webhooks" && r.Method == http.MethodGet:
		return read, u.listWebhooks
	case path == "/webhooks" && r.Method == http.MethodPost:
		return admin, u.createWebhook
	}
	rest, ok := strings.CutPrefix(path, "/webhooks/")
	if !ok {
		return nil, nil
	}
	id, test := strings.CutSuffix(rest, "/test")
	if strings.Contains(id, "/") {
		return nil, nil
	}
	switch {
	case test && r.Method == http.MethodPost:
		return admin, func(w http.ResponseWriter, _ *http.Request, _ []byte) { u.testWebhook(w, id) }
	case test:
		return nil, nil
	case r.Method == http.MethodGet:
		return read, func(w http.ResponseWriter, _ *http.Request, _ []byte) { u.getWebhook(w, id) }
	case r.Method == http.MethodPatch:
		return admin, func(w http.ResponseWriter, _ *http.Request, body []byte) { u.updateWebhook(w, id, body) }
	case r.Method == http.MethodDelete:
		return admin, func(w http.ResponseWriter, _ *http.Request, _ []byte) { u.deleteWebhook(w, id) }
	}
	return nil, nil
}

// checkSignature returns why the request's signature is not acceptable, or "".
func (u *Upvest) checkSignature(r *http.Request, body []byte) string {
	if v := r.Header.Get("Upvest-Signature-Version"); v != "15" {
		return fmt.Sprintf("signature: upvest-signature-version %q, want 15", v)
	}
	err := u.verifier.Verify(context.Background(), signature.Request{
		Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery, Header: r.Header, Body: body,
	})
	if err != nil {
		return "signature: " + err.Error()
	}
	// The components Upvest's API requires to be signed.
	required := []string{"@method", "@path", "accept", "upvest-client-id"}
	if r.URL.RawQuery != "" {
		required = append(required, "@query")
	}
	if len(body) > 0 {
		required = append(required, "content-type", "content-length", "content-digest")
	}
	if r.URL.Path != "/auth/token" {
		required = append(required, "authorization")
	}
	input := r.Header.Get("Signature-Input")
	covered := coveredComponents(input)
	for _, c := range required {
		if !slices.Contains(covered, c) {
			return "signature: " + c + " not covered"
		}
	}
	if got := r.Header.Get("Upvest-Client-Id"); got != u.cfg.ClientID {
		return fmt.Sprintf("upvest-client-id %q is not the client", got)
	}
	if got := r.Header.Get("Upvest-Api-Version"); got != "1" {
		return fmt.Sprintf("upvest-api-version %q, want 1", got)
	}
	nonce := paramValue(input, "nonce")
	u.mu.Lock()
	defer u.mu.Unlock()
	if nonce == "" {
		return "signature: no nonce"
	}
	if u.nonces[nonce] {
		return "signature: nonce " + nonce + " replayed"
	}
	u.nonces[nonce] = true
	return ""
}

// coveredComponents reads the names in sig1=("a" "b" ...);params.
func coveredComponents(input string) []string {
	open, end := strings.Index(input, "("), strings.Index(input, ")")
	if open < 0 || end < open {
		return nil
	}
	var names []string
	for _, f := range strings.Fields(input[open+1 : end]) {
		names = append(names, strings.Trim(f, `"`))
	}
	return names
}

// paramValue reads ;name="value" from a signature-input.
func paramValue(input, name string) string {
	_, after, ok := strings.Cut(input, ";"+name+"=")
	if !ok {
		return ""
	}
	after = strings.TrimPrefix(after, `"`)
	end := strings.IndexAny(after, `";`)
	if end < 0 {
		return after
	}
	return after[:end]
}

func (u *Upvest) token(w http.ResponseWriter, r *http.Request, body []byte) {
	if ct := r.Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
		u.problem(w, http.StatusBadRequest, "bad_request", "token: content-type "+ct)
		return
	}
	form, err := url.ParseQuery(string(body))
	switch {
	case err != nil:
		u.problem(w, http.StatusBadRequest, "bad_request", "token: body is not a form")
		return
	case form.Get("grant_type") != "client_credentials":
		u.problem(w, http.StatusBadRequest, "bad_request", "token: grant_type "+form.Get("grant_type"))
		return
	case form.Get("client_id") != u.cfg.ClientID || form.Get("client_secret") != u.cfg.ClientSecret:
		u.problem(w, http.StatusUnauthorized, "unauthorized", "token: wrong client credentials")
		return
	}
	scopes := strings.Fields(form.Get("scope"))
	if len(scopes) == 0 {
		u.problem(w, http.StatusBadRequest, "bad_request", "token: no scope")
		return
	}
	u.mu.Lock()
	granted, life, unknown := u.granted, u.tokenLife, u.unknownTokens
	u.mu.Unlock()
	for _, s := range scopes {
		if !slices.Contains(granted, s) {
			u.problem(w, http.StatusForbidden, "forbidden", "token: scope "+s+" not granted to this client")
			return
		}
	}
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	token := hex.EncodeToString(b)
	if !unknown {
		u.mu.Lock()
		u.tokens[token] = issuedToken{scopes: scopes, expires: u.cfg.Now().Add(life)}
		u.mu.Unlock()
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": token, "token_type": "bearer", "expires_in": int(life / time.Second), "scope": strings.Join(scopes, " "),
	})
}

// bearer returns the scopes of the request's token, or why it is refused.
func (u *Upvest) bearer(r *http.Request) ([]string, string) {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return nil, "no bearer token"
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	t, known := u.tokens[token]
	switch {
	case !known:
		return nil, "no valid bearer token"
	case !u.cfg.Now().Before(t.expires):
		return nil, "bearer token expired"
	}
	return t.scopes, ""
}

func (u *Upvest) verifyKeys(w http.ResponseWriter) {
	u.mu.Lock()
	jwks := u.jwks
	u.served++
	u.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(jwks)
}

// problem answers as Upvest does: application/problem+json.
func (u *Upvest) problem(w http.ResponseWriter, status int, kind, detail string) {
	u.mu.Lock()
	u.refusals = append(u.refusals, detail)
	u.mu.Unlock()
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"type": kind, "title": http.StatusText(status), "status": status, "detail": detail,
		"request_id": w.Header().Get("Upvest-Request-Id"),
	})
}

func problemType(status int) string {
	switch status {
	case 400:
		return "bad_request"
	case 401:
		return "unauthorized"
	case 403:
		return "forbidden"
	case 404:
		return "not_found"
	case 406:
		return "not_acceptable"
	case 429:
		return "too_many_requests"
	case 503:
		return "service_unavailable"
	case 504:
		return "gateway_timeout"
	}
	return "internal_server_error"
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func newUUID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
