// Command keysync is the scheduled Lambda that keeps the JWKS parameter equal
// to Upvest's published webhook keys (see shared/prod/keysync).
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/awssdk"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/config"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/keysync"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/observability"
)

func main() {
	cfg, err := config.LoadKeySync(os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	awsCfg, err := awssdk.LoadDefault(context.Background())
	if err != nil {
		fmt.Fprintln(os.Stderr, "aws configuration:", err)
		os.Exit(1)
	}
	lambda.Start(keysync.New(cfg, awsCfg, observability.NewLogger(os.Stdout, keysync.Service)).Handle)
}
