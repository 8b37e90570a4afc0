package webhookclient

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/signature"
)

// receiver is a webhook endpoint that verifies signatures like the ingest
// function: 200 when valid, 401 when not; it keeps what it accepted.
type receiver struct {
	verifier *signature.Verifier
	mu       sync.Mutex
	accepted []events.Envelope
	types    []string // content types of accepted requests
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "read", http.StatusBadRequest)
		return
	}
	err = rc.verifier.Verify(r.Context(), signature.Request{
		Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery, Header: r.Header, Body: body,
	})
	if errors.Is(err, signature.ErrUnauthenticated) {
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	env, err := events.DecodeEnvelope(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	rc.mu.Lock()
	rc.accepted = append(rc.accepted, env)
	rc.types = append(rc.types, r.Header.Get("Content-Type"))
	rc.mu.Unlock()
	_, _ = io.WriteString(w, "ok")
}

// newReceiver serves on 127.0.0.1 and trusts key under kid.
func newReceiver(t *testing.T, kid string, key *ecdsa.PrivateKey) (*receiver, *httptest.Server) {
	t.Helper()
	rc := &receiver{verifier: signature.NewVerifier(signature.StaticKeys{kid: &key.PublicKey}, signature.Options{})}
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	return rc, srv
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func TestPostAllSignedBatchesAreAccepted(t *testing.T) {
	key := newKey(t)
	rc, srv := newReceiver(t, "kid-1", key)
	evs, err := GenerateOrderLifecycles(2, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	client := &Client{URL: srv.URL + "/webhooks?source=test", Key: key, KeyID: "kid-1"}
	var streamed []Result
	results, err := client.PostAll(context.Background(), evs, 3, func(r Result) { streamed = append(streamed, r) })
	if err != nil {
		t.Fatalf("PostAll: %v", err)
	}
	if len(results) != 3 || len(streamed) != 3 {
		t.Fatalf("%d results, %d streamed; want 3 requests for 8 events in batches of 3", len(results), len(streamed))
	}
	for i, r := range results {
		if !r.OK() || r.Body != "ok" {
			t.Fatalf("request %d: %+v", i, r)
		}
	}
	if got := [3]int{results[0].Events, results[1].Events, results[2].Events}; got != [3]int{3, 3, 2} {
		t.Fatalf("events per request = %v, want 3 3 2", got)
	}
	total := 0
	for i, env := range rc.accepted {
		total += len(env.Payload)
		if rc.types[i] != "application/json" {
			t.Fatalf("content type %q", rc.types[i])
		}
	}
	if total != len(evs) {
		t.Fatalf("receiver accepted %d events, want %d", total, len(evs))
	}
}

func TestPostRefused(t *testing.T) {
	key := newKey(t)
	_, srv := newReceiver(t, "kid-1", key)
	evs, err := LoadEvents("testdata/envelope.json")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		client *Client
	}{
		{"tampered body", &Client{URL: srv.URL + "/webhooks", Key: key, KeyID: "kid-1", Tamper: true}},
		{"untrusted key", &Client{URL: srv.URL + "/webhooks", Key: newKey(t), KeyID: "kid-1"}},
		{"unknown kid", &Client{URL: srv.URL + "/webhooks", Key: key, KeyID: "kid-2"}},
		{"stale clock", &Client{URL: srv.URL + "/webhooks", Key: key, KeyID: "kid-1",
			Now: func() time.Time { return time.Now().Add(-time.Hour) }}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := tt.client.Post(context.Background(), evs)
			if err != nil {
				t.Fatalf("Post: %v", err)
			}
			if r.Status != http.StatusUnauthorized || r.OK() {
				t.Fatalf("status %d (%s), want 401", r.Status, r.Body)
			}
		})
	}
}

func TestPostErrors(t *testing.T) {
	key := newKey(t)
	evs, err := LoadEvents("testdata/envelope.json")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := (&Client{URL: "/relative", Key: key, KeyID: "k"}).Post(context.Background(), evs); err == nil {
		t.Error("relative URL accepted")
	}
	if _, err := (&Client{URL: "http://127.0.0.1:1/", Key: key, KeyID: "k"}).Post(context.Background(), nil); err == nil {
		t.Error("empty request accepted")
	}
	// Nothing listens on port 1 of the loopback address.
	if _, err := (&Client{URL: "http://127.0.0.1:1/webhooks", Key: key, KeyID: "k"}).Post(context.Background(), evs); err == nil {
		t.Error("connection failure not reported")
	}
}

func TestDevKeyFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), ".local")
	kid, err := WriteDevKey(dir)
	if err != nil {
		t.Fatalf("WriteDevKey: %v", err)
	}
	info, err := os.Stat(filepath.Join(dir, DevKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm != 0o600 {
		t.Fatalf("%s mode %v, want 0600", DevKeyFile, perm)
	}
	key, gotKid, err := LoadSigningKey(filepath.Join(dir, DevKeyFile), "", filepath.Join(dir, DevJWKSFile))
	if err != nil || gotKid != kid {
		t.Fatalf("LoadSigningKey = kid %q, %v; want %q", gotKid, err, kid)
	}
	// The files work together: the receiver trusting the JWKS accepts the key's signatures.
	keys, err := signature.FileKeys(filepath.Join(dir, DevJWKSFile))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(&receiver{verifier: signature.NewVerifier(keys, signature.Options{})})
	defer srv.Close()
	evs, err := GenerateOrderLifecycles(1, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	r, err := (&Client{URL: srv.URL + "/webhooks", Key: key, KeyID: gotKid}).Post(context.Background(), evs)
	if err != nil || !r.OK() {
		t.Fatalf("Post with dev key: %+v, %v", r, err)
	}

	// An explicit kid wins; a JWKS that does not match the key is refused.
	if _, k, err := LoadSigningKey(filepath.Join(dir, DevKeyFile), "given", "/nonexistent"); err != nil || k != "given" {
		t.Fatalf("explicit kid: %q, %v", k, err)
	}
	other := filepath.Join(t.TempDir(), "other")
	if _, err := WriteDevKey(other); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadSigningKey(filepath.Join(dir, DevKeyFile), "", filepath.Join(other, DevJWKSFile)); err == nil {
		t.Fatal("a JWKS of another key was accepted")
	}
}

// PostBody signs and sends any body unchanged: one that is no envelope (the
// receiver answers 400 after a valid signature, 401 would mean a bad one).
func TestPostBodySendsAnyBodySigned(t *testing.T) {
	key := newKey(t)
	_, srv := newReceiver(t, "kid-1", key)
	client := &Client{URL: srv.URL + "/webhooks", Key: key, KeyID: "kid-1"}
	body := []byte("not json \xff")
	r, err := client.PostBody(context.Background(), body)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != http.StatusBadRequest {
		t.Fatalf("answer %+v; want 400 (authentic, not an envelope)", r)
	}
	if string(body) != "not json \xff" {
		t.Fatalf("body changed to %q", body)
	}
	client.Tamper = true
	if r, err := client.PostBody(context.Background(), body); err != nil || r.Status != http.StatusUnauthorized || string(body) != "not json \xff" {
		t.Fatalf("tampered: %+v %v, body %q", r, err, body)
	}
}
