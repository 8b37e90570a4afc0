package ops_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/shared/local/localaws/awstest"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/fanout"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/ledger"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/message"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/ops"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/replay"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/state/statetest"
)

var at = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

func orderEvent(t *testing.T) (events.Event, events.Route) {
	t.Helper()
	order, _ := events.Lookup("ORDER")
	e := statetest.Event(t, "ORDER.NEW", at, statetest.Object(order, statetest.IDs(), "NEW", at))
	r, err := events.Classify(e)
	if err != nil {
		t.Fatal(err)
	}
	return e, r
}

func claim(t *testing.T, l *ledger.Dynamo, rec ledger.Record) {
	t.Helper()
	if _, _, err := l.Claim(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
}

// TestInspectPeeksIntoTheQueueWithoutConsuming: an event still on its way is
// found among more messages than one receive returns, and every message is
// visible again right after the peek.
func TestInspectPeeksIntoTheQueueWithoutConsuming(t *testing.T) {
	t.Parallel()
	env := awstest.Env(t, awstest.WithVisibilityTimeout(30*time.Second))
	ctx := context.Background()
	l := ledger.NewDynamo(env.DynamoDB, env.LedgerTable)
	var msgs []fanout.Message
	var target events.Event
	for i := range 25 {
		e, r := orderEvent(t)
		claim(t, l, ledger.Record{EventID: e.ID, EventType: e.Type, Domain: r.Domain, EntityKey: r.EntityKey, Raw: e.Raw, Status: ledger.Received})
		msgs = append(msgs, fanout.Message{EventID: e.ID, EventType: e.Type, Domain: r.Domain, Raw: e.Raw})
		if i == 20 {
			target = e
		}
	}
	for start := 0; start < len(msgs); start += 10 {
		if err := fanout.NewSQS(env.SQS, env.QueueURLs).Publish(ctx, msgs[start:min(start+10, len(msgs))]); err != nil {
			t.Fatal(err)
		}
	}

	in := &ops.Inspector{Ledger: l, DB: env.DynamoDB, Queues: env.SQS, Resources: resources(env)}
	rep, err := in.Inspect(ctx, target.ID)
	if err != nil {
		t.Fatal(err)
	}
	q := rep.Looks[0]
	if q.Skipped != "" || !q.Found || q.ReceiveCount != 1 || q.SentAt == "" {
		t.Errorf("queue look %+v, want the message found, received once (by the peek)", q)
	}
	if rep.Row != nil {
		t.Errorf("state row %+v for an event no worker applied", rep.Row)
	}
	var out bytes.Buffer
	if err := rep.Write(&out); err != nil {
		t.Fatal(err)
	}
	if rep.Outcome != ops.OutcomePending {
		t.Errorf("outcome %s, want pending", rep.Outcome)
	}
	for _, want := range []string{"outcome:           pending", "status:            RECEIVED", "queue:             HOLDS its message", "state row:         none for ORDER#"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
	// The visibility timeout is 30 s: had the peek not released them, none would show now.
	if got := awstest.ReceiveAll(t, env.SQS, env.QueueURLs[events.Orders], len(msgs), 10*time.Second); len(got) != len(msgs) {
		t.Errorf("after the peek %d of %d messages are visible", len(got), len(msgs))
	}

	// A peek bounded below the message's place does not find it and says how far it looked.
	awstest.DrainCount(t, env.SQS, env.QueueURLs[events.Orders])
	other, r := orderEvent(t)
	claim(t, l, ledger.Record{EventID: other.ID, EventType: other.Type, Domain: r.Domain, EntityKey: r.EntityKey, Raw: other.Raw, Status: ledger.Received})
	rep, err = in.Inspect(ctx, other.ID)
	if err != nil || rep.Looks[0].Found || rep.Looks[0].Looked != 0 {
		t.Errorf("event without a message: %+v, %v", rep.Looks, err)
	}
}

// TestInspectShowsARequestRecord: request:<sha256> records are inspected like
// events; they have no state row and no queue.
func TestInspectShowsARequestRecord(t *testing.T) {
	t.Parallel()
	env := awstest.Env(t)
	l := ledger.NewDynamo(env.DynamoDB, env.LedgerTable)
	key := "request:" + strings.Repeat("ab", 32)
	claim(t, l, ledger.Record{EventID: key, Kind: ledger.KindRequest, Raw: []byte(`{"not":"an envelope"}`), Status: ledger.Parked, Reason: "not an envelope"})

	out, err := cli(t, env, "inspect", "-local", key)
	if err != nil {
		t.Fatalf("inspect: %v", err)
	}
	for _, want := range []string{"record:            " + key, "kind:              request", "outcome:           parked: not an envelope", "status:            PARKED",
		"reason:            not an envelope", "parked in:         requests", "size:              21 bytes"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "state row") || strings.Contains(out, "queue") {
		t.Errorf("a request record has no state row or queue:\n%s", out)
	}
}

func TestParkedListsEveryPartitionOrOne(t *testing.T) {
	t.Parallel()
	env := awstest.Env(t)
	l := ledger.NewDynamo(env.DynamoDB, env.LedgerTable)
	order, _ := orderEvent(t)
	claim(t, l, ledger.Record{EventID: order.ID, EventType: order.Type, Domain: events.Orders, Raw: order.Raw, Status: ledger.Parked, Reason: "orders reason"})
	claim(t, l, ledger.Record{EventID: "p-1", Domain: events.Payments, Raw: []byte("{}"), Status: ledger.Parked, Reason: "payments reason"})
	claim(t, l, ledger.Record{EventID: "request:1", Kind: ledger.KindRequest, Raw: []byte("[]"), Status: ledger.Parked, Reason: "request reason"})
	claim(t, l, ledger.Record{EventID: "fine", Domain: events.Orders, Raw: []byte("{}"), Status: ledger.Received})

	out, err := cli(t, env, "parked", "-local")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"orders\t" + order.ID + "\t", "\torders reason\n", "payments\tp-1\t", "requests\trequest:1\t", "3 parked record(s)"} {
		if !strings.Contains(out, want) {
			t.Errorf("parked output lacks %q:\n%s", want, out)
		}
	}
	if out, err = cli(t, env, "parked", "-local", "orders"); err != nil || !strings.Contains(out, order.ID) || strings.Contains(out, "p-1") || !strings.Contains(out, "1 parked record(s)") {
		t.Errorf("parked orders: %v\n%s", err, out)
	}
	if _, err := cli(t, env, "parked", "-local", "nowhere"); !errors.Is(err, ops.ErrUsage) {
		t.Errorf("unknown partition: %v, want a usage error", err)
	}
}

// TestReplayRequeuesAParkedEvent: what functions/replay did, now a subcommand.
func TestReplayRequeuesAParkedEvent(t *testing.T) {
	t.Parallel()
	env := awstest.Env(t)
	l := ledger.NewDynamo(env.DynamoDB, env.LedgerTable)
	e, r := orderEvent(t)
	claim(t, l, ledger.Record{EventID: e.ID, EventType: e.Type, Domain: r.Domain, Raw: e.Raw, Status: ledger.Parked, Reason: "a bug since fixed"})

	out, err := cli(t, env, "replay", "-local", "-dry-run", "-parked", "orders")
	if err != nil || !strings.Contains(out, e.ID+" would-requeue orders") {
		t.Fatalf("dry run: %v\n%s", err, out)
	}
	if s, _ := l.Read(context.Background(), e.ID); s.Status != ledger.Parked {
		t.Errorf("a dry run changed the status to %s", s.Status)
	}
	out, err = cli(t, env, "replay", "-local", "-dry-run", "-json", "-parked", "orders")
	var replayed struct {
		Records []ops.ReplayedRecord `json:"records"`
		Looked  int                  `json:"looked_at"`
	}
	if err != nil || json.Unmarshal([]byte(out), &replayed) != nil || replayed.Looked != 1 ||
		replayed.Records[0] != (ops.ReplayedRecord{EventID: e.ID, Outcome: replay.WouldRequeue, Domain: "orders"}) {
		t.Fatalf("dry run -json: %v\n%s", err, out)
	}
	out, err = cli(t, env, "replay", "-local", "-parked", "orders")
	if err != nil || !strings.Contains(out, e.ID+" requeued orders") || !strings.Contains(out, "1 record(s) looked at") {
		t.Fatalf("replay: %v\n%s", err, out)
	}
	got := awstest.ReceiveAll(t, env.SQS, env.QueueURLs[events.Orders], 1, 30*time.Second)
	if len(got) != 1 || aws.ToString(got[0].MessageAttributes[message.AttrEventID].StringValue) != e.ID {
		t.Errorf("orders queue holds %v, want the replayed event", got)
	}
	if out, err = cli(t, env, "replay", "-local", "no-such-id"); err != nil || !strings.Contains(out, "no-such-id not-in-ledger") {
		t.Errorf("replay of an unknown id: %v\n%s", err, out)
	}
	for _, args := range [][]string{{"replay", "-local"}, {"replay", "-local", "-parked", "orders", "x"}, {"replay", "-unrouted", "x"}, {"replay", "-parked", "nowhere"}} {
		if _, err := cli(t, env, args...); !errors.Is(err, ops.ErrUsage) {
			t.Errorf("%v: %v, want a usage error", args, err)
		}
	}
}

// TestRedriveKeepsBodyAndAttributes moves more messages than one receive
// returns, byte for byte, and -max bounds the move.
func TestRedriveKeepsBodyAndAttributes(t *testing.T) {
	t.Parallel()
	env := awstest.Env(t)
	ctx := context.Background()
	dlq, queue := env.DLQURLs[events.Holdings], env.QueueURLs[events.Holdings]
	want := map[string]string{}
	for i := range 13 {
		id := "ev-" + strconv.Itoa(i)
		body := fmt.Sprintf("body %d \u00e9", i)
		want[id] = body
		_, err := env.SQS.SendMessage(ctx, &sqs.SendMessageInput{
			QueueUrl: aws.String(dlq), MessageBody: aws.String(body),
			MessageAttributes: map[string]sqstypes.MessageAttributeValue{
				message.AttrEventID: {DataType: aws.String("String"), StringValue: aws.String(id)},
				"traceparent":       {DataType: aws.String("String"), StringValue: aws.String("00-" + id)},
				"n":                 {DataType: aws.String("Number"), StringValue: aws.String(strconv.Itoa(i))},
			},
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	res, err := ops.Redrive(ctx, env.SQS, dlq, queue, 10)
	if err != nil || len(res.Moved) != 10 {
		t.Fatalf("redrive -max 10: moved %d, %v", len(res.Moved), err)
	}
	res, err = ops.Redrive(ctx, env.SQS, dlq, queue, 0)
	if err != nil || len(res.Moved) != 3 || res.CameBack != 0 {
		t.Fatalf("redrive of the rest: %+v, %v", res, err)
	}
	if n := awstest.DrainCount(t, env.SQS, dlq); n != 0 {
		t.Errorf("%d messages left in the DLQ", n)
	}
	got := awstest.ReceiveAll(t, env.SQS, queue, len(want), 30*time.Second)
	if len(got) != len(want) {
		t.Fatalf("queue holds %d messages, want %d", len(got), len(want))
	}
	for _, m := range got {
		id := aws.ToString(m.MessageAttributes[message.AttrEventID].StringValue)
		if aws.ToString(m.Body) != want[id] {
			t.Errorf("%s: body %q, want %q", id, aws.ToString(m.Body), want[id])
		}
		if tp := m.MessageAttributes["traceparent"]; aws.ToString(tp.StringValue) != "00-"+id {
			t.Errorf("%s: traceparent attribute %v", id, tp)
		}
		if n := m.MessageAttributes["n"]; aws.ToString(n.DataType) != "Number" {
			t.Errorf("%s: number attribute %v", id, n)
		}
		delete(want, id)
	}
	if len(want) != 0 {
		t.Errorf("not moved: %v", want)
	}
}
