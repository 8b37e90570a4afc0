// Command subscription is the onEvent Lambda of the stack's Upvest webhook
// subscriptions custom resource (CDK Provider framework; see
// shared/subscription). It reads the key sync's variables: the Upvest API,
// the secret with the API client's credentials (it alone reads it for admin
// calls), and the JWKS parameter it waits for before enabling anything.
package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/upvest-webhooks/upvest-webhooks/shared/config"
	"github.com/upvest-webhooks/upvest-webhooks/shared/keysync"
	"github.com/upvest-webhooks/upvest-webhooks/shared/signature"
	"github.com/upvest-webhooks/upvest-webhooks/shared/subscription"
)

// envKeySyncFunction names the key sync function (infra/stack.EnvKeySyncFunction).
const envKeySyncFunction = "KEYSYNC_FUNCTION_NAME"

func main() {
	cfg, err := config.LoadKeySync(os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(context.Background())
	if err != nil {
		fmt.Fprintln(os.Stderr, "aws configuration:", err)
		os.Exit(1)
	}
	params := ssm.NewFromConfig(awsCfg)
	keysReady := func(ctx context.Context) error {
		out, err := params.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(cfg.Parameter)})
		if err != nil {
			return fmt.Errorf("read %s: %w", cfg.Parameter, err)
		}
		if out.Parameter == nil || out.Parameter.Value == nil {
			return errors.New(cfg.Parameter + " is empty")
		}
		if _, _, err := signature.ParseJWKS([]byte(*out.Parameter.Value)); err != nil {
			return fmt.Errorf("%s: %w", cfg.Parameter, err)
		}
		return nil
	}
	keySyncFunction := os.Getenv(envKeySyncFunction)
	functions := awslambda.NewFromConfig(awsCfg)
	h := &subscription.Handler{
		Webhooks: keysync.Webhooks{Client: &keysync.Client{
			BaseURL: cfg.BaseURL, APIVersion: cfg.APIVersion,
			Credentials: keysync.SecretsManagerCredentials(secretsmanager.NewFromConfig(awsCfg), cfg.SecretID),
			HTTP:        &http.Client{Timeout: 15 * time.Second},
		}},
		// Keys first: when the parameter is still empty (a first deploy), run
		// the key sync now rather than wait up to 15 minutes for its schedule.
		KeysReady: func(ctx context.Context) error {
			err := keysReady(ctx)
			if err == nil || keySyncFunction == "" {
				return err
			}
			out, ierr := functions.Invoke(ctx, &awslambda.InvokeInput{FunctionName: aws.String(keySyncFunction)})
			switch {
			case ierr != nil:
				return fmt.Errorf("%w; running the key sync failed: %v", err, ierr)
			case out.FunctionError != nil:
				return fmt.Errorf("%w; the key sync failed: %s", err, out.Payload)
			}
			return keysReady(ctx)
		},
	}
	lambda.Start(h.Handle)
}
