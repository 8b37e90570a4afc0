package awstest_test

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/shared/local/localaws/awstest"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/schema"
)

func TestEnvsArePrivate(t *testing.T) {
	t.Parallel()
	a, b := awstest.Env(t), awstest.Env(t)
	if a.Names.Prefix == b.Names.Prefix || a.LedgerTable == b.LedgerTable || a.QueueURLs[events.Users] == b.QueueURLs[events.Users] {
		t.Fatalf("two envs share resources: %q %q", a.Names.Prefix, b.Names.Prefix)
	}
}

func TestReceiveAllAndDrainCount(t *testing.T) {
	t.Parallel()
	env := awstest.Env(t, awstest.WithVisibilityTimeout(30*time.Second))
	queue := env.QueueURLs[events.Payments]
	for i := range 3 {
		_, err := env.SQS.SendMessage(context.Background(), &sqs.SendMessageInput{
			QueueUrl: aws.String(queue), MessageBody: aws.String("m" + strconv.Itoa(i)),
			MessageAttributes: map[string]sqstypes.MessageAttributeValue{
				"event_id": {DataType: aws.String("String"), StringValue: aws.String("e" + strconv.Itoa(i))},
			},
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	msgs := awstest.ReceiveAll(t, env.SQS, queue, 3, 30*time.Second)
	var bodies, ids []string
	for _, m := range msgs {
		bodies = append(bodies, aws.ToString(m.Body))
		ids = append(ids, aws.ToString(m.MessageAttributes["event_id"].StringValue))
		if m.Attributes["ApproximateReceiveCount"] != "1" {
			t.Errorf("system attributes missing or wrong: %v", m.Attributes)
		}
	}
	slices.Sort(bodies)
	slices.Sort(ids)
	if !slices.Equal(bodies, []string{"m0", "m1", "m2"}) || !slices.Equal(ids, []string{"e0", "e1", "e2"}) {
		t.Errorf("bodies %v, event ids %v", bodies, ids)
	}
	// ReceiveAll deleted nothing; the messages are in flight for 30 s, so none is visible to drain.
	if n := awstest.DrainCount(t, env.SQS, queue); n != 0 {
		t.Errorf("drained %d in-flight messages", n)
	}
	other := env.QueueURLs[events.Reports]
	if _, err := env.SQS.SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: aws.String(other), MessageBody: aws.String("x")}); err != nil {
		t.Fatal(err)
	}
	if n := awstest.DrainCount(t, env.SQS, other); n != 1 {
		t.Errorf("drained %d, want 1", n)
	}
	if n := awstest.DrainCount(t, env.SQS, other); n != 0 {
		t.Errorf("second drain found %d", n)
	}
}

func TestGetItem(t *testing.T) {
	t.Parallel()
	env := awstest.Env(t)
	if item := awstest.GetItem(t, env.DynamoDB, env.LedgerTable, schema.LedgerPK, "missing"); item != nil {
		t.Errorf("missing item: %v", item)
	}
	_, err := env.DynamoDB.PutItem(context.Background(), &dynamodb.PutItemInput{
		TableName: aws.String(env.LedgerTable),
		Item: map[string]ddbtypes.AttributeValue{
			schema.LedgerPK:     &ddbtypes.AttributeValueMemberS{Value: "evt-1"},
			schema.LedgerStatus: &ddbtypes.AttributeValueMemberS{Value: "RECEIVED"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	item := awstest.GetItem(t, env.DynamoDB, env.LedgerTable, schema.LedgerPK, "evt-1")
	if s, ok := item[schema.LedgerStatus].(*ddbtypes.AttributeValueMemberS); !ok || s.Value != "RECEIVED" {
		t.Errorf("item %v", item)
	}
}

// fatalRecorder stands in for the test in a helper that must fail: it keeps
// the message and ends the goroutine as t.Fatalf would.
type fatalRecorder struct {
	testing.TB
	msg string
}

func (r *fatalRecorder) Helper() {}

func (r *fatalRecorder) Fatalf(format string, args ...any) {
	r.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// A queue that holds fewer than wanted fails after the patience without a new
// message, and says what the queue holds, so a lost receive shows as extra
// messages in flight.
func TestReceiveAllFailsOnAStall(t *testing.T) {
	t.Parallel()
	env := awstest.Env(t, awstest.WithVisibilityTimeout(time.Minute))
	queue := env.QueueURLs[events.Orders]
	for i := range 2 {
		if _, err := env.SQS.SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: aws.String(queue), MessageBody: aws.String("m" + strconv.Itoa(i))}); err != nil {
			t.Fatal(err)
		}
	}
	rec := &fatalRecorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		awstest.ReceiveAll(rec, env.SQS, queue, 3, 2*time.Second)
	}()
	<-done
	if !strings.Contains(rec.msg, "got 2 messages, want at least 3; none new for 2s") || !strings.Contains(rec.msg, "2 in flight") {
		t.Errorf("failure %q does not tell the count, the stall and the queue's state", rec.msg)
	}
}

// A batch received by someone else and never deleted (as one whose receive's
// answer broke off is) comes back after the visibility timeout, and
// ReceiveAll collects it: it gives up only when nothing new comes for its
// patience, which outlasts the timeout. Messages it holds that come back too
// are returned once, with their newest receipt handle.
func TestReceiveAllCollectsABatchThatComesBack(t *testing.T) {
	t.Parallel()
	env := awstest.Env(t, awstest.WithVisibilityTimeout(2*time.Second))
	queue := env.QueueURLs[events.Orders]
	for i := range 15 {
		if _, err := env.SQS.SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: aws.String(queue), MessageBody: aws.String("m" + strconv.Itoa(i))}); err != nil {
			t.Fatal(err)
		}
	}
	lost, err := env.SQS.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(queue), MaxNumberOfMessages: 10})
	if err != nil || len(lost.Messages) != 10 {
		t.Fatalf("receive the batch to lose: %d messages, %v", len(lost.Messages), err)
	}
	msgs := awstest.ReceiveAll(t, env.SQS, queue, 15, 10*time.Second)
	bodies := map[string]bool{}
	for _, m := range msgs {
		bodies[aws.ToString(m.Body)] = true
	}
	if len(msgs) != 15 || len(bodies) != 15 {
		t.Fatalf("got %d messages (%d distinct bodies), want the 15 sent, each once", len(msgs), len(bodies))
	}
	for _, m := range msgs {
		if _, err := env.SQS.DeleteMessage(context.Background(), &sqs.DeleteMessageInput{QueueUrl: aws.String(queue), ReceiptHandle: m.ReceiptHandle}); err != nil {
			t.Fatalf("delete with the returned receipt handle: %v", err)
		}
	}
}
