// Package keysynctest fakes what the key sync talks to: Upvest's token and
// verify_keys endpoints (checking each request's signature as Upvest does),
// and SSM and Secrets Manager speaking their JSON protocols, for tests of the
// keysync function and of `ops keys`.
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

	"github.com/upvest-webhooks/upvest-webhooks/shared/signature"
)

// Upvest fakes Upvest's OAuth token endpoint and GET /auth/verify_keys. Like
// Upvest, it refuses (401) any request without a valid draft-15 signature by
// the API client's key, covering what Upvest requires, and verify_keys without
// a token it issued for scope webhooks:read.
type Upvest struct {
	URL string

	clientID, clientSecret, apiVersion string
	verifier                           *signature.Verifier

	mu            sync.Mutex
	jwks          []byte
	tokens        map[string]bool
	unknownTokens bool
	refusals      []string
	served        int
}

// NewUpvest starts a fake for one API client whose requests are signed by the
// key with id keyID (public part pub). It serves jwks until SetJWKS.
func NewUpvest(t testing.TB, clientID, clientSecret, keyID string, pub *ecdsa.PublicKey, jwks []byte) *Upvest {
	t.Helper()
	u := &Upvest{
		clientID: clientID, clientSecret: clientSecret, apiVersion: "1",
		verifier: signature.NewVerifier(signature.StaticKeys{keyID: pub}, signature.Options{}),
		jwks:     jwks,
		tokens:   map[string]bool{},
	}
	srv := httptest.NewServer(http.HandlerFunc(u.serve))
	t.Cleanup(srv.Close)
	u.URL = srv.URL
	return u
}

// SetJWKS changes the key set verify_keys answers with (a rotation).
func (u *Upvest) SetJWKS(jwks []byte) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.jwks = jwks
}

// IssueUnknownTokens makes the token endpoint answer with tokens that
// verify_keys then refuses (an expired or revoked token).
func (u *Upvest) IssueUnknownTokens() {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.unknownTokens = true
}

// Refusals lists why requests were refused, in order.
func (u *Upvest) Refusals() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return slices.Clone(u.refusals)
}

// KeySetsServed counts the successful verify_keys answers.
func (u *Upvest) KeySetsServed() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.served
}

func (u *Upvest) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		u.refuse(w, http.StatusBadRequest, "unreadable body")
		return
	}
	if reason := u.checkSignature(r, body); reason != "" {
		u.refuse(w, http.StatusUnauthorized, reason)
		return
	}
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/auth/token":
		u.token(w, r, body)
	case r.Method == http.MethodGet && r.URL.Path == "/auth/verify_keys":
		u.verifyKeys(w, r)
	default:
		u.refuse(w, http.StatusNotFound, r.Method+" "+r.URL.Path+" is not faked")
	}
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
	if len(body) > 0 {
		required = append(required, "content-type", "content-length", "content-digest")
	}
	if r.URL.Path != "/auth/token" {
		required = append(required, "authorization")
	}
	covered := coveredComponents(r.Header.Get("Signature-Input"))
	for _, c := range required {
		if !slices.Contains(covered, c) {
			return "signature: " + c + " not covered"
		}
	}
	if got := r.Header.Get("Upvest-Client-Id"); got != u.clientID {
		return fmt.Sprintf("upvest-client-id %q is not the client", got)
	}
	if got := r.Header.Get("Upvest-Api-Version"); got != u.apiVersion {
		return fmt.Sprintf("upvest-api-version %q, want %s", got, u.apiVersion)
	}
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

func (u *Upvest) token(w http.ResponseWriter, r *http.Request, body []byte) {
	if ct := r.Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
		u.refuse(w, http.StatusBadRequest, "token: content-type "+ct)
		return
	}
	form, err := url.ParseQuery(string(body))
	switch {
	case err != nil:
		u.refuse(w, http.StatusBadRequest, "token: body is not a form")
		return
	case form.Get("grant_type") != "client_credentials":
		u.refuse(w, http.StatusBadRequest, "token: grant_type "+form.Get("grant_type"))
		return
	case form.Get("client_id") != u.clientID || form.Get("client_secret") != u.clientSecret:
		u.refuse(w, http.StatusUnauthorized, "token: wrong client credentials")
		return
	case form.Get("scope") != "webhooks:read":
		u.refuse(w, http.StatusBadRequest, "token: scope "+form.Get("scope"))
		return
	}
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	token := hex.EncodeToString(b)
	u.mu.Lock()
	if !u.unknownTokens {
		u.tokens[token] = true
	}
	u.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": token, "token_type": "bearer", "expires_in": 1799, "scope": "webhooks:read",
	})
}

func (u *Upvest) verifyKeys(w http.ResponseWriter, r *http.Request) {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	u.mu.Lock()
	valid := ok && u.tokens[token]
	jwks := u.jwks
	if valid {
		u.served++
	}
	u.mu.Unlock()
	if !valid {
		u.refuse(w, http.StatusUnauthorized, "verify_keys: no valid bearer token")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(jwks)
}

func (u *Upvest) refuse(w http.ResponseWriter, status int, reason string) {
	u.mu.Lock()
	u.refusals = append(u.refusals, reason)
	u.mu.Unlock()
	writeJSON(w, status, map[string]any{"type": "about:blank", "title": http.StatusText(status), "status": status, "detail": reason})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
