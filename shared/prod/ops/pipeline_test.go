package ops_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/events/upvesttest"
	"github.com/upvest-webhooks/upvest-webhooks/shared/local/localaws/awstest"
	"github.com/upvest-webhooks/upvest-webhooks/shared/local/localrun/localruntest"
	"github.com/upvest-webhooks/upvest-webhooks/shared/local/sqspoller"
	"github.com/upvest-webhooks/upvest-webhooks/shared/local/webhookclient"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/ledger"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/observability"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/ops"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/state"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/worker"
)

// localRun starts the local run's pipeline (as `make run` does) on env's
// tables and queues, and returns a client that posts signed events to it.
func localRun(t *testing.T, env awstest.Environment, workers bool) *webhookclient.Client {
	t.Helper()
	return localruntest.Start(t, env, localruntest.Options{Workers: workers, VisibilityTimeout: time.Second, MaxReceiveCount: 2})
}

func post(t *testing.T, c *webhookclient.Client, evs ...json.RawMessage) {
	t.Helper()
	results, err := c.PostAll(context.Background(), evs, len(evs), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range results {
		if !r.OK() {
			t.Fatalf("post: status %d %s", r.Status, r.Body)
		}
	}
}

// cli runs the ops tool with -local pointed at env's tables and queues: the
// local servers are the ones `make test` names in AWS_ENDPOINT_URL_*.
func cli(t *testing.T, env awstest.Environment, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	c := &ops.CLI{Getenv: os.Getenv, Stdout: &out, Stderr: &errOut, LocalNames: env.Names}
	err := c.Run(context.Background(), args)
	if errOut.Len() > 0 {
		t.Logf("ops %v stderr:\n%s", args, errOut.String())
	}
	return out.String(), err
}

// aSample is a fresh copy of an official Upvest sample that a domain's worker
// applies (not the unrouted domain), with its route.
func aSample(t *testing.T) (json.RawMessage, events.Event, events.Route) {
	t.Helper()
	evs, err := webhookclient.LoadEvents(upvesttest.SamplesDir(t))
	if err != nil {
		t.Fatal(err)
	}
	if evs, err = webhookclient.WithFreshIDs(evs); err != nil {
		t.Fatal(err)
	}
	for _, raw := range evs {
		e, r, err := events.ClassifyRaw(raw)
		if err == nil && r.Domain != events.Unrouted {
			return raw, e, r
		}
	}
	t.Fatal("no routable sample")
	return nil, events.Event{}, events.Route{}
}

// waitForOutcome polls the outcome ops derives from the ledger record and
// the state row (without looking into the queues, which would cost the
// message receives) until it is want.
func waitForOutcome(t *testing.T, env awstest.Environment, id string, want ops.Outcome) ops.Report {
	t.Helper()
	in := &ops.Inspector{Ledger: ledger.NewDynamo(env.DynamoDB, env.LedgerTable), DB: env.DynamoDB, Resources: resources(env)}
	var got ops.Report
	for deadline := time.Now().Add(90 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		var err error
		if got, err = in.Outcome(context.Background(), id); err != nil {
			t.Fatal(err)
		}
		if got.Outcome == want {
			return got
		}
	}
	t.Fatalf("event %s: outcome %s (ledger status %s), want %s", id, got.Outcome, got.Record.Status, want)
	return got
}

// TestInspectShowsAnAppliedSampleWithItsStateRow is the "done when":
// on the local run, `ops inspect -local <id>` shows a sample event as applied,
// derived from its state row (the ledger record stays RECEIVED: workers do not
// write settled outcomes); an unknown id says so and fails.
func TestInspectShowsAnAppliedSampleWithItsStateRow(t *testing.T) {
	t.Parallel()
	env := awstest.Env(t)
	client := localRun(t, env, true)
	raw, e, route := aSample(t)
	post(t, client, raw)
	waitForOutcome(t, env, e.ID, ops.OutcomeApplied)

	out, err := cli(t, env, "inspect", "-local", e.ID)
	if err != nil {
		t.Fatalf("inspect: %v\n%s", err, out)
	}
	t.Logf("inspect output:\n%s", out)
	for _, want := range []string{
		"record:            " + e.ID,
		"outcome:           applied (the state row holds this event)",
		"status:            RECEIVED",
		"domain:            " + string(route.Domain),
		"entity key:        " + route.EntityKey,
		"type:              " + e.Type,
		"state row:         " + env.StateTables[route.Domain] + " pk=" + route.EntityKey,
		"  last event:      this event",
		"queue:             not looked at: the event is applied; its message is done",
		"dead-letter queue: not among the 0 visible messages looked at",
	} {
		if !strings.Contains(out, want+"") {
			t.Errorf("inspect output lacks %q", want)
		}
	}

	out, err = cli(t, env, "inspect", "-local", "no-such-event")
	if !errors.Is(err, ops.ErrUnknownEvent) || !strings.Contains(err.Error(), "no-such-event") {
		t.Errorf("unknown id: err %v, output %q; want ErrUnknownEvent naming the id", err, out)
	}
}

// TestRedriveMovesADeadLetterBackAndItIsApplied is the issue's other "done
// when": an event whose worker kept failing lands in the DLQ (inspect says
// so), `ops redrive -local` moves it back with its body and attributes, and a
// healthy worker applies it.
func TestRedriveMovesADeadLetterBackAndItIsApplied(t *testing.T) {
	t.Parallel()
	env := awstest.Env(t, awstest.WithVisibilityTimeout(time.Second), awstest.WithMaxReceiveCount(2))
	l := ledger.NewDynamo(env.DynamoDB, env.LedgerTable)
	client := localRun(t, env, false) // ingest only: the failing worker below takes the messages
	raw, e, route := aSample(t)
	post(t, client, raw)

	// A worker whose state table is unreachable: every attempt fails, and
	// after maxReceiveCount receives SQS dead-letters the message.
	failCtx, stopFailing := context.WithCancel(context.Background())
	var failing sync.WaitGroup
	discard := slog.New(slog.NewJSONHandler(io.Discard, nil))
	w := worker.New(route.Domain, state.NewDynamo(env.DynamoDB, "no-such-table"), l, discard, observability.NewMetrics(io.Discard, "worker"))
	p := &sqspoller.Poller{Client: env.SQS, QueueURL: env.QueueURLs[route.Domain], Handler: w.Handle, WaitTime: time.Second, Logger: discard}
	failing.Add(1)
	go func() { defer failing.Done(); _ = p.Run(failCtx) }()

	inspector := &ops.Inspector{Ledger: l, DB: env.DynamoDB, Queues: env.SQS, Resources: resources(env)}
	for deadline := time.Now().Add(90 * time.Second); ; time.Sleep(500 * time.Millisecond) {
		rep, err := inspector.Inspect(context.Background(), e.ID)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Looks[1].Found {
			if rep.Outcome != ops.OutcomePending || rep.Record.Status.Settled() || rep.Looks[0].Skipped != "" {
				t.Fatalf("dead-lettered event is %s (ledger %s, queue look %+v); want pending, its queue looked at", rep.Outcome, rep.Record.Status, rep.Looks[0])
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("event never reached the DLQ: %+v", rep)
		}
	}
	stopFailing()
	failing.Wait()

	out, err := cli(t, env, "redrive", "-local", string(route.Domain))
	if err != nil {
		t.Fatalf("redrive: %v\n%s", err, out)
	}
	if !strings.Contains(out, "moved "+e.ID) || !strings.Contains(out, "1 message(s) moved") {
		t.Errorf("redrive output:\n%s", out)
	}

	localRun(t, env, true) // the workers of `make run`
	waitForOutcome(t, env, e.ID, ops.OutcomeApplied)
	out, err = cli(t, env, "inspect", "-local", e.ID)
	if err != nil || !strings.Contains(out, "last event:      this event") || !strings.Contains(out, "outcome:           applied") ||
		!strings.Contains(out, "dead-letter queue: not among the 0 visible messages") {
		t.Errorf("after the redrive: err %v, inspect:\n%s", err, out)
	}
}
