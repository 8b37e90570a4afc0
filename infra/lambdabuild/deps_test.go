package lambdabuild_test

import (
	"context"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/upvest-webhooks/upvest-webhooks/infra/lambdabuild"
)

const module = "github.com/upvest-webhooks/upvest-webhooks"

// Every Lambda links the runtime client and the SDK; a traced one links
// OpenTelemetry and what it needs.
var (
	lambdaBase  = []string{"github.com/aws/aws-lambda-go", "github.com/aws/aws-sdk-go-v2", "github.com/aws/smithy-go"}
	tracingLibs = []string{
		"go.opentelemetry.io", "github.com/go-logr", "github.com/cenkalti/backoff", "github.com/cespare/xxhash",
		"github.com/google/uuid", "github.com/grpc-ecosystem/grpc-gateway", "google.golang.org", "golang.org/x",
	}
	// stdouttrace, the exporter tracing falls back to, builds on tracetest's SpanStub.
	knownTestPackages = map[string]string{"go.opentelemetry.io/otel/sdk/trace/tracetest": "imported by the stdouttrace exporter"}
)

// allowed lists, per Lambda (its folder under functions/), the packages of
// this module it may link: its own code and the production packages it runs,
// nothing that stands in for AWS locally or tests.
var allowed = map[string]lambdabuild.Allowed{
	"ingest": {
		Own: []string{
			"functions/ingest", "shared/prod/app", "shared/prod/app/ingestapp", "shared/prod/ingest", "shared/prod/signature",
			"shared/prod/ledger", "shared/prod/fanout", "shared/prod/message", "events", "shared/prod/schema", "shared/prod/config",
			"shared/prod/observability", "shared/prod/tracing", "shared/prod/uuid", "shared/prod/awssdk", "shared/prod/deadline",
		},
		ThirdParty: slices.Concat(lambdaBase, tracingLibs),
	},
	"worker": {
		Own: []string{
			"functions/worker", "shared/prod/app", "shared/prod/app/workerapp", "shared/prod/worker", "shared/prod/state",
			"shared/prod/ledger", "shared/prod/message", "events", "shared/prod/schema", "shared/prod/config",
			"shared/prod/observability", "shared/prod/tracing", "shared/prod/awssdk", "shared/prod/deadline",
		},
		ThirdParty: slices.Concat(lambdaBase, tracingLibs),
	},
	"streamconsumer": {
		Own:        []string{"functions/streamconsumer", "shared/prod/streams", "shared/prod/state", "events", "shared/prod/schema", "shared/prod/observability"},
		ThirdParty: lambdaBase,
	},
	"keysync": {
		Own: []string{
			"functions/keysync", "shared/prod/keysync", "shared/prod/signature", "events", "shared/prod/schema", "shared/prod/config",
			"shared/prod/observability", "shared/prod/uuid", "shared/prod/awssdk",
		},
		ThirdParty: lambdaBase,
	},
	"subscription": {
		Own: []string{
			"functions/subscription", "shared/prod/subscription", "shared/prod/keysync", "shared/prod/signature", "events",
			"shared/prod/schema", "shared/prod/config", "shared/prod/uuid", "shared/prod/awssdk",
		},
		ThirdParty: lambdaBase,
	},
}

func allowedFor(t *testing.T, name string) lambdabuild.Allowed {
	t.Helper()
	a, ok := allowed[name]
	if !ok {
		t.Fatalf("functions/%s links aws-lambda-go/lambda, so it is a Lambda: give it an allowed list in this test", name)
	}
	a.Module = module
	a.KnownTestPackages = knownTestPackages
	return a
}

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := lambdabuild.RepoRoot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// Each Lambda binary, built for Lambda, links only its allowed packages: no
// local stand-in, no test helper, no other function's code. A function is a
// Lambda when it links aws-lambda-go's lambda package, so a new Lambda
// without an allowed list fails here too.
func TestEachLambdaLinksOnlyWhatItRuns(t *testing.T) {
	ctx := context.Background()
	root := repoRoot(t)
	mains, err := lambdabuild.Deps(ctx, root, lambdabuild.Lambda, "./functions/...")
	if err != nil {
		t.Fatal(err)
	}
	var lambdas []string
	for _, p := range mains {
		name, ok := strings.CutPrefix(p, module+"/functions/")
		if !ok || strings.Contains(name, "/") {
			continue
		}
		deps, err := lambdabuild.Deps(ctx, root, lambdabuild.Lambda, "./functions/"+name)
		if err != nil {
			t.Fatal(err)
		}
		if slices.Contains(deps, "github.com/aws/aws-lambda-go/lambda") {
			lambdas = append(lambdas, name)
			t.Run(name, func(t *testing.T) {
				a := allowedFor(t, name)
				if bad := a.Violations(deps); len(bad) > 0 {
					t.Errorf("functions/%s links packages it may not:\n  %s", name, strings.Join(bad, "\n  "))
				}
				// The list is exact both ways: an allowed package the binary no longer links is stale.
				for _, own := range a.Own {
					if !slices.Contains(deps, module+"/"+own) {
						t.Errorf("functions/%s no longer links %s: drop it from the allowed list", name, own)
					}
				}
			})
		}
	}
	slices.Sort(lambdas)
	// Every allowed list names a Lambda that exists: a removed one leaves no stale list.
	if want := slices.Sorted(maps.Keys(allowed)); !slices.Equal(lambdas, want) {
		t.Errorf("Lambdas found under functions/: %v, want %v", lambdas, want)
	}
}

// The check fails on purpose: a fixture Lambda (testdata/leaky) imports a test
// helper and a local stand-in; checked against ingest's list, both are refused,
// and so are the packages they bring in.
func TestDependencyCheckRefusesATestPackageInALambda(t *testing.T) {
	deps, err := lambdabuild.Deps(context.Background(), repoRoot(t), lambdabuild.Lambda, "./infra/lambdabuild/testdata/leaky")
	if err != nil {
		t.Fatal(err)
	}
	bad := allowedFor(t, "ingest").Violations(deps)
	for _, want := range []string{
		module + "/shared/local/localaws/awstest: test code",
		module + "/shared/local/localrun: not on this Lambda's list",
		"testing: test code",
	} {
		if !slices.ContainsFunc(bad, func(b string) bool { return strings.HasPrefix(b, want) }) {
			t.Errorf("violations %q\nlack %q", bad, want)
		}
	}
}

func TestViolations(t *testing.T) {
	a := lambdabuild.Allowed{
		Module: module, Own: []string{"shared/prod/ledger"}, ThirdParty: []string{"github.com/aws/aws-sdk-go-v2"},
		KnownTestPackages: map[string]string{"example.com/lib/spantest": "why"},
	}
	for _, c := range []struct {
		pkg, why string // why is "" when allowed, else the start of the reason
	}{
		{"fmt", ""},
		{"internal/testlog", ""}, // the runtime's own hook, linked by os
		{"net/http/httptest", "test code"},
		{"testing", "test code"},
		{"testing/quick", "test code"},
		{module + "/shared/prod/ledger", ""},
		{module + "/shared/prod/ledger/ledgertest", "test code"},
		{module + "/shared/local/localrun", "not on this Lambda's list"},
		{module + "/functions/ingest/testdata/x", "test code"},
		{"github.com/aws/aws-sdk-go-v2/service/dynamodb", ""},
		{"github.com/aws/aws-sdk-go-v2x", "third-party package outside"},
		{"example.com/lib/spantest", "third-party package outside"}, // a known test package is still checked by origin
		{"example.com/other", "third-party package outside"},
	} {
		bad := a.Violations([]string{c.pkg})
		switch {
		case c.why == "" && len(bad) != 0:
			t.Errorf("%s: refused (%v), want allowed", c.pkg, bad)
		case c.why != "" && (len(bad) != 1 || !strings.HasPrefix(bad[0], c.pkg+": "+c.why)):
			t.Errorf("%s: got %q, want refused because %q", c.pkg, bad, c.why)
		}
	}
}
