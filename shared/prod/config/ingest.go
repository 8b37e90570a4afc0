package config

import (
	"strings"
	"time"

	"github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/schema"
)

// Environment variables of the ingest function (besides schema.EnvLedgerTable
// and one schema.QueueURLEnv per domain).
const (
	EnvJWKSParameter   = "UPVEST_JWKS_SSM_PARAMETER" // SSM parameter holding Upvest's JWKS (deployed)
	EnvJWKSFile        = "UPVEST_JWKS_FILE"          // a JWKS file (local run)
	EnvJWKSRefresh     = "UPVEST_JWKS_REFRESH"       // how often keys are re-read
	EnvClockSkew       = "SIGNATURE_CLOCK_SKEW"
	EnvMaxAge          = "SIGNATURE_MAX_AGE"
	EnvPublicPath      = "PUBLIC_PATH"  // the URL path Upvest signs, when API Gateway shows another
	EnvIPAllowlist     = "IP_ALLOWLIST" // off | sandbox | live | comma-separated IPs/CIDRs
	EnvLedgerRetention = "LEDGER_RETENTION_DAYS"
	EnvConcurrency     = "INGEST_CONCURRENCY"
)

// Ingest is the ingest function's configuration.
type Ingest struct {
	LedgerTable     string
	QueueURLs       map[events.Domain]string
	JWKSParameter   string
	JWKSFile        string
	JWKSRefresh     time.Duration
	ClockSkew       time.Duration
	MaxAge          time.Duration
	PublicPath      string
	IPAllowlist     string
	LedgerRetention time.Duration
	Concurrency     int
}

// LoadIngest reads and validates the ingest configuration.
func LoadIngest(getenv func(string) string) (Ingest, error) {
	r := &reader{getenv: getenv}
	ledgerTable, queueURLs := r.ledgerAndQueues()
	c := Ingest{
		LedgerTable:     ledgerTable,
		QueueURLs:       queueURLs,
		JWKSParameter:   r.optional(EnvJWKSParameter, ""),
		JWKSFile:        r.optional(EnvJWKSFile, ""),
		JWKSRefresh:     r.duration(EnvJWKSRefresh, 5*time.Minute),
		ClockSkew:       r.duration(EnvClockSkew, 60*time.Second),
		MaxAge:          r.duration(EnvMaxAge, 5*time.Minute),
		PublicPath:      r.optional(EnvPublicPath, ""),
		IPAllowlist:     r.optional(EnvIPAllowlist, "off"),
		LedgerRetention: time.Duration(r.positiveInt(EnvLedgerRetention, 400)) * 24 * time.Hour,
		Concurrency:     int(r.positiveInt(EnvConcurrency, 0)), // 0: adapts to the package (ingest.ClaimsInFlight)
	}
	switch {
	case c.JWKSParameter == "" && c.JWKSFile == "":
		r.problems = append(r.problems, "one of "+EnvJWKSParameter+" or "+EnvJWKSFile+" is required")
	case c.JWKSParameter != "" && c.JWKSFile != "":
		r.problems = append(r.problems, "set only one of "+EnvJWKSParameter+" and "+EnvJWKSFile)
	}
	if c.PublicPath != "" && !strings.HasPrefix(c.PublicPath, "/") {
		r.problems = append(r.problems, EnvPublicPath+" must start with /")
	}
	return c, r.err("ingest")
}

// ledgerAndQueues reads the ledger table and every domain's queue URL.
func (r *reader) ledgerAndQueues() (string, map[events.Domain]string) {
	table := r.required(schema.EnvLedgerTable)
	queues := map[events.Domain]string{}
	for _, d := range events.Domains() {
		queues[d] = r.required(schema.QueueURLEnv(d))
	}
	return table, queues
}
