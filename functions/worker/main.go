// Command worker is the Lambda consuming one domain's queue (DOMAIN): it
// applies each event to the domain's state table and records the outcome in
// the ledger. This file only wires the parts together.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/app"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/app/workerapp"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/awssdk"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/config"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/observability"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/tracing"
)

func main() {
	cfg, err := config.LoadWorker(os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	ctx := context.Background()
	awsCfg, err := awssdk.LoadDefault(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "worker: load AWS configuration:", err)
		os.Exit(1)
	}
	service := observability.WorkerService(string(cfg.Domain))
	traces, err := tracing.FromEnv(ctx, os.Getenv, tracing.Settings{
		Service: service, AWS: awsCfg, Log: observability.NewLogger(os.Stdout, service),
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "worker: tracing:", err)
		os.Exit(1)
	}
	w := workerapp.New(cfg, awsCfg, os.Stdout, app.WithTracing(traces))
	lambda.Start(tracing.Flushing(traces, w.Handle))
}
