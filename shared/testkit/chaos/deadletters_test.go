package chaos_test

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/upvest-webhooks/upvest-webhooks/shared/local/localaws/awstest"
	"github.com/upvest-webhooks/upvest-webhooks/shared/local/localrun/localruntest"
	"github.com/upvest-webhooks/upvest-webhooks/shared/local/sqspoller"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/ledger"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/observability"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/state"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/worker"
	"github.com/upvest-webhooks/upvest-webhooks/shared/testkit/chaos"
)

// Messages forced into the dead-letter queues (by workers that fail every
// attempt) are counted, redriven with the ops tool's redrive and applied by
// healthy workers, as the chaos run does after its storm: nothing is lost.
func TestDeadLettersAreCountedAndRedriven(t *testing.T) {
	t.Parallel()
	env := awstest.Env(t, awstest.WithVisibilityTimeout(time.Second), awstest.WithMaxReceiveCount(2))
	ctx := context.Background()
	client := localruntest.Start(t, env, localruntest.Options{VisibilityTimeout: time.Second, MaxReceiveCount: 2}) // ingest only
	plan, err := chaos.NewPlan(chaos.PlanOptions{Events: 12, Seed: 11})
	if err != nil {
		t.Fatal(err)
	}
	storm := chaos.Storm(ctx, plan, chaos.StormOptions{Client: client, BackoffUnit: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, Seed: 11})
	if want := len(plan.Requests) + len(plan.Redeliveries); len(storm.Acked) != want {
		t.Fatalf("%d of %d requests acknowledged", len(storm.Acked), want)
	}

	// Workers whose state table is missing: every attempt fails, and after
	// maxReceiveCount receives SQS dead-letters each message.
	failCtx, stopFailing := context.WithCancel(ctx)
	var failing sync.WaitGroup
	discard := slog.New(slog.NewJSONHandler(io.Discard, nil))
	l := ledger.NewDynamo(env.DynamoDB, env.LedgerTable)
	for d, url := range env.QueueURLs {
		w := worker.New(d, state.NewDynamo(env.DynamoDB, "no-such-table"), l, discard, observability.NewMetrics(io.Discard, "worker"))
		p := &sqspoller.Poller{Client: env.SQS, QueueURL: url, Handler: w.Handle, WaitTime: time.Second, Logger: discard}
		failing.Go(func() { _ = p.Run(failCtx) })
	}
	q := chaos.Queues{SQS: env.SQS, Queues: env.QueueURLs, DLQs: env.DLQURLs}
	idleCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := q.WaitIdle(idleCtx, 3, 500*time.Millisecond); err != nil {
		t.Fatalf("queues never drained into the DLQs: %v", err)
	}
	stopFailing()
	failing.Wait()

	checker := chaos.NewChecker(env.Config, env.Names)
	unsettled, err := checker.WaitSettled(ctx, plan, storm.Acked, 0, nil)
	if err != nil || unsettled == 0 {
		t.Fatalf("before the redrive: %d events unsettled (%v); want the dead-lettered ones", unsettled, err)
	}

	localruntest.Start(t, env, localruntest.Options{Workers: true, VisibilityTimeout: time.Second, MaxReceiveCount: 2})
	settled := false
	rep, err := chaos.RedriveDeadLetters(ctx, q, func(ctx context.Context) error {
		n, err := checker.WaitSettled(ctx, plan, storm.Acked, 90*time.Second, nil)
		settled = n == 0
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	// Redelivered requests may have fanned an event out twice: at least one
	// dead letter per unsettled event, and every one of them redriven.
	if before := chaos.Total(rep.Before); before < unsettled || rep.RedrivenCount() != before || !settled {
		t.Errorf("%d unsettled, dead-lettered %v, redriven %d, settled after %v", unsettled, rep.Before, rep.RedrivenCount(), settled)
	}
	ids := map[string]bool{}
	for _, e := range plan.Events {
		ids[e.ID] = true
	}
	for d, moved := range rep.Redriven {
		for _, id := range moved {
			if !ids[id] {
				t.Errorf("%s: redriven %q is not an event of the plan", d, id)
			}
		}
	}
	if after := chaos.Total(rep.After); after != 0 || rep.CameBack != 0 {
		t.Errorf("after the redrive: %d dead letters, %d came back", after, rep.CameBack)
	}
	v, err := checker.Check(ctx, plan, storm.Acked)
	if err != nil {
		t.Fatal(err)
	}
	if !v.OK() {
		t.Errorf("verdict after the redrive: %+v", v)
	}
}
