package localaws

import (
	"context"
	"slices"
	"testing"

	"github.com/aws/smithy-go/middleware"

	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/awssdk"
)

// The local config gets the project's SDK middleware, as the Lambdas' configs
// do: tests and the local run use the clients production uses.
func TestConfigHasTheProjectsSDKMiddleware(t *testing.T) {
	cfg, err := Config(context.Background(), "http://127.0.0.1:1", "http://127.0.0.1:2")
	if err != nil {
		t.Fatal(err)
	}
	stack := middleware.NewStack("test", nil)
	for _, opt := range cfg.APIOptions {
		if err := opt(stack); err != nil {
			t.Fatal(err)
		}
	}
	if ids := stack.Finalize.List(); !slices.Contains(ids, awssdk.RequestBodyMiddlewareID) {
		t.Fatalf("finalize step %v lacks %s", ids, awssdk.RequestBodyMiddlewareID)
	}
}
