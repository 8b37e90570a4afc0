// Command ingest is the webhook receiver Lambda behind API Gateway.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/app"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/app/ingestapp"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/awssdk"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/config"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/observability"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/tracing"
)

func main() {
	cfg, err := config.LoadIngest(os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	ctx := context.Background()
	awsCfg, err := awssdk.LoadDefault(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "aws configuration:", err)
		os.Exit(1)
	}
	traces, err := tracing.FromEnv(ctx, os.Getenv, tracing.Settings{
		Service: observability.ServiceIngest, AWS: awsCfg, Log: observability.NewLogger(os.Stdout, observability.ServiceIngest),
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "tracing:", err)
		os.Exit(1)
	}
	service, err := ingestapp.New(ctx, cfg, awsCfg, os.Stdout, app.WithTracing(traces))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	lambda.Start(tracing.Flushing(traces, service.Handle))
}
