package ops_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/keysync"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/keysync/keysynctest"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/ops"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/signature"
)

const (
	testClientID     = "0b7c9a52-3a41-4c2a-9d0e-5b8f0a1c2d3e"
	testClientSecret = "client-secret-never-shown"
	hookURL          = "https://hooks.example.com/webhooks"
)

// upvestWorld is a fake Upvest and one API client of it, shared by every
// ops run of a test (a warm container's client).
type upvestWorld struct {
	fake   *keysynctest.Upvest
	client *keysync.Client
}

// newUpvest starts a fake Upvest that signs test deliveries with hookKey (a
// fresh key when nil) and publishes jwks (hookKey's when nil).
func newUpvest(t *testing.T, hookKey *signatureKey, jwks []byte) *upvestWorld {
	t.Helper()
	apiPEM, apiJWKS, apiKid, err := signature.GenerateDevKey()
	if err != nil {
		t.Fatal(err)
	}
	apiKeys, _, _ := signature.ParseJWKS(apiJWKS)
	apiKey, err := keysync.LoadSigningKey(apiPEM, "")
	if err != nil {
		t.Fatal(err)
	}
	if hookKey == nil {
		hookKey = newSignatureKey(t)
	}
	if jwks == nil {
		jwks = hookKey.jwks(t)
	}
	w := &upvestWorld{fake: keysynctest.Start(t, keysynctest.Config{
		ClientID: testClientID, ClientSecret: testClientSecret, KeyID: apiKid, PublicKey: apiKeys[apiKid], JWKS: jwks,
		WebhookKey: hookKey.key, WebhookKeyID: hookKey.kid, AllowHTTPLoopback: true,
	})}
	w.client = &keysync.Client{BaseURL: w.fake.URL, Credentials: keysync.StaticCredentials(keysync.Credentials{
		ClientID: testClientID, ClientSecret: testClientSecret, SigningKey: apiKey, SigningKeyID: apiKid,
	}), Sleep: func(context.Context, time.Duration) error { return nil }}
	return w
}

// ops runs the tool against the fake; getenv may be nil.
func (w *upvestWorld) ops(t *testing.T, getenv func(string) string, args ...string) (string, error) {
	t.Helper()
	if getenv == nil {
		getenv = noEnv
	}
	var out, errOut bytes.Buffer
	c := &ops.CLI{Getenv: getenv, Stdout: &out, Stderr: &errOut,
		UpvestAPI: func(context.Context, bool) (*keysync.Client, error) { return w.client, nil }}
	err := c.Run(context.Background(), args)
	if errOut.Len() > 0 {
		t.Logf("ops %v stderr: %s", args, errOut.String())
	}
	return out.String(), err
}

func (w *upvestWorld) create(t *testing.T, args ...string) keysync.Webhook {
	t.Helper()
	out, err := w.ops(t, nil, append([]string{"webhooks", "create", "-json"}, args...)...)
	if err != nil {
		t.Fatalf("create: %v\n%s", err, out)
	}
	var h keysync.Webhook
	if err := json.Unmarshal([]byte(out), &h); err != nil {
		t.Fatalf("create -json printed %q: %v", out, err)
	}
	return h
}

func TestWebhooksEverySubcommandAgainstTheFake(t *testing.T) {
	w := newUpvest(t, nil, nil)
	h := w.create(t, "-title", "orders (lane 1)", "-url", hookURL, "-type", "order,EXECUTION", "-delay", "2s", "-max-package-size", "20480")
	if !h.Enabled || h.Title != "orders (lane 1)" || !slices.Equal(h.Type, []string{"ORDER", "EXECUTION"}) || h.Config != (keysync.WebhookConfig{Delay: "2s", MaxPackageSize: 20480}) {
		t.Fatalf("created %+v", h)
	}
	if got := w.fake.Calls(); !slices.Contains(got, "POST /webhooks") || !slices.Contains(got, "PATCH /webhooks/"+h.ID) {
		t.Errorf("create made calls %v, want a POST then a PATCH enabling it", got)
	}
	second := w.create(t, "-title", "snapshots", "-url", hookURL, "-type", "ALL", "-exclude-type", "ORDER", "-enable=false")
	if second.Enabled || !slices.Equal(second.ExcludeType, []string{"ORDER"}) {
		t.Fatalf("second %+v", second)
	}

	out, err := w.ops(t, nil, "webhooks", "list")
	if err != nil || !strings.Contains(out, h.ID) || !strings.Contains(out, second.ID) || !strings.Contains(out, "2 of 2") {
		t.Fatalf("list: %v\n%s", err, out)
	}
	out, err = w.ops(t, nil, "webhooks", "list", "-json", "-limit", "1", "-offset", "1", "-sort", "title", "-order", "desc")
	var page keysync.WebhookList
	if err != nil || json.Unmarshal([]byte(out), &page) != nil || len(page.Data) != 1 || page.Data[0].ID != h.ID || page.Meta.TotalCount != 2 {
		t.Fatalf("list page: %v\n%s", err, out)
	}
	out, err = w.ops(t, nil, "webhooks", "show", h.ID)
	if err != nil || !strings.Contains(out, hookURL) || !strings.Contains(out, "ORDER,EXECUTION") {
		t.Fatalf("show: %v\n%s", err, out)
	}
	out, err = w.ops(t, nil, "webhooks", "update", h.ID, "-json", "-title", "orders", "-delay", "1s")
	var updated keysync.Webhook
	if err != nil || json.Unmarshal([]byte(out), &updated) != nil || updated.Title != "orders" || updated.Config.Delay != "1s" || updated.Config.MaxPackageSize != 20480 {
		t.Fatalf("update: %v\n%s", err, out)
	}
	// The id between the flags, as in update -local <id> -title x.
	out, err = w.ops(t, nil, "webhooks", "update", "-json", h.ID, "-title", "orders 2")
	if err != nil || json.Unmarshal([]byte(out), &updated) != nil || updated.Title != "orders 2" {
		t.Fatalf("update with the id between the flags: %v\n%s", err, out)
	}
	if _, err = w.ops(t, nil, "webhooks", "update", "-json", h.ID, "-title", "orders"); err != nil {
		t.Fatal(err)
	}
	for _, step := range []struct {
		action string
		want   bool
	}{{"disable", false}, {"enable", true}} {
		if out, err := w.ops(t, nil, "webhooks", step.action, h.ID); err != nil || !strings.Contains(out, step.action+"d") {
			t.Fatalf("%s: %v\n%s", step.action, err, out)
		}
		if got := w.fake.Webhooks()[0].Enabled; got != step.want {
			t.Errorf("after %s enabled = %v", step.action, got)
		}
	}
	if out, err := w.ops(t, nil, "webhooks", "test", h.ID, "-json"); err != nil || !strings.Contains(out, `"result": "test"`) {
		t.Fatalf("test: %v\n%s", err, out)
	}
	w.fake.Wait()
	if d := w.fake.Deliveries(); len(d) != 1 || d[0].WebhookID != h.ID || d[0].URL != hookURL {
		t.Errorf("deliveries %+v", d)
	}
	if out, err := w.ops(t, nil, "webhooks", "delete", second.ID); err != nil || !strings.Contains(out, "deleted") {
		t.Fatalf("delete: %v\n%s", err, out)
	}
	if n := len(w.fake.Webhooks()); n != 1 {
		t.Errorf("%d subscriptions left, want 1", n)
	}
	// Reads with webhooks:read, changes with webhooks:admin: one token each, kept.
	if got := w.fake.TokenScopes(); !slices.Equal(got, []string{"webhooks:admin", "webhooks:read"}) {
		t.Errorf("token scopes %v, want admin (create) then read (list), each once", got)
	}
	if r := w.fake.Refusals(); len(r) != 0 {
		t.Errorf("refusals %v", r)
	}
}

func TestWebhooksRefusesBadFlagsBeforeAnyCall(t *testing.T) {
	w := newUpvest(t, nil, nil)
	id := "9b1deb4d-3b7d-4bad-9bdd-2b0d7b3dcb6d"
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"webhooks"}, "needs an action"},
		{[]string{"webhooks", "frobnicate"}, "unknown webhooks action"},
		{[]string{"webhooks", "create", "-url", hookURL}, "title is required"},
		{[]string{"webhooks", "create", "-title", "t"}, "url is required"},
		{[]string{"webhooks", "create", "-title", "way too long a title for Upvest's rule", "-url", hookURL}, "1 to 32"},
		{[]string{"webhooks", "create", "-title", "bad/char", "-url", hookURL}, "1 to 32"},
		{[]string{"webhooks", "create", "-title", "t", "-url", "http://hooks.example.com/w"}, "https"},
		{[]string{"webhooks", "create", "-title", "t", "-url", "https://203.0.113.7/w"}, "DNS name"},
		{[]string{"webhooks", "create", "-title", "t", "-url", "https://hooks.example.com/" + strings.Repeat("a", 1000)}, "at most 1000"},
		{[]string{"webhooks", "create", "-title", "t", "-url", hookURL, "-type", "ALL,ORDER"}, "ALL already"},
		{[]string{"webhooks", "create", "-title", "t", "-url", hookURL, "-type", "order-fills"}, "upper-case category"},
		{[]string{"webhooks", "create", "-title", "t", "-url", hookURL, "-type", "ORDER", "-exclude-type", "ORDER"}, "only with type ALL"},
		{[]string{"webhooks", "create", "-title", "t", "-url", hookURL, "-delay", "0s"}, "delay"},
		{[]string{"webhooks", "create", "-title", "t", "-url", hookURL, "-delay", "45s"}, "at most 30s"},
		{[]string{"webhooks", "create", "-title", "t", "-url", hookURL, "-delay", "1h"}, "delay"},
		{[]string{"webhooks", "create", "-title", "t", "-url", hookURL, "-max-package-size", "99"}, "between 100 and 1048576"},
		{[]string{"webhooks", "create", "-title", "t", "-url", hookURL, "-max-package-size", "0"}, "between 100"},
		{[]string{"webhooks", "create", "-title", "t", "-url", hookURL, "-max-package-size", "2000000"}, "between 100"},
		{[]string{"webhooks", "create", "-title", "t", "-url", hookURL, "extra"}, "takes no arguments"},
		{[]string{"webhooks", "update", id}, "say what to change"},
		{[]string{"webhooks", "update", id, "-local", "-json"}, "say what to change"},
		{[]string{"webhooks", "update", "-json", id, id, "-title", "x"}, "one webhook id"},
		{[]string{"webhooks", "update", "not-a-uuid", "-title", "x"}, "not a UUID"},
		{[]string{"webhooks", "show"}, "one webhook id"},
		{[]string{"webhooks", "delete", "123"}, "not a UUID"},
		{[]string{"webhooks", "test", id, id}, "one webhook id"},
		{[]string{"webhooks", "list", "-limit", "5000"}, "-limit"},
		{[]string{"webhooks", "list", "-sort", "size"}, "-sort"},
		{[]string{"webhooks", "list", "-order", "up"}, "-order"},
		{[]string{"webhooks", "enable", "-bogus", id}, "flag provided but not defined"},
	} {
		_, err := w.ops(t, nil, tt.args...)
		if !errors.Is(err, ops.ErrUsage) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: %v, want a usage error saying %q", tt.args, err, tt.want)
		}
	}
	if calls := w.fake.Calls(); len(calls) != 0 {
		t.Errorf("bad command lines reached Upvest: %v", calls)
	}
}

// TestWebhooksPrintsUpvestsErrors covers each status Upvest documents for the
// subscription calls: real refusals where the fake can make them, injected
// ones otherwise; each printed with type, status, detail and request id.
func TestWebhooksPrintsUpvestsErrors(t *testing.T) {
	unknown := "9b1deb4d-3b7d-4bad-9bdd-2b0d7b3dcb6d"
	for _, tt := range []struct {
		name    string
		prepare func(w *upvestWorld)
		args    []string
		status  int
		kind    string
	}{
		{"404 unknown id", nil, []string{"webhooks", "show", unknown}, 404, "not_found"},
		{"404 on delete", nil, []string{"webhooks", "delete", unknown}, 404, "not_found"},
		{"404 on test", nil, []string{"webhooks", "test", unknown}, 404, "not_found"},
		{"403 client lacks webhooks:admin", func(w *upvestWorld) { w.fake.GrantScopes(keysync.ScopeRead) },
			[]string{"webhooks", "create", "-title", "t", "-url", hookURL}, 403, "forbidden"},
		{"401 token refused", func(w *upvestWorld) { w.fake.IssueUnknownTokens() }, []string{"webhooks", "list"}, 401, "unauthorized"},
		{"400", func(w *upvestWorld) { w.fake.FailNext("/webhooks", 400) }, []string{"webhooks", "create", "-title", "t", "-url", hookURL}, 400, "bad_request"},
		{"406", func(w *upvestWorld) { w.fake.FailNext("/webhooks", 406) }, []string{"webhooks", "list"}, 406, "not_acceptable"},
		{"429 after the retries", func(w *upvestWorld) { w.fake.FailNext("/webhooks", 429, 429, 429) }, []string{"webhooks", "list"}, 429, "too_many_requests"},
		{"500 after the retries", func(w *upvestWorld) { w.fake.FailNext("/webhooks", 500, 500, 500) }, []string{"webhooks", "list"}, 500, "internal_server_error"},
		{"503 after the retries", func(w *upvestWorld) { w.fake.FailNext("/webhooks", 503, 503, 503) }, []string{"webhooks", "list"}, 503, "service_unavailable"},
		{"504 after the retries", func(w *upvestWorld) { w.fake.FailNext("/webhooks", 504, 504, 504) }, []string{"webhooks", "list"}, 504, "gateway_timeout"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := newUpvest(t, nil, nil)
			if tt.prepare != nil {
				tt.prepare(w)
			}
			_, err := w.ops(t, nil, tt.args...)
			var apiErr *keysync.APIError
			if !errors.As(err, &apiErr) || apiErr.Status != tt.status || apiErr.Type != tt.kind || apiErr.Detail == "" || apiErr.RequestID == "" {
				t.Fatalf("err %v, want Upvest's %d %s with detail and request id", err, tt.status, tt.kind)
			}
			for _, part := range []string{"type=" + tt.kind, "answered " + itoa(tt.status), "detail=", "upvest-request-id=" + apiErr.RequestID} {
				if !strings.Contains(err.Error(), part) {
					t.Errorf("message %q lacks %q", err, part)
				}
			}
			// -json prints the problem for scripts.
			if tt.prepare != nil {
				tt.prepare(w)
			}
			out, _ := w.ops(t, nil, append(tt.args, "-json")...)
			var doc struct {
				Error struct {
					Type      string `json:"type"`
					Status    int    `json:"status"`
					RequestID string `json:"upvest_request_id"`
				} `json:"error"`
			}
			if json.Unmarshal([]byte(out), &doc) != nil || doc.Error.Status != tt.status || doc.Error.Type != tt.kind || doc.Error.RequestID == "" {
				t.Errorf("-json printed %q", out)
			}
		})
	}
}

func itoa(n int) string { return jsonNumber(n) }

func jsonNumber(n int) string { b, _ := json.Marshal(n); return string(b) }

func TestWebhooksRefreshesAnExpiredToken(t *testing.T) {
	w := newUpvest(t, nil, nil)
	if _, err := w.ops(t, nil, "webhooks", "list"); err != nil {
		t.Fatal(err)
	}
	w.fake.ExpireTokens()
	if out, err := w.ops(t, nil, "webhooks", "list"); err != nil {
		t.Fatalf("after the token expired: %v\n%s", err, out)
	}
	if got := w.fake.TokenScopes(); len(got) != 2 {
		t.Errorf("token requests %v, want a fresh one after the expiry", got)
	}
}
