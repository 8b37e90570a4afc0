package stack

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"
)

// Synthesizing goes through jsii and takes seconds, so each environment is
// synthesized once and every test reads the same template.

// assetsDir holds the Lambda binaries of this checkout, built once by
// TestMain as the CDK app builds them, and shared by all synths.
var assetsDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "infra-assets-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := func() int {
		defer os.RemoveAll(dir)
		ctx := context.Background()
		root, err := RepoRoot(ctx)
		if err == nil {
			assetsDir, err = BuildLambdas(ctx, root, dir, []string{AssetIngest, AssetWorker, AssetStreamConsumer, AssetKeySync, AssetSubscription})
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		return m.Run()
	}()
	jsii.Close()
	os.Exit(code)
}

// The live fixture turns every option on; the sandbox one runs on defaults.
const (
	liveAccount = "123456789012"
	liveRegion  = "eu-central-1"
	liveDomain  = "webhooks.example.com"
	liveCert    = "arn:aws:acm:eu-central-1:123456789012:certificate/11111111-2222-3333-4444-555555555555"
	liveEmail   = "ops@example.com"
	liveSecret  = "arn:aws:secretsmanager:eu-central-1:123456789012:secret:upvest-api-AbCdEf"
)

var fixtureContext = map[Environment]map[string]any{
	Sandbox: {},
	Live: { // strings, as `cdk -c key=value` passes them
		"env": "live", "domainName": liveDomain, "certificateArn": liveCert, "basePath": "upvest",
		"alarmEmail": liveEmail, "exampleStreamConsumer": "true", "maxReceiveCount": "7",
		"logLevel": "warn", "ipAllowlist": "live,203.0.113.0/24",
		"upvestApiSecretArn":        liveSecret,
		"ingestReservedConcurrency": "50", // a reservation only where asked for (issue 17)
	},
}

// The provisioned fixture is the live one with provisioned capacity, every
// bound set to a value other than its default.
const provisionedFixture = "live-provisioned"

var provisionedContext = map[string]any{
	"capacityMode": "provisioned", "minWriteCapacity": "10", "maxWriteCapacity": "500",
	"minReadCapacity": "2", "maxReadCapacity": "100", "capacityTargetUtilization": "60",
}

type synthesized struct {
	cfg      Config
	outdir   string // the app's cloud assembly, with the staged assets
	tp       *template
	errors   []string // unsuppressed cdk-nag errors
	warnings []string // unsuppressed cdk-nag warnings
	err      error
}

var (
	synthMu   sync.Mutex
	synthDone = map[string]*synthesized{}
)

// synth returns the shared synthesis of one environment, with cdk-nag applied.
func synth(t *testing.T, env Environment) *synthesized {
	t.Helper()
	return synthFixture(t, string(env), env, fixtureContext[env])
}

// synthProvisioned returns the shared synthesis of the provisioned fixture.
func synthProvisioned(t *testing.T) *synthesized {
	t.Helper()
	fixture := map[string]any{}
	for k, v := range fixtureContext[Live] {
		fixture[k] = v
	}
	for k, v := range provisionedContext {
		fixture[k] = v
	}
	return synthFixture(t, provisionedFixture, Live, fixture)
}

func synthFixture(t *testing.T, name string, env Environment, fixture map[string]any) *synthesized {
	t.Helper()
	synthMu.Lock()
	defer synthMu.Unlock()
	s, ok := synthDone[name]
	if !ok {
		s = doSynth(t, env, fixture)
		synthDone[name] = s
	}
	if s.err != nil {
		t.Fatalf("synth %s: %v", name, s.err)
	}
	return s
}

func doSynth(t *testing.T, env Environment, fixture map[string]any) *synthesized {
	// Start from cdk.json's context, as `cdk synth` does, then the fixture's.
	ctx := map[string]any{}
	raw, err := os.ReadFile("../cdk.json")
	if err != nil {
		return &synthesized{err: err}
	}
	var cdkJSON struct{ Context map[string]any }
	if err := json.Unmarshal(raw, &cdkJSON); err != nil {
		return &synthesized{err: fmt.Errorf("cdk.json: %w", err)}
	}
	for k, v := range cdkJSON.Context {
		ctx[k] = v
	}
	for k, v := range fixture {
		ctx[k] = v
	}

	app := awscdk.NewApp(&awscdk.AppProps{Context: &ctx})
	// As the app loads it: the whole context, so that an unknown key fails the fixture.
	cfg, err := LoadContext(ctx)
	if err != nil {
		return &synthesized{err: err}
	}
	cfg.AssetsDir = assetsDir
	if cfg.Env != env {
		return &synthesized{err: fmt.Errorf("fixture for %s loaded env %s", env, cfg.Env)}
	}
	props := awscdk.StackProps{}
	if env == Live {
		props.Env = &awscdk.Environment{Account: jsii.String(liveAccount), Region: jsii.String(liveRegion)}
	}
	st := NewUpvestWebhooksStack(app, cfg.StackName, &UpvestWebhooksStackProps{StackProps: props, Config: cfg})
	CheckWithNag(app)

	s := &synthesized{cfg: cfg, outdir: *app.Outdir()}
	s.tp = parseTemplate(t, *assertions.Template_FromStack(st, nil).ToJSON())
	ann := assertions.Annotations_FromStack(st)
	nag := assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-.*"))
	for _, m := range *ann.FindError(jsii.String("*"), nag) {
		s.errors = append(s.errors, fmt.Sprintf("%s: %v", *m.Id, m.Entry.Data))
	}
	for _, m := range *ann.FindWarning(jsii.String("*"), nag) {
		s.warnings = append(s.warnings, fmt.Sprintf("%s: %v", *m.Id, m.Entry.Data))
	}
	return s
}

// eachEnv runs f as one subtest per environment.
func eachEnv(t *testing.T, f func(t *testing.T, s *synthesized)) {
	for _, env := range []Environment{Sandbox, Live} {
		t.Run(string(env), func(t *testing.T) { f(t, synth(t, env)) })
	}
}
