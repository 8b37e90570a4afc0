package stack

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeFakeAssets fills dir with a dummy bootstrap per Lambda.
func writeFakeAssets(dir string) error {
	for _, name := range []string{AssetIngest, AssetWorker, AssetStreamConsumer} {
		if err := os.MkdirAll(filepath.Join(dir, name), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, name, "bootstrap"), []byte("not a real binary: "+name), 0o755); err != nil {
			return err
		}
	}
	return nil
}

func fakeAssets(t testing.TB, dir string) string {
	t.Helper()
	if err := writeFakeAssets(dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

func contextOf(m map[string]any) func(string) any {
	return func(k string) any { return m[k] }
}

func TestLoadDefaults(t *testing.T) {
	assets := fakeAssets(t, t.TempDir())
	for _, env := range []Environment{Sandbox, Live} {
		c, err := Load(contextOf(map[string]any{"env": string(env)}), assets)
		if err != nil {
			t.Fatalf("%s: %v", env, err)
		}
		want := Config{
			Env: env, StackName: "upvest-webhooks-" + string(env), AssetsDir: assets,
			JWKSParameter: "/upvest-webhooks/" + string(env) + "/jwks", JWKSRefresh: "5m",
			IPAllowlist: string(env), SignatureClockSkew: "60s",
			LedgerRetention: 400, LogLevel: "info", LogRetentionDays: 90,
			ThrottleRate: 50, ThrottleBurst: 100, MaxReceiveCount: 5,
			WorkerBatchSize: 10, WorkerBatchWindow: 1, WorkerMaxConcurrency: 5,
			QueueAgeAlarm: 900, UnauthorizedAlarm: 5, OTelTraces: OTelOff,
		}
		if c != want {
			t.Errorf("%s:\n got %+v\nwant %+v", env, c, want)
		}
		if c.PublicPath() != "/webhooks" {
			t.Errorf("%s: public path %q", env, c.PublicPath())
		}
	}
	// No env at all is a sandbox deployment, never a live one by accident.
	c, err := Load(contextOf(nil), assets)
	if err != nil || c.Env != Sandbox || c.IPAllowlist != "sandbox" {
		t.Fatalf("no context: %+v, %v", c, err)
	}
}

func TestLoadOverrides(t *testing.T) {
	assets := fakeAssets(t, t.TempDir())
	// -c values arrive as strings, cdk.json values as JSON types: both are accepted.
	c, err := Load(contextOf(map[string]any{
		"env": "live", "stackName": "webhooks-prod", "ipAllowlist": "off",
		"jwksParameter": "/custom/jwks", "throttleRate": "200", "throttleBurst": 400.0,
		"maxReceiveCount": "3", "workerBatchWindowSeconds": 0.0, "exampleStreamConsumer": "true",
		"domainName": "hooks.example.com", "certificateArn": "arn:aws:acm:eu-central-1:111111111111:certificate/x",
		"basePath": "upvest", "alarmEmail": "ops@example.com", "logLevel": "debug", "logRetentionDays": "30",
	}), assets)
	if err != nil {
		t.Fatal(err)
	}
	if c.Env != Live || c.StackName != "webhooks-prod" || c.IPAllowlist != "off" || c.JWKSParameter != "/custom/jwks" ||
		c.ThrottleRate != 200 || c.ThrottleBurst != 400 || c.MaxReceiveCount != 3 || c.WorkerBatchWindow != 0 ||
		!c.ExampleStreamConsumer || c.AlarmEmail != "ops@example.com" || c.LogLevel != "debug" || c.LogRetentionDays != 30 {
		t.Errorf("overrides not applied: %+v", c)
	}
	if got := c.PublicPath(); got != "/upvest/webhooks" {
		t.Errorf("public path behind base path: %q", got)
	}
	if got := c.QueueVisibilityTimeout(); got != 6*WorkerTimeout {
		t.Errorf("visibility with no batching window: %v", got)
	}
}

func TestQueueVisibilityTimeoutCoversWorkerAndWindow(t *testing.T) {
	for _, window := range []int{0, 1, 20, 300} {
		c := Config{WorkerBatchWindow: window}
		if min := 6*WorkerTimeout + time.Duration(window)*time.Second; c.QueueVisibilityTimeout() < min {
			t.Errorf("window %ds: visibility %v < %v", window, c.QueueVisibilityTimeout(), min)
		}
	}
}

func TestLoadRejects(t *testing.T) {
	assets := fakeAssets(t, t.TempDir())
	tests := []struct {
		name    string
		context map[string]any
		wantErr []string // every fragment must appear in the one error
	}{
		{"unknown env", map[string]any{"env": "prod"}, []string{`env: "prod"`}},
		{"other environment's allowlist", map[string]any{"env": "live", "ipAllowlist": "sandbox"}, []string{"ipAllowlist", "for env live"}},
		{"domain without certificate", map[string]any{"domainName": "a.example.com"}, []string{"domainName and certificateArn go together"}},
		{"certificate not an ARN", map[string]any{"domainName": "a.example.com", "certificateArn": "cert"}, []string{"not an ARN"}},
		{"base path without domain", map[string]any{"basePath": "x"}, []string{"basePath"}},
		{"base path with slash", map[string]any{"domainName": "a.example.com", "certificateArn": "arn:aws:acm:x", "basePath": "a/b"}, []string{"basePath"}},
		{"not a number", map[string]any{"throttleRate": "fast"}, []string{"throttleRate: want a whole number"}},
		{"fraction", map[string]any{"maxReceiveCount": 2.5}, []string{"maxReceiveCount: want a whole number"}},
		{"out of range", map[string]any{"workerMaxConcurrency": "1"}, []string{"workerMaxConcurrency: 1 is outside"}},
		{"body over Lambda's limit", map[string]any{"maxBodyBytes": "10000000"}, []string{"maxBodyBytes"}},
		{"big batch without window", map[string]any{"workerBatchSize": "50", "workerBatchWindowSeconds": "0"}, []string{"workerBatchSize: 50 needs"}},
		{"bad bool", map[string]any{"exampleStreamConsumer": "yes please"}, []string{"exampleStreamConsumer"}},
		{"bad duration", map[string]any{"jwksRefresh": "often"}, []string{"jwksRefresh"}},
		{"relative parameter", map[string]any{"jwksParameter": "jwks"}, []string{"jwksParameter"}},
		{"log level", map[string]any{"logLevel": "verbose"}, []string{"logLevel"}},
		{"log retention", map[string]any{"logRetentionDays": "10"}, []string{"logRetentionDays: 10"}},
		{"email", map[string]any{"alarmEmail": "not an address"}, []string{"alarmEmail"}},
		{"wrong type", map[string]any{"env": true}, []string{"env: want a string"}},
		{"every problem at once", map[string]any{"env": "prod", "throttleRate": "x", "logLevel": "loud"},
			[]string{"env:", "throttleRate:", "logLevel:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(contextOf(tt.context), assets)
			if err == nil {
				t.Fatal("accepted")
			}
			for _, frag := range tt.wantErr {
				if !strings.Contains(err.Error(), frag) {
					t.Errorf("error %q lacks %q", err, frag)
				}
			}
		})
	}
}

func TestLoadNeedsBuiltLambdas(t *testing.T) {
	empty := t.TempDir()
	_, err := Load(contextOf(nil), empty)
	if err == nil || !strings.Contains(err.Error(), "make build") || !strings.Contains(err.Error(), filepath.Join(empty, "ingest", "bootstrap")) {
		t.Fatalf("missing binaries: %v", err)
	}
	// The stream consumer binary is only needed when the example consumer is deployed.
	dir := t.TempDir()
	for _, name := range []string{AssetIngest, AssetWorker} {
		os.MkdirAll(filepath.Join(dir, name), 0o755)
		os.WriteFile(filepath.Join(dir, name, "bootstrap"), []byte("x"), 0o755)
	}
	if _, err := Load(contextOf(nil), dir); err != nil {
		t.Fatalf("without consumer: %v", err)
	}
	if _, err := Load(contextOf(map[string]any{"exampleStreamConsumer": true}), dir); err == nil || !strings.Contains(err.Error(), AssetStreamConsumer) {
		t.Fatalf("consumer without its binary: %v", err)
	}
}

func TestPascal(t *testing.T) {
	for in, want := range map[string]string{"orders": "Orders", "corporate_actions": "CorporateActions", "fees_taxes": "FeesTaxes"} {
		if got := pascal(in); got != want {
			t.Errorf("pascal(%q) = %q, want %q", in, got, want)
		}
	}
}
