package worker_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/shared/local/localaws/awstest"
	"github.com/upvest-webhooks/upvest-webhooks/shared/local/sqspoller"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/fanout"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/ledger"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/message"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/observability"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/schema"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/state"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/state/statetest"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/worker"
)

// TestRetriableFailuresEndInTheDLQAndUnusableEventsDoNot runs the worker
// behind the SQS poller on fauxqs: an event that keeps failing for a reason
// that may pass (its state table is unreachable) is retried maxReceiveCount
// times and then dead-lettered, still ENQUEUED in the ledger; an event that can
// never apply (it reached the wrong domain's queue) is parked at once and never
// reaches the DLQ.
func TestRetriableFailuresEndInTheDLQAndUnusableEventsDoNot(t *testing.T) {
	t.Parallel()
	env := awstest.Env(t, awstest.WithVisibilityTimeout(time.Second), awstest.WithMaxReceiveCount(2))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l := ledger.NewDynamo(env.DynamoDB, env.LedgerTable)
	discard := slog.New(slog.NewJSONHandler(io.Discard, nil))
	run := func(d events.Domain, stateTable string) {
		w := worker.New(d, state.NewDynamo(env.DynamoDB, stateTable), l, discard, observability.NewMetrics(io.Discard, "worker"))
		p := &sqspoller.Poller{Client: env.SQS, QueueURL: env.QueueURLs[d], Handler: w.Handle, WaitTime: time.Second, Logger: discard}
		go func() { _ = p.Run(ctx) }()
	}
	send := func(d events.Domain, e events.Event) {
		rec := ledger.Record{EventID: e.ID, EventType: e.Type, Domain: d, Raw: e.Raw, Status: ledger.Received}
		if _, _, err := l.Claim(ctx, rec); err != nil {
			t.Fatal(err)
		}
		if err := fanout.NewSQS(env.SQS, env.QueueURLs).Publish(ctx, []fanout.Message{{EventID: e.ID, EventType: e.Type, Domain: d, Raw: e.Raw}}); err != nil {
			t.Fatal(err)
		}
		if err := l.MarkEnqueued(ctx, e.ID); err != nil {
			t.Fatal(err)
		}
	}

	order, _ := events.Lookup("ORDER")
	at := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	failing := statetest.Event(t, "ORDER.NEW", at, statetest.Object(order, statetest.IDs(), "NEW", at))
	misrouted := statetest.Event(t, "ORDER.NEW", at, statetest.Object(order, statetest.IDs(), "NEW", at))
	run(events.Orders, "no-such-table")
	run(events.Payments, env.StateTables[events.Payments])
	send(events.Orders, failing)
	send(events.Payments, misrouted)

	dead := awstest.ReceiveAll(t, env.SQS, env.DLQURLs[events.Orders], 1, 90*time.Second)
	if len(dead) != 1 || aws.ToString(dead[0].MessageAttributes[message.AttrEventID].StringValue) != failing.ID {
		t.Fatalf("orders DLQ holds %v, want the failing event", dead)
	}
	if got := ledgerStatus(t, env, failing.ID); got != string(ledger.Enqueued) {
		t.Errorf("dead-lettered event has ledger status %q, want ENQUEUED (nothing was applied)", got)
	}
	if got := ledgerStatus(t, env, misrouted.ID); got != string(ledger.Parked) {
		t.Errorf("misrouted event has ledger status %q, want PARKED", got)
	}
	if n := awstest.DrainCount(t, env.SQS, env.DLQURLs[events.Payments]); n != 0 {
		t.Errorf("a parked event burnt its retries: %d messages in the payments DLQ", n)
	}
}

func ledgerStatus(t *testing.T, env awstest.Environment, id string) string {
	t.Helper()
	it := awstest.GetItem(t, env.DynamoDB, env.LedgerTable, schema.LedgerPK, id)
	if s, ok := it[schema.LedgerStatus].(*types.AttributeValueMemberS); ok {
		return s.Value
	}
	return ""
}
