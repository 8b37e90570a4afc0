package ops_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/shared/local/localaws/awstest"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/ops"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/schema"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/state"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/state/statetest"
)

func TestReplayPlanAndRebuildFromTheCommandLine(t *testing.T) {
	t.Parallel()
	env := awstest.Env(t)
	client := localRun(t, env, true)
	o := statetest.NewOrder(t, []string{"NEW", "FILLED"}, []string{"FILLED"})
	post(t, client, o.Orders["FILLED"].Raw, o.Orders["NEW"].Raw, o.Execs[0]["FILLED"].Raw)
	live := env.StateTables[events.Orders]
	deadline := time.Now().Add(60 * time.Second)
	for {
		item := awstest.GetItem(t, env.DynamoDB, live, schema.StatePK, o.PK())
		if item != nil {
			if r, err := state.DecodeRow(item); err == nil && r.EventID == o.Orders["FILLED"].ID && len(r.Views["executions_view"]) == 1 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the pipeline did not apply the order")
		}
		time.Sleep(100 * time.Millisecond)
	}

	out, err := cli(t, env, "replay", "-local", "-plan", "-json", "-domain", "orders", "-type", "ORDER")
	if err != nil {
		t.Fatal(err)
	}
	var plan struct {
		Plan     bool `json:"plan"`
		Sent     int  `json:"sent"`
		Estimate struct {
			USD float64 `json:"usd"`
		} `json:"estimate"`
	}
	if err := json.Unmarshal([]byte(out), &plan); err != nil {
		t.Fatalf("plan -json: %v\n%s", err, out)
	}
	if !plan.Plan || plan.Sent != 2 || plan.Estimate.USD <= 0 {
		t.Fatalf("plan %+v: want the two ORDER events, priced\n%s", plan, out)
	}

	text, err := cli(t, env, "replay", "-local", "-plan", "-domain", "orders")
	if err != nil || !strings.Contains(text, "would send 3 event(s)") || !strings.Contains(text, "cost estimate") {
		t.Fatalf("plan: %v\n%s", err, text)
	}
	t.Logf("replay -plan:\n%s", text)

	into := env.Names.Prefix + "cli-rebuilt"
	t.Cleanup(func() {
		_, _ = env.DynamoDB.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(into)})
	})
	checkpoint := filepath.Join(t.TempDir(), "cp.json")
	out, err = cli(t, env, "rebuild", "-local", "-into", into, "-verify", "-checkpoint", checkpoint, "orders")
	if err != nil {
		t.Fatalf("rebuild: %v\n%s", err, out)
	}
	if !strings.Contains(out, "3 events read") || !strings.Contains(out, "verify: 2 rows compared, 2 equal, 0 differ") {
		t.Fatalf("rebuild output:\n%s", out)
	}
	t.Logf("rebuild -into -verify:\n%s", out)

	// A live row that differs: -verify says so, with its own exit code.
	other := statetest.NewOrder(t, []string{"NEW"}).Orders["NEW"]
	route := statetest.Classify(t, other)
	route.EntityKey = o.PK() + "-orphan"
	if _, err := state.NewDynamo(env.DynamoDB, live).Apply(context.Background(), other, route); err != nil {
		t.Fatal(err)
	}
	out, err = cli(t, env, "rebuild", "-local", "-into", into, "-verify", "-checkpoint", checkpoint, "orders")
	if !errors.Is(err, ops.ErrDifferences) || !strings.Contains(out, "no-event-supports "+o.PK()+"-orphan") {
		t.Fatalf("verify with an orphan row: %v\n%s", err, out)
	}

	ids := filepath.Join(t.TempDir(), "pks.txt")
	if err := os.WriteFile(ids, []byte(o.PK()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"-entity", o.PK()}, {"-entities-from", ids}} {
		out, err = cli(t, env, append(append([]string{"rebuild", "-local"}, args...), "orders")...)
		if err != nil || !strings.Contains(out, "now holds "+o.Orders["FILLED"].ID) {
			t.Fatalf("repair %v: %v\n%s", args, err, out)
		}
	}
	t.Logf("rebuild -entity:\n%s", out)
}

// -into writes this domain's rows: never into the ledger or another domain's
// live table, which the tool refuses before it writes anything.
func TestRebuildIntoRefusesThePipelinesTables(t *testing.T) {
	t.Parallel()
	env := awstest.Env(t)
	for _, into := range []string{env.StateTables[events.Accounts], env.StateTables[events.Orders], env.LedgerTable} {
		out, err := cli(t, env, "rebuild", "-local", "-into", into, "-checkpoint", filepath.Join(t.TempDir(), "cp.json"), "orders")
		if !errors.Is(err, ops.ErrUsage) {
			t.Errorf("rebuild -into %s orders: %v, want a usage error\n%s", into, err, out)
		}
	}
}

func TestLongRunsRefuseBadCommandLines(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"rebuild"},
		{"rebuild", "nowhere"},
		{"rebuild", "-verify", "orders"},
		{"rebuild", "-entity", "ORDER#x", "-into", "t", "orders"},
		{"rebuild", "-rate", "-1", "orders"},
		{"replay", "-status", "DONE"},
		{"replay", "-type", "order"},
		{"replay", "-domain", "nowhere"},
		{"replay", "-since", "yesterday"},
		{"replay", "-since", "2025-02-01", "-until", "2025-01-01"},
		{"replay", "-by", "updated", "-since", "2025-01-01"},
		{"replay", "-domain", "orders", "-parked", "orders"},
		{"replay", "-plan", "some-id"},
		{"replay", "-rate", "5", "-parked", "orders"},
		{"replay", "-checkpoint", "cp.json", "-unrouted"},
		{"replay", "-fresh", "some-id"},
		{"replay", "-segments", "2", "some-id"},
		{"rebuild", "-entity", "ORDER#x", "-since", "2025-01-01", "orders"},
		{"rebuild", "-since", "2025-02-01", "-until", "2025-01-01", "orders"},
		// -verify compares whole tables: a window's rebuild differs from the
		// live table on every row the window leaves out (exit 3 for nothing).
		{"rebuild", "-into", "t", "-verify", "-since", "2025-01-01", "orders"},
		{"rebuild", "-into", "t", "-verify", "-until", "2025-01-01", "orders"},
	} {
		if _, err := run(nil, noEnv, args...); !errors.Is(err, ops.ErrUsage) {
			t.Errorf("%v: %v, want a usage error", args, err)
		}
	}
}
