// Command infra is the CDK app: `cdk synth|deploy -c env=sandbox|live`.
// It only reads the configuration and wires the stack (see package stack).
package main

import (
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

	cfg, err := stack.Load(get, defaultAssetsDir())
	if err != nil {
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

// defaultAssetsDir is <repo>/bin/lambda, where `make build` puts the Lambda
// binaries; the repository root is the nearest directory above with a go.mod.
// Outside the repository it falls back to ../bin/lambda (the CLI runs in infra/).
func defaultAssetsDir() string {
	dir, err := os.Getwd()
	for err == nil {
		if _, statErr := os.Stat(filepath.Join(dir, "go.mod")); statErr == nil {
			return filepath.Join(dir, "bin", "lambda")
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	return filepath.Join("..", "bin", "lambda")
}
