package streamtail

import (
	"context"
	"crypto/rand"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	upvest "github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/shared/local/localaws/awstest"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/schema"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/state"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/streams"
)

// changeLog is a sink that keeps every change and lets a test wait for some.
type changeLog struct {
	mu      sync.Mutex
	changes []streams.Change
	added   chan struct{}
}

func newChangeLog() *changeLog { return &changeLog{added: make(chan struct{}, 1)} }

func (l *changeLog) sink(_ context.Context, c streams.Change) error {
	l.mu.Lock()
	l.changes = append(l.changes, c)
	l.mu.Unlock()
	select {
	case l.added <- struct{}{}:
	default:
	}
	return nil
}

// waitFor returns the changes of key once there are n of them. The deadline
// only keeps a broken test from hanging; nothing is asserted about timing.
func (l *changeLog) waitFor(t *testing.T, key string, n int) []streams.Change {
	t.Helper()
	deadline := time.After(60 * time.Second)
	for {
		l.mu.Lock()
		var got []streams.Change
		for _, c := range l.changes {
			if c.Key == key {
				got = append(got, c)
			}
		}
		l.mu.Unlock()
		if len(got) >= n {
			return got
		}
		select {
		case <-l.added:
		case <-deadline:
			t.Fatalf("%s: got %d changes, want %d: %+v", key, len(got), n, got)
		}
	}
}

// runTailer starts a tailer on one stream and returns once it is Ready.
func runTailer(t *testing.T, tl *Tailer) {
	t.Helper()
	tl.PollInterval, tl.DescribeInterval = 50*time.Millisecond, time.Second
	ready := make(chan struct{})
	tl.Ready = func() { close(ready) }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tl.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("tailer: %v", err)
		}
	})
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("tailer stopped before it was ready: %v", err)
	}
}

func uuid(t *testing.T) string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	b[6], b[8] = b[6]&0x0f|0x40, b[8]&0x3f|0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// Rows written straight into a state table reach the tailer (through the
// real Streams API of DynamoDB Local) as an INSERT then a MODIFY, with the
// old and new status and version; with LATEST, earlier writes are not seen.
func TestIntegrationTailerSeesInsertThenModify(t *testing.T) {
	t.Parallel()
	env := awstest.Env(t)
	ctx := context.Background()
	table := env.StateTables[upvest.Orders]

	arns, err := StateStreamARNs(ctx, env.DynamoDB, env.Names, []upvest.Domain{upvest.Orders})
	if err != nil {
		t.Fatal(err)
	}
	if arns["orders"] == "" || arns["orders"] != env.StateStreamARNs[upvest.Orders] {
		t.Fatalf("StateStreamARNs = %v, want orders → %s", arns, env.StateStreamARNs[upvest.Orders])
	}

	before := "ORDER#" + uuid(t)
	put := func(key, status, version, eventType string) {
		t.Helper()
		_, err := env.DynamoDB.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: map[string]types.AttributeValue{
			schema.StatePK:        &types.AttributeValueMemberS{Value: key},
			schema.StateCategory:  &types.AttributeValueMemberS{Value: "ORDER"},
			schema.StateStatus:    &types.AttributeValueMemberS{Value: status},
			schema.StateVersion:   &types.AttributeValueMemberN{Value: version},
			schema.StateEventID:   &types.AttributeValueMemberS{Value: uuid(t)},
			schema.StateEventType: &types.AttributeValueMemberS{Value: eventType},
			schema.StateObject:    &types.AttributeValueMemberS{Value: `{"status":"` + status + `"}`},
		}})
		if err != nil {
			t.Fatal(err)
		}
	}
	put(before, "NEW", "1", "ORDER.NEW") // before the tailer starts: LATEST must skip it

	log := newChangeLog()
	runTailer(t, &Tailer{Client: env.Streams, StreamARNs: arns, Consumer: &streams.Consumer{Sink: log.sink}})

	key := "ORDER#" + uuid(t)
	put(key, "NEW", "1", "ORDER.NEW")
	_, err = env.DynamoDB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(table),
		Key:                       map[string]types.AttributeValue{schema.StatePK: &types.AttributeValueMemberS{Value: key}},
		UpdateExpression:          aws.String("SET #s = :s, #e = :e, #v = #v + :one"),
		ExpressionAttributeNames:  map[string]string{"#s": schema.StateStatus, "#e": schema.StateEventType, "#v": schema.StateVersion},
		ExpressionAttributeValues: map[string]types.AttributeValue{":s": &types.AttributeValueMemberS{Value: "FILLED"}, ":e": &types.AttributeValueMemberS{Value: "ORDER.FILLED"}, ":one": &types.AttributeValueMemberN{Value: "1"}},
	})
	if err != nil {
		t.Fatal(err)
	}

	got := log.waitFor(t, key, 2)
	if len(got) != 2 {
		t.Fatalf("got %d changes, want 2: %+v", len(got), got)
	}
	ins, mod := got[0], got[1]
	if ins.Kind != streams.Insert || ins.OldStatus != "" || ins.NewStatus != "NEW" || ins.NewVersion != 1 || ins.EventType != "ORDER.NEW" {
		t.Errorf("first change = %+v, want INSERT ∅→NEW v1 ORDER.NEW", ins)
	}
	if mod.Kind != streams.Modify || mod.OldStatus != "NEW" || mod.NewStatus != "FILLED" || mod.OldVersion != 1 || mod.NewVersion != 2 || mod.EventType != "ORDER.FILLED" {
		t.Errorf("second change = %+v, want MODIFY NEW→FILLED v1→v2 ORDER.FILLED", mod)
	}
	if ins.Table != table || ins.Domain != upvest.Orders || mod.SequenceNumber <= ins.SequenceNumber && len(mod.SequenceNumber) == len(ins.SequenceNumber) {
		t.Errorf("table %q domain %q seq %s→%s, want %q orders and increasing sequence numbers", ins.Table, ins.Domain, ins.SequenceNumber, mod.SequenceNumber, table)
	}
	if string(mod.Object) != `{"status":"NEW"}` {
		t.Errorf("object = %s, want the row's object text", mod.Object)
	}
	for _, c := range log.changes {
		if c.Key == before {
			t.Errorf("LATEST tailer saw a change made before it started: %+v", c)
		}
	}
}

// Events applied by the real state writer (as the worker does) read back as
// the lines `tail` prints, including the EXECUTION that updates its ORDER's view.
func TestIntegrationTailerReadsStateWriterChanges(t *testing.T) {
	t.Parallel()
	env := awstest.Env(t)
	ctx := context.Background()
	store := state.NewDynamo(env.DynamoDB, env.StateTables[upvest.Orders])

	orderID, execID := uuid(t), uuid(t)
	apply := func(raw string) {
		t.Helper()
		e, err := upvest.ParseEvent([]byte(raw))
		if err != nil {
			t.Fatal(err)
		}
		r, err := upvest.Classify(e)
		if err != nil {
			t.Fatal(err)
		}
		if out, err := store.Apply(ctx, e, r); err != nil || out != state.Applied {
			t.Fatalf("apply %s = %s, %v", e.Type, out, err)
		}
	}
	order := func(typ, status, updated string) string {
		return fmt.Sprintf(`{"id":%q,"created_at":%q,"type":%q,"webhook_id":%q,"object":{"id":%q,"created_at":"2021-07-21T14:10:00.00Z","updated_at":%q,"status":%q,"user_id":%q,"account_id":%q}}`,
			uuid(t), updated, typ, uuid(t), orderID, updated, status, uuid(t), uuid(t))
	}
	apply(order("ORDER.NEW", "NEW", "2021-07-21T14:10:00.00Z"))
	apply(fmt.Sprintf(`{"id":%q,"created_at":"2021-07-21T14:11:00.00Z","type":"EXECUTION.FILLED","webhook_id":%q,"object":{"id":%q,"order_id":%q,"status":"FILLED","transaction_time":"2021-07-21T14:11:00.00Z"}}`,
		uuid(t), uuid(t), execID, orderID))
	apply(order("ORDER.FILLED", "FILLED", "2021-07-21T14:12:00.00Z"))

	log := newChangeLog()
	runTailer(t, &Tailer{Client: env.Streams, StreamARNs: map[string]string{"orders": env.StateStreamARNs[upvest.Orders]}, FromStart: true, Consumer: &streams.Consumer{Sink: log.sink}})

	lines := func(cs []streams.Change) string {
		var out []string
		for _, c := range cs {
			out = append(out, streams.FormatChange(c))
		}
		return strings.Join(out, "\n")
	}
	short := orderID[:8] + "…"
	wantOrder := strings.Join([]string{
		"orders ORDER#" + short + " ∅→NEW v1 ORDER.NEW",
		"orders ORDER#" + short + " NEW v2 EXECUTION.FILLED executions=1(FILLED:1)",
		"orders ORDER#" + short + " NEW→FILLED v3 ORDER.FILLED executions=1(FILLED:1)",
	}, "\n")
	if got := lines(log.waitFor(t, "ORDER#"+orderID, 3)); got != wantOrder {
		t.Errorf("order changes:\n%s\nwant:\n%s", got, wantOrder)
	}
	wantExec := "orders EXECUTION#" + execID[:8] + "… ∅→FILLED v1 EXECUTION.FILLED"
	if got := lines(log.waitFor(t, "EXECUTION#"+execID, 1)); got != wantExec {
		t.Errorf("execution changes:\n%s\nwant:\n%s", got, wantExec)
	}
}
