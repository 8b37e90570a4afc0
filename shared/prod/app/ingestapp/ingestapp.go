// Package ingestapp assembles the ingest function from its configuration. The
// ingest Lambda and the local runner share it, so the local run is the same
// code as production, only pointed at other endpoints. It is apart from the
// worker's assembly (workerapp) so that each binary links only what it runs.
package ingestapp

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/app"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/config"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/fanout"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/ingest"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/ledger"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/observability"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/signature"
)

// New builds the ingest service: clients once, keys loaded (and checked) at
// start. Its JSON logs and EMF metrics go to out (stdout in Lambda).
func New(ctx context.Context, cfg config.Ingest, awsCfg aws.Config, out io.Writer, opts ...app.Option) (*ingest.Service, error) {
	o := app.Collect(opts)
	awsCfg = withConnectionPool(awsCfg, max(ingest.MaxClaimsInFlight, fanout.DefaultInFlight))
	awsCfg = o.Tracing.InstrumentAWS(awsCfg)
	log := observability.NewLogger(out, observability.ServiceIngest)
	keys, err := verificationKeys(ctx, cfg, awsCfg, log)
	if err != nil {
		return nil, err
	}
	allowlist, err := signature.ParseAllowlist(cfg.IPAllowlist)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", config.EnvIPAllowlist, err)
	}
	var sources ingest.SourceFilter
	if !allowlist.Off() {
		sources = allowlist
	}
	verifier := signature.NewVerifier(keys, signature.Options{ClockSkew: cfg.ClockSkew, MaxAge: cfg.MaxAge})
	ledgerStore := ledger.NewDynamo(dynamodb.NewFromConfig(awsCfg), cfg.LedgerTable, ledger.WithRetention(cfg.LedgerRetention))
	publisher := fanout.NewSQS(sqs.NewFromConfig(awsCfg), cfg.QueueURLs)
	metrics := observability.NewMetrics(out, observability.ServiceIngest)
	return ingest.New(verifier, sources, ledgerStore, publisher, log, metrics, ingest.Options{
		PublicPath:  cfg.PublicPath,
		Concurrency: cfg.Concurrency,
		Tracing:     o.Tracing.TracerProvider(),
	}), nil
}

// verificationKeys reads Upvest's JWKS from SSM (refreshed, so a key rotation
// needs no redeploy) or from a file (local run).
func verificationKeys(ctx context.Context, cfg config.Ingest, awsCfg aws.Config, log *slog.Logger) (signature.KeySource, error) {
	if cfg.JWKSFile != "" {
		keys, err := signature.FileKeys(cfg.JWKSFile, warnSkippedKey(log))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", config.EnvJWKSFile, err)
		}
		return keys, nil
	}
	loader := signature.SSMParameterLoader(ssm.NewFromConfig(awsCfg), cfg.JWKSParameter)
	keys := signature.NewCachedKeys(loader, signature.CachedKeysOptions{
		RefreshInterval: cfg.JWKSRefresh,
		OnSkippedKey:    warnSkippedKey(log),
		OnRefreshError: func(err error) {
			log.Error("verification keys not refreshed; keeping the cached set", "error", err)
		},
	})
	// Read in the background, beside the runtime's first /next: a cold start
	// does not wait for SSM, and the first request waits only for what is left
	// of this read. Not fatal: the first request tries again and answers 503
	// until keys load.
	keys.Preload(context.WithoutCancel(ctx), func(err error) {
		log.Error("verification keys not loaded at start", "parameter", cfg.JWKSParameter, "error", err)
	})
	return keys, nil
}

// warnSkippedKey logs a JWKS key that verification does not use (another
// curve, say): a warning, since the keys that are used still work.
func warnSkippedKey(log *slog.Logger) func(signature.SkippedKey) {
	return func(s signature.SkippedKey) {
		log.Warn("verification key skipped", "index", s.Index, "kid", s.Kid, "reason", s.Reason.Error())
	}
}
