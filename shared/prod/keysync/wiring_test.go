package keysync_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"testing"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"

	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/config"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/keysync"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/keysync/keysynctest"
)

// TestWiringFromTheEnvironment builds the Syncer as functions/keysync does:
// configuration from the environment, the SDK finding SSM and Secrets Manager
// through AWS_ENDPOINT_URL_*.
func TestWiringFromTheEnvironment(t *testing.T) {
	pemBytes, kid, known := newAPIKey(t)
	keys := webhookKeys(t, 1)
	upvest := keysynctest.NewUpvest(t, clientID, clientSecret, kid, known[kid], keys)
	params := keysynctest.NewSSM(t, nil)
	secrets := keysynctest.NewSecretsManager(t, map[string]string{secretARN: secretJSON(t, clientSecret, pemBytes, kid)})
	for k, v := range map[string]string{
		config.EnvUpvestAPIBaseURL:         upvest.URL,
		config.EnvUpvestAPISecret:          secretARN,
		config.EnvKeySyncSSMParameter:      parameter,
		"AWS_ENDPOINT_URL_SSM":             params.URL,
		"AWS_ENDPOINT_URL_SECRETS_MANAGER": secrets.URL,
		"AWS_REGION":                       "eu-central-1",
		"AWS_ACCESS_KEY_ID":                "AKIDTEST",
		"AWS_SECRET_ACCESS_KEY":            "secret",
		"AWS_CONFIG_FILE":                  "/dev/null",
		"AWS_SHARED_CREDENTIALS_FILE":      "/dev/null",
		"AWS_PROFILE":                      "",
	} {
		t.Setenv(k, v)
	}
	cfg, err := config.LoadKeySync(os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	handler := keysync.New(cfg, awsCfg, slog.New(slog.DiscardHandler)).Handle
	got, err := handler(context.Background(), json.RawMessage(`{}`))
	if err != nil || !got.Changed {
		t.Fatalf("%+v, %v (refusals %v)", got, err, upvest.Refusals())
	}
	if v, _ := params.Value(parameter); v != compact(t, keys) {
		t.Errorf("parameter %s", v)
	}
}
