package ops_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	neturl "net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/upvest-webhooks/upvest-webhooks/shared/local/localaws/awstest"
	"github.com/upvest-webhooks/upvest-webhooks/shared/local/localrun/localruntest"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/config"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/keysync"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/ops"
)

// golive runs `ops golive -local` on env's tables, with the endpoint and the
// JWKS file given (as `make run` has them), against w's fake Upvest.
func (w *upvestWorld) golive(t *testing.T, env awstest.Environment, endpoint, jwksFile string, args ...string) (string, error) {
	t.Helper()
	getenv := func(k string) string {
		switch k {
		case config.EnvSendURL:
			return endpoint
		case config.EnvJWKSFile:
			return jwksFile
		}
		return os.Getenv(k)
	}
	var out, errOut bytes.Buffer
	c := &ops.CLI{Getenv: getenv, Stdout: &out, Stderr: &errOut, LocalNames: env.Names,
		UpvestAPI: func(context.Context, bool) (*keysync.Client, error) { return w.client, nil }}
	err := c.Run(context.Background(), append([]string{"golive", "-local"}, args...))
	t.Logf("ops golive:\n%s%s", out.String(), errOut.String())
	return out.String(), err
}

func writeFile(t *testing.T, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func answering(t *testing.T, status int) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(status) }))
	t.Cleanup(srv.Close)
	return srv.URL + "/webhooks"
}

func TestGoLiveOnTheLocalPipeline(t *testing.T) {
	env := awstest.Env(t)
	run := localruntest.Start(t, env, localruntest.Options{Workers: true})
	devKey := &signatureKey{key: run.Key, kid: run.KeyID}
	trusted := writeFile(t, devKey.jwks(t)) // what the local endpoint verifies with

	t.Run("green end to end", func(t *testing.T) {
		w := newUpvest(t, devKey, nil)
		h := w.create(t, "-local", "-title", "local", "-url", run.URL)
		out, err := w.golive(t, env, run.URL, trusted, "-json")
		var report struct {
			Live  bool       `json:"live"`
			Steps []ops.Step `json:"steps"`
		}
		if err != nil || json.Unmarshal([]byte(out), &report) != nil || !report.Live || len(report.Steps) != 4 {
			t.Fatalf("golive: %v\n%s", err, out)
		}
		for _, s := range report.Steps {
			if !s.OK {
				t.Errorf("step %s failed: %s", s.Name, s.Verdict)
			}
		}
		if last := report.Steps[3].Verdict; !strings.Contains(last, h.ID) || !strings.Contains(last, "verified and recorded") {
			t.Errorf("delivery verdict %q", last)
		}
		// The ledger holds the event before the fake has its answer: wait for it.
		w.fake.Wait()
		if d := w.fake.Deliveries(); len(d) != 1 || d[0].Status != http.StatusOK {
			t.Errorf("deliveries %+v", d)
		}
	})

	// Deployed, ingest's IP allowlist admits Upvest's addresses only, so the
	// unsigned probe from the operator's machine meets ingest's own 403. That
	// is this stack's endpoint answering: the check goes on, and the test
	// delivery (from an allowed address) proves the rest.
	t.Run("IP allowlist refuses this machine, admits Upvest", func(t *testing.T) {
		target, err := neturl.Parse(run.URL)
		if err != nil {
			t.Fatal(err)
		}
		proxy := httputil.NewSingleHostReverseProxy(&neturl.URL{Scheme: target.Scheme, Host: target.Host})
		allowlisted := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Signature") == "" { // not from the fake Upvest's address
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusForbidden)
				_, _ = w.Write([]byte(`{"error":"forbidden","message":"source address not allowed"}`))
				return
			}
			proxy.ServeHTTP(w, r)
		}))
		t.Cleanup(allowlisted.Close)
		endpoint := allowlisted.URL + target.Path
		w := newUpvest(t, devKey, nil)
		w.create(t, "-local", "-title", "allowlisted", "-url", endpoint)
		out, err := w.golive(t, env, endpoint, trusted)
		if err != nil || !strings.Contains(out, "LIVE") || !strings.Contains(out, "IP allowlist") {
			t.Fatalf("golive behind the allowlist: %v\n%s", err, out)
		}
	})

	// The operator's clock runs a minute ahead (a laptop or VM that drifted):
	// the ledger's received_at comes from the endpoint's clock, so the test
	// delivery must be looked for by that clock, not by this machine's.
	t.Run("this machine's clock runs ahead", func(t *testing.T) {
		w := newUpvest(t, devKey, nil)
		w.create(t, "-local", "-title", "skewed", "-url", run.URL)
		g := &ops.GoLive{
			WebhookURL: run.URL, JWKSWhere: trusted,
			JWKS:   func(context.Context) ([]byte, error) { return os.ReadFile(trusted) },
			Upvest: w.client, Ledger: ops.ScanLedger(env.DynamoDB, env.LedgerTable),
			Wait: time.Minute, Poll: 100 * time.Millisecond, // found as soon as it is there
			Now: func() time.Time { return time.Now().Add(time.Minute) },
		}
		steps := g.Run(context.Background(), func(s ops.Step) { t.Logf("%s: %v %s", s.Name, s.OK, s.Verdict) })
		if len(steps) != 4 || !steps[3].OK {
			t.Fatalf("golive with a clock a minute ahead: %+v", steps)
		}
	})

	// A lane dropped or renamed in the stack's subscriptions stays on the URL,
	// disabled: the one enabled subscription there is the one to check.
	t.Run("a disabled leftover beside the enabled subscription", func(t *testing.T) {
		w := newUpvest(t, devKey, nil)
		w.create(t, "-local", "-title", "dropped lane", "-enable=false", "-url", run.URL)
		h := w.create(t, "-local", "-title", "local", "-url", run.URL)
		out, err := w.golive(t, env, run.URL, trusted)
		if err != nil || !strings.Contains(out, "LIVE") || !strings.Contains(out, h.ID) {
			t.Fatalf("golive: %v\n%s", err, out)
		}
	})

	other := newSignatureKey(t)
	for _, tt := range []struct {
		name     string
		hookKey  *signatureKey // signs the fake's deliveries (default the dev key)
		endpoint string        // default the run's
		jwksFile string        // default the trusted one
		setup    func(t *testing.T, w *upvestWorld) []string
		step     string
		verdict  string
		fix      string
	}{
		{name: "wrong URL: nothing answers", endpoint: "http://127.0.0.1:1/webhooks",
			step: "endpoint", verdict: "no answer", fix: "wrong URL"},
		{name: "5xx", endpoint: answering(t, http.StatusServiceUnavailable),
			step: "endpoint", verdict: "503 (5xx)", fix: "ops keys sync"},
		{name: "IP allowlist", endpoint: answering(t, http.StatusForbidden),
			step: "endpoint", verdict: "IP allowlist", fix: "IP_ALLOWLIST"},
		{name: "not a receiver", endpoint: answering(t, http.StatusOK),
			step: "endpoint", verdict: "want 401", fix: "wrong URL"},
		{name: "keys missing", jwksFile: filepath.Join(t.TempDir(), "missing.json"),
			step: "keys", verdict: "keys missing", fix: "ops keys sync"},
		{name: "keys not Upvest's: signatures would be refused", jwksFile: writeFile(t, other.jwks(t)),
			step: "keys", verdict: "signatures will be refused", fix: "ops keys sync"},
		{name: "no subscription", setup: func(t *testing.T, w *upvestWorld) []string { return nil },
			step: "subscription", verdict: "none of the 0 subscription(s) points at", fix: "ops webhooks create"},
		{name: "subscription on another URL", setup: func(t *testing.T, w *upvestWorld) []string {
			h := w.create(t, "-title", "elsewhere", "-url", "https://elsewhere.example.com/webhooks")
			return []string{"-webhook-id", h.ID}
		}, step: "subscription", verdict: "wrong URL", fix: "ops webhooks update"},
		{name: "subscription disabled", setup: func(t *testing.T, w *upvestWorld) []string {
			w.create(t, "-local", "-title", "off", "-enable=false", "-url", run.URL)
			return nil
		}, step: "subscription", verdict: "is disabled", fix: "ops webhooks enable"},
		{name: "delivery's signature refused", hookKey: other,
			step: "delivery", verdict: "no verified request", fix: "signature refused"},
		// The fix follows Upvest's answer: not every refusal is a missing scope.
		{name: "test delivery refused: rate limited", setup: func(t *testing.T, w *upvestWorld) []string {
			h := w.create(t, "-local", "-title", "local", "-url", run.URL)
			w.fake.FailNext("/webhooks/"+h.ID+"/test", 429, 429, 429)
			return nil
		}, step: "delivery", verdict: "test delivery not requested", fix: "try again"},
		{name: "test delivery refused: scope", setup: func(t *testing.T, w *upvestWorld) []string {
			w.create(t, "-local", "-title", "local", "-url", run.URL)
			w.fake.GrantScopes("webhooks:read")
			w.fake.ExpireTokens() // the admin token create got is not used again
			return nil
		}, step: "delivery", verdict: "test delivery not requested", fix: "webhooks:admin"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			hookKey := devKey
			if tt.hookKey != nil {
				hookKey = tt.hookKey
			}
			// Upvest publishes the dev key (what the endpoint trusts) in every case.
			w := newUpvest(t, hookKey, devKey.jwks(t))
			endpoint, jwksFile := run.URL, trusted
			if tt.endpoint != "" {
				endpoint = tt.endpoint
			}
			if tt.jwksFile != "" {
				jwksFile = tt.jwksFile
			}
			var args []string
			if tt.setup != nil {
				args = tt.setup(t, w)
			} else {
				w.create(t, "-local", "-title", "local", "-url", run.URL)
			}
			out, err := w.golive(t, env, endpoint, jwksFile, append(args, "-wait", "3s")...)
			if !errors.Is(err, ops.ErrNotLive) {
				t.Fatalf("err %v, want ErrNotLive", err)
			}
			if !strings.Contains(err.Error(), tt.step+": ") || !strings.Contains(out, "FAIL") ||
				!strings.Contains(out, tt.verdict) || !strings.Contains(out, "fix: ") || !strings.Contains(out, tt.fix) {
				t.Errorf("want step %s to fail saying %q, fix %q; got %v\n%s", tt.step, tt.verdict, tt.fix, err, out)
			}
		})
	}
}

func TestGoLiveRefusesBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"golive", "-webhook-id", "nope"},
		{"golive", "-wait", "0s"},
		{"golive", "-wait", "2h"},
		{"golive", "extra"},
	} {
		if _, err := run(nil, noEnv, args...); !errors.Is(err, ops.ErrUsage) {
			t.Errorf("%v: %v, want a usage error", args, err)
		}
	}
	if _, err := run(nil, func(k string) string {
		if k == "LEDGER_TABLE" {
			return "ledger"
		}
		return ""
	}, "golive"); err == nil || !strings.Contains(err.Error(), "WEBHOOK_URL") {
		t.Errorf("deployed without WEBHOOK_URL: %v", err)
	}
	// Deployed with nothing set: every missing variable in one answer.
	_, err := run(nil, noEnv, "golive")
	for _, want := range []string{"WEBHOOK_URL", "UPVEST_JWKS_SSM_PARAMETER", "LEDGER_TABLE", "UPVEST_API_BASE_URL", "UPVEST_API_SECRET_ID"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("deployed with nothing set: %v, want it to name %s", err, want)
		}
	}
}
