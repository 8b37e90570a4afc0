package keysync_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/keysync"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/keysync/keysynctest"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/signature"
	"github.com/upvest-webhooks/upvest-webhooks/shared/testkit/testclock"
)

// apiWorld is the fake Upvest and a client of it with static credentials.
type apiWorld struct {
	upvest *keysynctest.Upvest
	client *keysync.Client
	sleeps []time.Duration
	clock  *testclock.Clock // the fake's and the client's: time moves only when a test moves it
}

func newAPIWorld(t *testing.T) *apiWorld {
	t.Helper()
	pemBytes, kid, known := newAPIKey(t)
	key, err := keysync.LoadSigningKey(pemBytes, "")
	if err != nil {
		t.Fatal(err)
	}
	hookPEM, hookJWKS, hookKid, err := signature.GenerateDevKey()
	if err != nil {
		t.Fatal(err)
	}
	hookKey, _ := keysync.LoadSigningKey(hookPEM, "")
	w := &apiWorld{clock: testclock.New(time.Now())}
	w.upvest = keysynctest.Start(t, keysynctest.Config{
		ClientID: clientID, ClientSecret: clientSecret, KeyID: kid, PublicKey: known[kid], JWKS: hookJWKS,
		WebhookKey: hookKey, WebhookKeyID: hookKid, AllowHTTPLoopback: true, Now: w.clock.Now,
	})
	w.client = &keysync.Client{
		BaseURL:     w.upvest.URL,
		Credentials: keysync.StaticCredentials(keysync.Credentials{ClientID: clientID, ClientSecret: clientSecret, SigningKey: key, SigningKeyID: kid}),
		Sleep: func(_ context.Context, d time.Duration) error {
			w.sleeps = append(w.sleeps, d)
			return nil
		},
		Now: w.clock.Now,
	}
	return w
}

func TestFetchJWKSAsksForTheConfiguredScope(t *testing.T) {
	ctx := context.Background()
	w := newAPIWorld(t)
	if _, err := w.client.FetchJWKS(ctx); err != nil {
		t.Fatal(err)
	}
	// A client issued only webhooks:admin cannot get a webhooks:read token...
	w.upvest.GrantScopes(keysync.ScopeAdmin)
	w2 := &keysync.Client{BaseURL: w.client.BaseURL, Credentials: w.client.Credentials}
	_, err := w2.FetchJWKS(ctx)
	var apiErr *keysync.APIError
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusForbidden || apiErr.Type != "forbidden" || apiErr.RequestID == "" {
		t.Fatalf("read scope not granted: %v", err)
	}
	// ...and fetches keys when told to ask for webhooks:admin.
	w2.KeysScope = keysync.ScopeAdmin
	if _, err := w2.FetchJWKS(ctx); err != nil {
		t.Fatal(err)
	}
	if got := w.upvest.TokenScopes(); !slices.Equal(got, []string{"webhooks:read", "webhooks:read", "webhooks:admin"}) {
		t.Errorf("token scopes %v", got)
	}
}

func TestTokenIsKeptUntilShortlyBeforeItExpires(t *testing.T) {
	ctx := context.Background()
	w := newAPIWorld(t)
	w.upvest.SetTokenLifetime(3 * time.Second) // kept 2.7 s: a tenth of its life is the margin
	for range 3 {
		if _, err := w.client.FetchJWKS(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(w.upvest.TokenScopes()); n != 1 {
		t.Fatalf("%d token requests for 3 calls in one warm container, want 1", n)
	}
	w.clock.Advance(2800 * time.Millisecond)
	if _, err := w.client.FetchJWKS(ctx); err != nil || len(w.upvest.TokenScopes()) != 2 {
		t.Fatalf("after its time: %v, %d token requests, want 2", err, len(w.upvest.TokenScopes()))
	}
	if r := w.upvest.Refusals(); len(r) != 0 {
		t.Errorf("the fake refused %v: the client sent a token it should have known expired", r)
	}
}

func TestExpiredTokenIsRefreshed(t *testing.T) {
	ctx := context.Background()
	w := newAPIWorld(t)
	hooks := keysync.Webhooks{Client: w.client}
	if _, err := hooks.List(ctx, keysync.ListOptions{}); err != nil {
		t.Fatal(err)
	}
	w.upvest.ExpireTokens() // Upvest ended it before our clock said so
	if _, err := hooks.List(ctx, keysync.ListOptions{}); err != nil {
		t.Fatalf("after expiry: %v (refusals %v)", err, w.upvest.Refusals())
	}
	if got := w.upvest.TokenScopes(); len(got) != 2 {
		t.Errorf("token requests %v, want a second one after the expiry", got)
	}
	if r := w.upvest.Refusals(); len(r) != 1 || !strings.Contains(r[0], "expired") {
		t.Errorf("refusals %v, want the one expired token", r)
	}
}

func TestRetriesAreSignedAfresh(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		name     string
		path     string
		statuses []int
		wantErr  int // 0: success
	}{
		{"429 then ok", "/auth/verify_keys", []int{429}, 0},
		{"503, 502 then ok", "/auth/verify_keys", []int{503, 502}, 0},
		{"no answer to the token request, then ok", "/auth/token", []int{0}, 0},
		{"500 three times", "/auth/verify_keys", []int{500, 500, 500}, 500},
		{"400 is not retried", "/auth/verify_keys", []int{400}, 400},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := newAPIWorld(t)
			w.upvest.FailNext(tt.path, tt.statuses...)
			_, err := w.client.FetchJWKS(ctx)
			var apiErr *keysync.APIError
			switch {
			case tt.wantErr == 0 && err != nil:
				t.Fatalf("%v (refusals %v)", err, w.upvest.Refusals())
			case tt.wantErr != 0 && (!errors.As(err, &apiErr) || apiErr.Status != tt.wantErr):
				t.Fatalf("err %v, want status %d", err, tt.wantErr)
			}
			for _, r := range w.upvest.Refusals() {
				if strings.Contains(r, "replayed") || strings.Contains(r, "signature") {
					t.Errorf("a retry was refused: %s", r)
				}
			}
			want := min(len(tt.statuses), keysync.DefaultRetries)
			if tt.wantErr == 400 {
				want = 0
			}
			if len(w.sleeps) != want {
				t.Errorf("%d waits, want %d", len(w.sleeps), want)
			}
			for i, d := range w.sleeps {
				if base := 250 * time.Millisecond << i; d < base || d >= 2*base {
					t.Errorf("wait %d is %v, want jitter in [%v, %v)", i, d, base, 2*base)
				}
			}
		})
	}
}

func TestCreateIsNotRetriedAfterAServerError(t *testing.T) {
	ctx := context.Background()
	w := newAPIWorld(t)
	hooks := keysync.Webhooks{Client: w.client}
	title, url := "orders", "https://hooks.example.com/webhooks"
	w.upvest.FailNext("/webhooks", 500)
	if _, err := hooks.Create(ctx, keysync.WebhookChange{Title: &title, URL: &url}); err == nil {
		t.Fatal("a 500 on create came back as success")
	}
	w.upvest.FailNext("/webhooks", 429)
	if _, err := hooks.Create(ctx, keysync.WebhookChange{Title: &title, URL: &url}); err != nil {
		t.Fatalf("a 429 on create was not retried: %v", err)
	}
	if n := len(w.upvest.Webhooks()); n != 1 {
		t.Errorf("%d subscriptions, want 1", n)
	}
}

// A 429 or 503 whose Retry-After is longer than the client waits is not tried
// again at once (a retry inside the window only meets another 429): the answer
// comes back, saying when Upvest takes calls again. One within the bound, in
// seconds or as an HTTP date, is waited for.
func TestRetryAfterIsHonouredOrReported(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		name       string
		retryAfter func(now time.Time) string
		wantCalls  int
		wantWait   time.Duration // the first wait, at least
		wantErr    string
	}{
		{"seconds beyond the bound", func(time.Time) string { return "60" }, 1, 0, "retry after 60s"},
		{"a date beyond the bound", func(now time.Time) string { return now.Add(5 * time.Minute).UTC().Format(http.TimeFormat) }, 1, 0, "retry after"},
		{"seconds within the bound", func(time.Time) string { return "3" }, 2, 3 * time.Second, ""},
		{"a date within the bound", func(now time.Time) string { return now.Add(4 * time.Second).UTC().Format(http.TimeFormat) }, 2, 2 * time.Second, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := newAPIWorld(t)
			calls := 0
			srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
				if r.URL.Path == keysync.VerifyKeysPath {
					calls++
					if calls == 1 {
						rw.Header().Set("Retry-After", tt.retryAfter(w.clock.Now()))
						rw.Header().Set("Content-Type", "application/problem+json")
						rw.WriteHeader(http.StatusTooManyRequests)
						_, _ = rw.Write([]byte(`{"type":"too_many_requests","status":429,"title":"Too Many Requests"}`))
						return
					}
				}
				w.upvest.ServeHTTP(rw, r)
			}))
			t.Cleanup(srv.Close)
			w.client.BaseURL = srv.URL
			_, err := w.client.FetchJWKS(ctx)
			if calls != tt.wantCalls {
				t.Errorf("%d calls, want %d (waits %v)", calls, tt.wantCalls, w.sleeps)
			}
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("err %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("err %v, want it to say %q", err, tt.wantErr)
			}
			if tt.wantWait > 0 && (len(w.sleeps) == 0 || w.sleeps[0] < tt.wantWait) {
				t.Errorf("waits %v, want the first at least %v", w.sleeps, tt.wantWait)
			}
		})
	}
}

// A DELETE whose 204 was lost on the way (a 502 from a proxy, a timeout) is
// tried again and meets 404: the subscription is gone, as asked.
func TestDeleteWhoseAnswerWasLostSucceeds(t *testing.T) {
	ctx := context.Background()
	w := newAPIWorld(t)
	hooks := keysync.Webhooks{Client: w.client}
	title, url := "orders", "https://hooks.example.com/webhooks"
	h, err := hooks.Create(ctx, keysync.WebhookChange{Title: &title, URL: &url})
	if err != nil {
		t.Fatal(err)
	}
	var lost atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodDelete && lost.CompareAndSwap(false, true) {
			w.upvest.ServeHTTP(httptest.NewRecorder(), r) // Upvest deletes it; its answer is lost
			rw.WriteHeader(http.StatusBadGateway)
			return
		}
		w.upvest.ServeHTTP(rw, r)
	}))
	t.Cleanup(srv.Close)
	w.client.BaseURL = srv.URL
	if err := hooks.Delete(ctx, h.ID); err != nil {
		t.Errorf("delete: %v", err)
	}
	if n := len(w.upvest.Webhooks()); n != 0 {
		t.Errorf("%d subscriptions left", n)
	}
	// A first attempt's 404 is still an error: nothing was deleted.
	if err := hooks.Delete(ctx, h.ID); err == nil {
		t.Error("deleting an unknown subscription succeeded")
	}
}
