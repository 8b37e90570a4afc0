package localrun_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	upvest "github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/shared/local/localaws/awstest"
	"github.com/upvest-webhooks/upvest-webhooks/shared/local/localrun/localruntest"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/config"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/fanout"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/ledger"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/message"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/ops"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/replay"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/state"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/state/statetest"
)

// TestUpgradeInPlaceKeepsOldRecordsAndMessagesWorking: a deployed stack
// upgraded to workers that no longer write settled outcomes. Before the new
// version starts, the tables and queues hold what the old one left: records
// its workers marked APPLIED, SKIPPED_STALE and DUPLICATE (with their state
// rows), a message in the old format (the raw event as the body, no
// attributes but its id), and a record an old replay sent (RECEIVED in the
// parked index, its message without the replay attribute). Afterwards the old
// records inspect as settled or applied, a redelivery of them is a plain
// duplicate, the queued messages are applied, and the old replay's record
// can be replayed again and leaves the parked index.
func TestUpgradeInPlaceKeepsOldRecordsAndMessagesWorking(t *testing.T) {
	env := awstest.Env(t)
	ctx := context.Background()
	anHourAgo := func() time.Time { return time.Now().Add(-time.Hour) }
	old := ledger.NewDynamo(env.DynamoDB, env.LedgerTable, ledger.WithClock(anHourAgo))
	at := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	order, _ := upvest.Lookup("ORDER")
	account, _ := upvest.Lookup("ACCOUNT")

	// seed records an event as the old version left it: its record in the
	// given status, and its state write done when applied.
	seed := func(e upvest.Event, status ledger.Status, applied bool) upvest.Route {
		t.Helper()
		r, err := upvest.Classify(e)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := old.Claim(ctx, ledger.Record{EventID: e.ID, EventType: e.Type, Domain: r.Domain, EntityKey: r.EntityKey, Raw: e.Raw, Status: ledger.Received}); err != nil {
			t.Fatal(err)
		}
		if applied {
			if _, err := state.NewDynamo(env.DynamoDB, env.StateTables[r.Domain]).Apply(ctx, e, r); err != nil {
				t.Fatal(err)
			}
		}
		if status != ledger.Received {
			if err := old.RecordOutcome(ctx, e.ID, status, "by the old worker"); err != nil {
				t.Fatal(err)
			}
		}
		return r
	}
	ids := statetest.IDs()
	newOrder := statetest.Event(t, "ORDER.NEW", at, statetest.Object(order, ids, "NEW", at))
	filled := statetest.Event(t, "ORDER.FILLED", at.Add(2*time.Hour), statetest.Object(order, ids, "FILLED", at.Add(2*time.Hour)))
	processing := statetest.Event(t, "ORDER.PROCESSING", at.Add(time.Hour), statetest.Object(order, ids, "PROCESSING", at.Add(time.Hour)))
	seed(newOrder, ledger.Applied, true)
	seed(filled, ledger.Applied, true)
	seed(processing, ledger.SkippedStale, true)
	acct := statetest.Event(t, "ACCOUNT.CREATED", at, statetest.Object(account, statetest.IDs(), "CREATED", at))
	seed(acct, ledger.Duplicate, true)

	// On the queue: a message of the old format, and one an old replay sent.
	queued := statetest.Event(t, "ORDER.NEW", at, statetest.Object(order, statetest.IDs(), "NEW", at))
	queuedRoute := seed(queued, ledger.Received, false)
	if _, err := env.SQS.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(env.QueueURLs[upvest.Orders]), MessageBody: aws.String(string(queued.Raw)),
		MessageAttributes: map[string]sqstypes.MessageAttributeValue{message.AttrEventID: {DataType: aws.String("String"), StringValue: aws.String(queued.ID)}}}); err != nil {
		t.Fatal(err)
	}
	replayed := statetest.Event(t, "ORDER.NEW", at, statetest.Object(order, statetest.IDs(), "NEW", at))
	r, _ := upvest.Classify(replayed)
	if _, _, err := old.Claim(ctx, ledger.Record{EventID: replayed.ID, EventType: replayed.Type, Domain: r.Domain, Raw: replayed.Raw, Status: ledger.Parked, Reason: "a bug since fixed"}); err != nil {
		t.Fatal(err)
	}
	if err := old.Reopen(ctx, replayed.ID, r.Domain, r.EntityKey); err != nil {
		t.Fatal(err)
	}
	oldMessage := fanout.Message{EventID: replayed.ID, EventType: replayed.Type, Domain: r.Domain, Raw: replayed.Raw} // no Replay: the old format
	if err := fanout.NewSQS(env.SQS, env.QueueURLs).Publish(ctx, []fanout.Message{oldMessage}); err != nil {
		t.Fatal(err)
	}
	if err := old.MarkEnqueued(ctx, replayed.ID); err != nil {
		t.Fatal(err)
	}

	// The new version starts.
	client := localruntest.Start(t, env, localruntest.Options{Workers: true})
	p := &pipeline{env: env, client: client}
	p.outcomes(t, map[string]upvest.Route{queued.ID: queuedRoute, replayed.ID: r}, 90*time.Second)

	in := &ops.Inspector{Ledger: ledger.NewDynamo(env.DynamoDB, env.LedgerTable), DB: env.DynamoDB, Queues: env.SQS,
		Resources: config.Ops{LedgerTable: env.LedgerTable, StateTables: env.StateTables, QueueURLs: env.QueueURLs, DLQURLs: env.DLQURLs}}
	want := map[string]ops.Outcome{
		newOrder.ID: ops.OutcomeSettled, processing.ID: ops.OutcomeSettled, filled.ID: ops.OutcomeApplied,
		acct.ID: ops.OutcomeApplied, queued.ID: ops.OutcomeApplied, replayed.ID: ops.OutcomeApplied,
	}
	for id, outcome := range want {
		rep, err := in.Inspect(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Outcome != outcome || rep.Looks[0].Skipped == "" {
			t.Errorf("%s (ledger %s): outcome %s, want %s, its queue not looked at (%+v)", id, rep.Record.Status, rep.Outcome, outcome, rep.Looks[0])
		}
	}
	if rep, _ := in.Inspect(ctx, processing.ID); rep.Row == nil || rep.Row.EventID != filled.ID {
		t.Errorf("the old SKIPPED_STALE record's row does not name the newer event: %+v", rep.Row)
	}

	// Redelivery: the old settled records are plain duplicates, nothing is sent.
	results, err := client.PostAll(ctx, []json.RawMessage{newOrder.Raw, processing.Raw, filled.Raw, acct.Raw}, 4, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 1 || !results[0].OK() || !strings.Contains(results[0].Body, `"duplicates":4`) || !strings.Contains(results[0].Body, `"refanned":0`) {
		t.Errorf("redelivery of old settled records: %+v", results)
	}

	// Replay: an old settled record is not replayable; the old replay's
	// record, still in the parked index (its message had no replay attribute),
	// is replayed once its lease is over, and its worker releases it.
	if listed, _ := in.Ledger.(*ledger.Dynamo).Parked(ctx, string(upvest.Orders)); !slices.Equal(listed, []string{replayed.ID}) {
		t.Fatalf("parked in orders: %v, want the old replay's record", listed)
	}
	rp := &replay.Replayer{Ledger: ledger.NewDynamo(env.DynamoDB, env.LedgerTable), Publisher: fanout.NewSQS(env.SQS, env.QueueURLs)}
	res, err := rp.Replay(ctx, []string{filled.ID, replayed.ID})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Outcome != replay.NotReplayable || res[1].Outcome != replay.Requeued {
		t.Fatalf("replay: %+v", res)
	}
	l := ledger.NewDynamo(env.DynamoDB, env.LedgerTable)
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		listed, err := l.Parked(ctx, string(upvest.Orders))
		if err != nil {
			t.Fatal(err)
		}
		if len(listed) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the replayed record was never released from the parked index: %v", listed)
		}
	}
	if rep, _ := in.Outcome(ctx, replayed.ID); rep.Outcome != ops.OutcomeApplied {
		t.Errorf("replayed record: %s", rep.Outcome)
	}
}
