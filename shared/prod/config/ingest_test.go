package config

import (
	"strings"
	"testing"
	"time"

	"github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/schema"
)

func ingestEnv(overrides map[string]string) func(string) string {
	env := map[string]string{schema.EnvLedgerTable: "ledger", EnvJWKSFile: "/keys.json"}
	for _, d := range events.Domains() {
		env[schema.QueueURLEnv(d)] = "https://sqs/" + string(d)
	}
	for k, v := range overrides {
		env[k] = v
	}
	return func(k string) string { return env[k] }
}

func TestLoadIngestDefaults(t *testing.T) {
	c, err := LoadIngest(ingestEnv(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.ClockSkew != time.Minute || c.MaxAge != 5*time.Minute ||
		c.IPAllowlist != "off" || c.LedgerRetention != 400*24*time.Hour || c.JWKSRefresh != 5*time.Minute {
		t.Errorf("defaults: %+v", c)
	}
	if c.QueueURLs[events.CorporateActions] != "https://sqs/corporate_actions" || len(c.QueueURLs) != len(events.Domains()) {
		t.Errorf("queue urls: %v", c.QueueURLs)
	}
}

func TestLoadIngestReportsEveryProblem(t *testing.T) {
	tests := []struct {
		name      string
		overrides map[string]string
		want      []string
	}{
		{"missing table and queue", map[string]string{schema.EnvLedgerTable: "", "QUEUE_URL_ORDERS": ""}, []string{"LEDGER_TABLE is required", "QUEUE_URL_ORDERS is required"}},
		{"no keys", map[string]string{EnvJWKSFile: ""}, []string{"one of UPVEST_JWKS_SSM_PARAMETER or UPVEST_JWKS_FILE"}},
		{"two key sources", map[string]string{EnvJWKSParameter: "/p"}, []string{"only one of"}},
		{"bad duration", map[string]string{EnvClockSkew: "soon"}, []string{`SIGNATURE_CLOCK_SKEW="soon"`}},
		// Zero would silently become the verifier's and key cache's defaults
		// (60s, 5m, 5m): refused, as the stack's context refuses it.
		{"zero durations", map[string]string{EnvClockSkew: "0s", EnvMaxAge: "0", EnvJWKSRefresh: "0m"},
			[]string{`SIGNATURE_CLOCK_SKEW="0s"`, `SIGNATURE_MAX_AGE="0"`, `UPVEST_JWKS_REFRESH="0m"`}},
		{"relative public path", map[string]string{EnvPublicPath: "webhooks"}, []string{"PUBLIC_PATH must start with /"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadIngest(ingestEnv(tt.overrides))
			if err == nil {
				t.Fatal("want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}
