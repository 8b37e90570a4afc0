package keysync

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/signature"
)

// Upvest's endpoints and scopes.
const (
	TokenPath      = "/auth/token"
	VerifyKeysPath = "/auth/verify_keys"

	ScopeRead  = "webhooks:read"  // list and read subscriptions, fetch the verification keys
	ScopeAdmin = "webhooks:admin" // create, change, delete and test subscriptions (reads too)
	// Scope is the default scope of the key sync: the narrowest that reads keys.
	Scope = ScopeRead
)

// Default base URLs of Upvest's Investment API.
const (
	SandboxBaseURL = "https://sandbox.upvest.co"
	LiveBaseURL    = "https://api.upvest.co"
)

// maxResponseBytes bounds what is read from Upvest (a JWKS is a few KB).
const maxResponseBytes = 1 << 20

// DefaultRetries is how many times a call is tried again after a 429, a 5xx
// or a timeout; each attempt is signed afresh (new created and nonce).
const DefaultRetries = 2

// tokenMargin is how long before expires_in a cached token is dropped, so
// that no call leaves with a token that expires on the way.
const tokenMargin = 30 * time.Second

// Client calls Upvest's Investment API as the customer's API client: an OAuth
// client-credentials token, and every request signed (HTTP message signatures,
// draft 15, as Upvest requires for API calls). Build it once per process (per
// cold start): it keeps its tokens until shortly before they expire.
type Client struct {
	BaseURL     string // e.g. https://sandbox.upvest.co; a path prefix is kept
	APIVersion  string // upvest-api-version header; "1" when empty
	Credentials CredentialSource
	HTTP        *http.Client     // default: 15 s timeout
	Now         func() time.Time // default: time.Now
	// KeysScope is the scope FetchJWKS asks for: webhooks:read (the default),
	// or webhooks:admin for a client issued only that.
	KeysScope string
	// Retries after a 429, a 5xx or a timeout: 0 means DefaultRetries, a
	// negative value none.
	Retries int
	// Sleep waits between attempts; default: a timer that ctx cancels.
	Sleep func(ctx context.Context, d time.Duration) error

	mu     sync.Mutex
	tokens map[string]cachedToken // by client id and scope
}

type cachedToken struct {
	value   string
	expires time.Time // already less the margin
}

// Response is Upvest's answer to a call.
type Response struct {
	Status    int
	Header    http.Header
	Body      []byte
	RequestID string // the upvest-request-id header
	// Retried: an earlier attempt got no usable answer (a 5xx, a timeout) and
	// may have been done by Upvest all the same.
	Retried bool
}

// FetchJWKS gets a token with KeysScope and returns the body of
// GET /auth/verify_keys, as Upvest sent it.
func (c *Client) FetchJWKS(ctx context.Context) ([]byte, error) {
	scope := c.KeysScope
	if scope == "" {
		scope = Scope
	}
	resp, err := c.Call(ctx, scope, http.MethodGet, VerifyKeysPath, nil, nil)
	if err != nil {
		return nil, err
	}
	if resp.Status != http.StatusOK {
		return nil, NewAPIError("GET "+VerifyKeysPath, resp)
	}
	return resp.Body, nil
}

// Call sends one signed API request with a token of the given scope and
// returns Upvest's answer whatever its status; err is for what got no answer.
// A 401 on a cached token is retried once with a fresh token (it may have
// been revoked or expired early).
func (c *Client) Call(ctx context.Context, scope, method, path string, query url.Values, body []byte) (*Response, error) {
	if c.Credentials == nil {
		return nil, errors.New("upvest api: no credentials configured")
	}
	creds, err := c.Credentials(ctx)
	if err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		token, cached, err := c.token(ctx, creds, scope)
		if err != nil {
			return nil, err
		}
		header := c.baseHeader(creds)
		header.Set("Authorization", "Bearer "+token)
		if len(body) > 0 {
			header.Set("Content-Type", "application/json")
		}
		resp, err := c.send(ctx, creds, method, path, query.Encode(), header, body, retryable(method, path))
		if err != nil {
			return nil, err
		}
		if resp.Status == http.StatusUnauthorized && cached && attempt == 0 {
			c.forget(creds.ClientID, scope)
			continue
		}
		return resp, nil
	}
}

// retryable says which failures a call may be tried again after. Creating a
// subscription is not idempotent at Upvest: after a 5xx or a timeout it may
// exist, so only a 429 (refused before anything was done) is retried; callers
// that must not duplicate look it up by URL first (the stack's subscription).
func retryable(method, path string) func(status int, err error) bool {
	create := method == http.MethodPost && strings.TrimRight(path, "/") == "/webhooks"
	return func(status int, err error) bool {
		if create {
			return err == nil && status == http.StatusTooManyRequests
		}
		if err != nil {
			var netErr net.Error
			return errors.As(err, &netErr) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)
		}
		return status == http.StatusTooManyRequests || status == http.StatusInternalServerError ||
			status == http.StatusBadGateway || status == http.StatusServiceUnavailable || status == http.StatusGatewayTimeout
	}
}

// token returns a token for scope: the cached one while it is fresh,
// otherwise a new one from the OAuth 2.0 client-credentials grant.
func (c *Client) token(ctx context.Context, creds Credentials, scope string) (token string, cached bool, err error) {
	key := creds.ClientID + " " + scope
	now := c.now()
	c.mu.Lock()
	t, ok := c.tokens[key]
	c.mu.Unlock()
	if ok && now.Before(t.expires) {
		return t.value, true, nil
	}
	form := url.Values{
		"client_id":     {creds.ClientID},
		"client_secret": {creds.ClientSecret},
		"grant_type":    {"client_credentials"},
		"scope":         {scope},
	}
	header := c.baseHeader(creds)
	header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.send(ctx, creds, http.MethodPost, TokenPath, "", header, []byte(form.Encode()), retryable(http.MethodPost, TokenPath))
	if err != nil {
		return "", false, err
	}
	if resp.Status != http.StatusOK {
		return "", false, NewAPIError("POST "+TokenPath+" (scope "+scope+")", resp)
	}
	var answer struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		ExpiresIn   int64  `json:"expires_in"`
	}
	if err := json.Unmarshal(resp.Body, &answer); err != nil {
		return "", false, fmt.Errorf("upvest api: POST %s: answer is not JSON: %w", TokenPath, err)
	}
	if answer.AccessToken == "" {
		return "", false, fmt.Errorf("upvest api: POST %s: answer has no access_token", TokenPath)
	}
	if answer.TokenType != "" && !strings.EqualFold(answer.TokenType, "bearer") {
		return "", false, fmt.Errorf("upvest api: POST %s: token type %q is not bearer", TokenPath, answer.TokenType)
	}
	// Keep it until shortly before it expires: a tenth of its life, at most tokenMargin.
	life := time.Duration(answer.ExpiresIn) * time.Second
	if margin := min(tokenMargin, life/10); life > margin {
		c.mu.Lock()
		if c.tokens == nil {
			c.tokens = map[string]cachedToken{}
		}
		c.tokens[key] = cachedToken{value: answer.AccessToken, expires: now.Add(life - margin)}
		c.mu.Unlock()
	}
	return answer.AccessToken, false, nil
}

func (c *Client) forget(clientID, scope string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.tokens, clientID+" "+scope)
}

func (c *Client) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// baseHeader holds the headers every Upvest API request carries (and signs).
func (c *Client) baseHeader(creds Credentials) http.Header {
	version := c.APIVersion
	if version == "" {
		version = "1"
	}
	h := http.Header{}
	h.Set("Accept", "application/json")
	h.Set("Upvest-Client-Id", creds.ClientID)
	h.Set("Upvest-Api-Version", version)
	return h
}

// send sends one request, trying again (signed afresh each time) while retry
// says so, up to Retries times, with jittered exponential backoff.
func (c *Client) send(ctx context.Context, creds Credentials, method, path, rawQuery string, header http.Header, body []byte, retry func(int, error) bool) (*Response, error) {
	retries := c.Retries
	switch {
	case retries == 0:
		retries = DefaultRetries
	case retries < 0:
		retries = 0
	}
	for attempt := 0; ; attempt++ {
		resp, err := c.do(ctx, creds, method, path, rawQuery, header.Clone(), body)
		after, told := c.retryAfter(resp)
		// A retry before Upvest's Retry-After only meets another refusal: past
		// maxRetryAfter the answer comes back (NewAPIError reports the wait).
		if attempt >= retries || ctx.Err() != nil || !retry(statusOf(resp), err) || told && after > maxRetryAfter {
			if err != nil {
				return nil, fmt.Errorf("upvest api: %s %s: %w", method, path, err)
			}
			resp.Retried = attempt > 0
			return resp, nil
		}
		wait := max(backoff(attempt), after)
		sleep := c.Sleep
		if sleep == nil {
			sleep = sleepCtx
		}
		if err := sleep(ctx, wait); err != nil {
			return nil, fmt.Errorf("upvest api: %s %s: %w", method, path, err)
		}
	}
}

// maxRetryAfter is the longest Retry-After a call waits for before trying again.
const maxRetryAfter = 10 * time.Second

// retryAfter reads the answer's Retry-After, in seconds or as an HTTP date.
func (c *Client) retryAfter(r *Response) (time.Duration, bool) {
	if r == nil {
		return 0, false
	}
	return parseRetryAfter(r.Header.Get("Retry-After"), c.now())
}

func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil {
		if s < 0 {
			return 0, false
		}
		return time.Duration(min(s, 1<<31)) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

func statusOf(r *Response) int {
	if r == nil {
		return 0
	}
	return r.Status
}

// backoff is 250 ms, 500 ms, ... doubled per attempt, plus up to as much again at random.
func backoff(attempt int) time.Duration {
	base := 250 * time.Millisecond << attempt
	return base + rand.N(base)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// do signs (now, with a new nonce) and sends one request, and returns the
// answer with its (bounded) body.
func (c *Client) do(ctx context.Context, creds Credentials, method, path, rawQuery string, header http.Header, body []byte) (*Response, error) {
	target, err := url.Parse(strings.TrimRight(c.BaseURL, "/") + path)
	if err != nil || target.Host == "" {
		return nil, fmt.Errorf("base URL %q is not a URL", c.BaseURL)
	}
	target.RawQuery = rawQuery
	if len(body) > 0 {
		// Covered by the signature, as Upvest requires for requests with a body.
		header.Set("Content-Length", strconv.Itoa(len(body)))
	}
	signed, err := signature.SignDraft(signature.Draft15, signature.Request{
		Method: method, Path: target.Path, RawQuery: target.RawQuery, Header: header, Body: body,
	}, creds.SigningKey, creds.SigningKeyID, c.now(), "")
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, method, target.String(), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	for _, h := range []http.Header{header, signed} {
		for name, values := range h {
			req.Header[name] = values
		}
	}
	req.ContentLength = int64(len(body)) // Go sends Content-Length from here, not from the header map
	client := c.HTTP
	if client == nil {
		client = &http.Client{Timeout: 15 * time.Second}
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read answer: %w", err)
	}
	if len(data) > maxResponseBytes {
		return nil, fmt.Errorf("answer larger than %d bytes", maxResponseBytes)
	}
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: data, RequestID: resp.Header.Get("Upvest-Request-Id")}, nil
}

// APIError is Upvest's refusal: its problem details (application/problem+json)
// and the request id to quote to Upvest's support.
type APIError struct {
	Op        string // e.g. "PATCH /webhooks/{id}"
	Status    int
	Type      string
	Title     string
	Detail    string
	Instance  string
	RequestID string // upvest-request-id header (or request_id in the body)
	Body      string // the start of the body when it is not problem+json
	// RetryAfter is the answer's Retry-After (relative to when it was read): when to call again.
	RetryAfter time.Duration
}

// NewAPIError reads a refusal's problem details.
func NewAPIError(op string, r *Response) *APIError {
	e := &APIError{Op: op, Status: r.Status, RequestID: r.RequestID}
	e.RetryAfter, _ = parseRetryAfter(r.Header.Get("Retry-After"), time.Now())
	var p struct {
		Type      string `json:"type"`
		Title     string `json:"title"`
		Status    int    `json:"status"`
		Detail    string `json:"detail"`
		Instance  string `json:"instance"`
		RequestID string `json:"request_id"`
	}
	if json.Unmarshal(r.Body, &p) == nil && (p.Type != "" || p.Detail != "" || p.Title != "") {
		e.Type, e.Title, e.Detail, e.Instance = p.Type, p.Title, p.Detail, p.Instance
		if e.RequestID == "" {
			e.RequestID = p.RequestID
		}
	} else {
		const show = 300
		text := strings.TrimSpace(string(r.Body))
		if len(text) > show {
			text = text[:show] + "…"
		}
		e.Body = text
	}
	return e
}

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "upvest api: %s answered %d %s", e.Op, e.Status, http.StatusText(e.Status))
	if e.Type != "" {
		fmt.Fprintf(&b, "; type=%s", e.Type)
	}
	if e.Title != "" {
		fmt.Fprintf(&b, "; title=%q", e.Title)
	}
	if e.Detail != "" {
		fmt.Fprintf(&b, "; detail=%q", e.Detail)
	}
	if e.Body != "" {
		fmt.Fprintf(&b, ": %s", e.Body)
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, "; retry after %ds", int64((e.RetryAfter+time.Second-1)/time.Second))
	}
	if e.RequestID != "" {
		fmt.Fprintf(&b, "; upvest-request-id=%s", e.RequestID)
	}
	return b.String()
}
