// Command subscription is the onEvent Lambda of the stack's Upvest webhook
// subscriptions custom resource (CDK Provider framework; see
// shared/prod/subscription). It reads the key sync's variables: the Upvest API,
// the secret with the API client's credentials (it alone reads it for admin
// calls), and the JWKS parameter it waits for before enabling anything.
package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/awssdk"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/config"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/keysync"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/subscription"
)

// envKeySyncFunction names the key sync function (infra/stack.EnvKeySyncFunction).
const envKeySyncFunction = "KEYSYNC_FUNCTION_NAME"

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
	gate := subscription.KeysGate{
		Params: ssm.NewFromConfig(awsCfg), Parameter: cfg.Parameter,
		Functions: awslambda.NewFromConfig(awsCfg), KeySyncFunction: os.Getenv(envKeySyncFunction),
	}
	h := &subscription.Handler{
		Webhooks: keysync.Webhooks{Client: &keysync.Client{
			BaseURL: cfg.BaseURL, APIVersion: cfg.APIVersion,
			Credentials: keysync.SecretsManagerCredentials(secretsmanager.NewFromConfig(awsCfg), cfg.SecretID),
			HTTP:        &http.Client{Timeout: 15 * time.Second},
		}},
		KeysReady: gate.Ready,
	}
	lambda.Start(h.Handle)
}
