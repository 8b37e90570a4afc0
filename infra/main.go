// Command infra is the CDK app: `cdk synth|deploy -c env=sandbox|live`.
// It reads the configuration, builds the Lambda binaries of the checkout and
// wires the stack (see package stack).
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"

	"github.com/upvest-webhooks/upvest-webhooks/infra/stack"
)

func main() {
	err := run()
	jsii.Close() // stops the jsii runtime and removes its temporary files; os.Exit skips defers
	if err != nil {
		fmt.Fprintln(os.Stderr, "cdk app:", err)
		os.Exit(1)
	}
}

func run() error {
	app := awscdk.NewApp(nil)
	get := func(key string) any { return app.Node().TryGetContext(jsii.String(key)) }

	// The whole context, so that a misspelt key is refused rather than ignored.
	all, ok := app.Node().GetAllContext(nil).(map[string]any)
	if !ok { // else every setting would be read as unset
		return fmt.Errorf("infra config (CDK context): the context is a %T, not a map", app.Node().GetAllContext(nil))
	}
	cfg, err := stack.LoadContext(all)
	if err != nil {
		return err
	}
	// The CLI's region (the stack's when it is environment-agnostic): checked
	// before the build, so a certificate from another region fails at once.
	if err := cfg.CheckRegion(os.Getenv("CDK_DEFAULT_REGION")); err != nil {
		return fmt.Errorf("infra config (CDK context): %w", err)
	}
	// The assets are always this checkout's code, built now for linux/arm64,
	// whether the CLI was started by make, by npx or globally installed.
	ctx := context.Background()
	root, err := stack.RepoRoot(ctx)
	if err != nil {
		return err
	}
	if cfg.AssetsDir, err = stack.BuildLambdas(ctx, root, filepath.Join(*app.Outdir(), "lambda-build"), cfg.Assets()); err != nil {
		return err
	}

	var env *awscdk.Environment
	// Set by the CLI when it can resolve credentials; without them the stack is environment-agnostic.
	if account, region := os.Getenv("CDK_DEFAULT_ACCOUNT"), os.Getenv("CDK_DEFAULT_REGION"); account != "" && region != "" {
		env = &awscdk.Environment{Account: jsii.String(account), Region: jsii.String(region)}
	}
	stack.NewUpvestWebhooksStack(app, cfg.StackName, &stack.UpvestWebhooksStackProps{
		StackProps: awscdk.StackProps{Env: env},
		Config:     cfg,
	})
	// cdk-nag runs on every synth unless -c nag=false.
	if nag := get("nag"); nag != false && nag != "false" {
		stack.CheckWithNag(app)
	}
	app.Synth(nil)
	return nil
}
