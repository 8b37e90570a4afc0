package rehearsal

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"

	"github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/infra/lambdabuild"
	"github.com/upvest-webhooks/upvest-webhooks/infra/stack"
	"github.com/upvest-webhooks/upvest-webhooks/shared/local/lambdaruntime"
	"github.com/upvest-webhooks/upvest-webhooks/shared/local/localaws"
	"github.com/upvest-webhooks/upvest-webhooks/shared/local/localaws/awstest"
	"github.com/upvest-webhooks/upvest-webhooks/shared/testkit/syncbuf"
)

// The rehearsal deploys the sandbox configuration with the example stream
// consumer on (it is off by default).
var synthContext = map[string]any{"env": "sandbox", "exampleStreamConsumer": "true"}

// The functions under rehearsal, and the aws-lambda-go hello world that is
// the init-time baseline.
var functionPackages = []string{"./functions/ingest", "./functions/worker", "./functions/streamconsumer", "./functions/subscription", "./shared/local/lambdaruntime/testdata/hello"}

var workDir string // binaries (as CDK assets) and the synth's output

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "rehearsal-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	workDir = dir
	code := m.Run()
	jsii.Close()
	os.RemoveAll(dir)
	os.Exit(code)
}

// built is what every test and benchmark shares: the host binaries and the
// template synthesized with them as the Lambda assets.
type built struct {
	binaries map[string]string // asset name → bootstrap
	tp       *template
	cfg      stack.Config
	err      error
}

var (
	buildOnce sync.Once
	shared    built
)

func setup(t testing.TB) *built {
	t.Helper()
	buildOnce.Do(func() { shared = build() })
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return &shared
}

func build() built {
	root, err := lambdabuild.RepoRoot(context.Background())
	if err != nil {
		return built{err: err}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	assets := filepath.Join(workDir, "assets")
	bins, err := lambdabuild.Build(ctx, root, assets, lambdabuild.Host(), functionPackages...)
	if err != nil {
		return built{err: err}
	}
	cfg, tp, err := synth(assets)
	if err != nil {
		return built{err: fmt.Errorf("synthesize the stack: %w", err)}
	}
	return built{binaries: bins, tp: tp, cfg: cfg}
}

// synth builds the stack in-process, as infra/main.go does, and returns its template.
func synth(assets string) (stack.Config, *template, error) {
	appContext := map[string]any{}
	for k, v := range synthContext {
		appContext[k] = v
	}
	app := awscdk.NewApp(&awscdk.AppProps{Context: &appContext, Outdir: jsii.String(filepath.Join(workDir, "cdk.out"))})
	cfg, err := stack.Load(func(key string) any { return app.Node().TryGetContext(jsii.String(key)) })
	if err != nil {
		return cfg, nil, err
	}
	cfg.AssetsDir = assets // host binaries, built above: the rehearsal runs them here
	stk := stack.NewUpvestWebhooksStack(app, cfg.StackName, &stack.UpvestWebhooksStackProps{Config: cfg})
	raw := assertions.Template_FromStack(stk, nil).ToJSON()
	data, err := json.Marshal(raw)
	if err != nil {
		return cfg, nil, err
	}
	tp := &template{}
	if err := json.Unmarshal(data, tp); err != nil {
		return cfg, nil, err
	}
	return cfg, tp, nil
}

// deployment maps the template's resources to a private set of tables and
// queues on the local servers, and starts functions with their template environment.
type deployment struct {
	*built
	aws       awstest.Environment
	ssm       *fakeSSM
	localRefs map[string]string // logical id → local name or URL (what Ref gives in AWS)
	endpoints []string          // AWS_ENDPOINT_URL_* and dummy credentials
}

func newDeployment(t testing.TB, jwks string) *deployment {
	t.Helper()
	b := setup(t)
	env := awstest.Env(t, awstest.WithVisibilityTimeout(time.Duration(b.cfg.QueueVisibilityTimeout().Seconds())*time.Second))
	d := &deployment{built: b, aws: env, localRefs: map[string]string{}}
	// The stack's outputs name each table and queue by role; their Refs are the logical ids.
	d.localRefs[b.tp.outputRef(t, "LedgerTableName")] = env.LedgerTable
	for _, dom := range events.Domains() {
		p := stack.ConstructName(string(dom))
		d.localRefs[b.tp.outputRef(t, "StateTable"+p+"Name")] = env.StateTables[dom]
		d.localRefs[b.tp.outputRef(t, "Queue"+p+"Url")] = env.QueueURLs[dom]
		d.localRefs[b.tp.outputRef(t, "DeadLetterQueue"+p+"Url")] = env.DLQURLs[dom]
	}
	d.ssm = newFakeSSM(t, b.cfg.JWKSParameter, jwks)
	dynamo, sqsEndpoint, err := localaws.EndpointsFromEnv()
	if err != nil {
		t.Fatalf("the rehearsal needs the local servers: run `make test` (%v)", err)
	}
	d.endpoints = append(localaws.EnvVars(dynamo, sqsEndpoint), "AWS_ENDPOINT_URL_SSM="+d.ssm.URL)
	return d
}

// environment is the function's template environment with every Ref mapped
// to the local resource, then Lambda's reserved variables and the local endpoints.
func (d *deployment) environment(t testing.TB, fn function) []string {
	t.Helper()
	var env []string
	for name, v := range fn.Env {
		switch v := v.(type) {
		case string:
			env = append(env, name+"="+v)
		default:
			local, ok := d.localRefs[ref(v)]
			if !ok {
				t.Fatalf("%s: %s=%v is a reference the rehearsal cannot map to a local resource; extend deployment.localRefs", fn.ID, name, v)
			}
			env = append(env, name+"="+local)
		}
	}
	env = append(env, lambdaruntime.ReservedEnv(fn.ID, fn.MemoryMB, localaws.Region)...)
	return append(env, d.endpoints...)
}

// start runs the function's bootstrap (Handler "bootstrap" on provided.al2023)
// under a local Runtime API and waits until it asks for work.
func (d *deployment) start(t testing.TB, fn function, asset string) (*lambdaruntime.Instance, *syncbuf.Buffer) {
	t.Helper()
	if fn.Handler != "bootstrap" || !strings.HasPrefix(fn.Runtime, "provided.") {
		t.Fatalf("%s: handler %q on runtime %q; the rehearsal runs a custom-runtime bootstrap", fn.ID, fn.Handler, fn.Runtime)
	}
	stdout, stderr := &syncbuf.Buffer{}, &syncbuf.Buffer{}
	in, err := lambdaruntime.Start(lambdaruntime.Config{
		Name: fn.ID, Binary: d.binaries[asset], Env: d.environment(t, fn),
		Timeout: time.Duration(fn.TimeoutS) * time.Second, Region: localaws.Region,
		Stdout: stdout, Stderr: stderr,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := in.Stop(); err != nil {
			t.Error(err)
		}
		if t.Failed() {
			t.Logf("%s stdout:\n%s\n%s stderr:\n%s", fn.ID, stdout.String(), fn.ID, stderr.String())
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := in.Ready(ctx); err != nil {
		t.Fatalf("%v\nstderr:\n%s", err, stderr.String())
	}
	return in, stdout
}
