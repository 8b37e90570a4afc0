package sqspoller

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	upvest "github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/shared/local/localaws/awstest"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/message"
)

// deliveries records what the handler was given, per body.
type deliveries struct {
	mu     sync.Mutex
	counts map[string][]int // ApproximateReceiveCount of each delivery
	sample map[string]events.SQSMessage
	change chan struct{}
}

func newDeliveries() *deliveries {
	return &deliveries{counts: map[string][]int{}, sample: map[string]events.SQSMessage{}, change: make(chan struct{}, 1)}
}

func (d *deliveries) record(t *testing.T, m events.SQSMessage) int {
	n, err := strconv.Atoi(m.Attributes["ApproximateReceiveCount"])
	if err != nil {
		t.Errorf("message %s: ApproximateReceiveCount %q: %v", m.Body, m.Attributes["ApproximateReceiveCount"], err)
	}
	d.mu.Lock()
	d.counts[m.Body] = append(d.counts[m.Body], n)
	d.sample[m.Body] = m
	d.mu.Unlock()
	select {
	case d.change <- struct{}{}:
	default:
	}
	return n
}

func (d *deliveries) snapshot() map[string][]int {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make(map[string][]int, len(d.counts))
	for k, v := range d.counts {
		out[k] = append([]int(nil), v...)
	}
	return out
}

// waitUntil waits for cond over the deliveries; the deadline only keeps a
// broken test from hanging.
func (d *deliveries) waitUntil(t *testing.T, what string, cond func(map[string][]int) bool) {
	t.Helper()
	deadline := time.After(60 * time.Second)
	for !cond(d.snapshot()) {
		select {
		case <-d.change:
		case <-deadline:
			t.Fatalf("still waiting for %s; deliveries so far: %v", what, d.snapshot())
		}
	}
}

func send(t *testing.T, client *sqs.Client, queueURL string, bodies ...string) {
	t.Helper()
	for _, b := range bodies {
		_, err := client.SendMessage(context.Background(), &sqs.SendMessageInput{
			QueueUrl:    aws.String(queueURL),
			MessageBody: aws.String(b),
			MessageAttributes: map[string]types.MessageAttributeValue{
				message.AttrEventID: {DataType: aws.String("String"), StringValue: aws.String(b)},
				message.AttrDomain:  {DataType: aws.String("String"), StringValue: aws.String("orders")},
			},
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// startPoller runs p in the background; the returned stop cancels it and
// waits until Run has returned (so every delete it started is done).
func startPoller(t *testing.T, p *Poller) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run = %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func queueAttrs(t *testing.T, client *sqs.Client, queueURL string) map[string]string {
	t.Helper()
	out, err := client.GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(queueURL), AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameAll},
	})
	if err != nil {
		t.Fatal(err)
	}
	return out.Attributes
}

func assertEmpty(t *testing.T, client *sqs.Client, queueURL string) {
	t.Helper()
	a := queueAttrs(t, client, queueURL)
	if a["ApproximateNumberOfMessages"] != "0" || a["ApproximateNumberOfMessagesNotVisible"] != "0" {
		t.Errorf("queue still holds messages: visible %s, in flight %s", a["ApproximateNumberOfMessages"], a["ApproximateNumberOfMessagesNotVisible"])
	}
}

// Against fauxqs: successes are deleted at once, a failing message comes back
// after each visibility timeout with a growing receive count, and after
// maxReceiveCount receives it lands in the dead-letter queue.
func TestIntegrationPartialFailuresRedeliveryAndDLQ(t *testing.T) {
	t.Parallel()
	const maxReceives = 2
	env := awstest.Env(t, awstest.WithVisibilityTimeout(2*time.Second), awstest.WithMaxReceiveCount(maxReceives))
	queue, dlq := env.QueueURLs[upvest.Orders], env.DLQURLs[upvest.Orders]
	send(t, env.SQS, queue, "ok-1", "ok-2", "poison", "ok-3")

	got := newDeliveries()
	stop := startPoller(t, &Poller{
		Client: env.SQS, QueueURL: queue, WaitTime: time.Second, // QueueARN left empty: looked up
		Handler: func(_ context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
			var resp events.SQSEventResponse
			for _, m := range ev.Records {
				got.record(t, m)
				if m.Body == "poison" {
					resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: m.MessageId})
				}
			}
			return resp, nil
		},
	})

	dead := awstest.ReceiveAll(t, env.SQS, dlq, 1, 60*time.Second)
	stop()

	if len(dead) != 1 || aws.ToString(dead[0].Body) != "poison" {
		t.Fatalf("dead-letter queue holds %d messages (%v), want only the poison one", len(dead), dead)
	}
	if v := dead[0].MessageAttributes[message.AttrEventID].StringValue; aws.ToString(v) != "poison" {
		t.Errorf("dead letter lost its attributes: %v", dead[0].MessageAttributes)
	}
	counts := got.snapshot()
	if c := counts["poison"]; len(c) != maxReceives || c[0] != 1 || c[1] != 2 {
		t.Errorf("poison deliveries had receive counts %v, want [1 2]", c)
	}
	for _, body := range []string{"ok-1", "ok-2", "ok-3"} {
		if c := counts[body]; len(c) != 1 || c[0] != 1 {
			t.Errorf("%s deliveries had receive counts %v, want exactly one delivery [1]", body, c)
		}
	}
	assertEmpty(t, env.SQS, queue)

	// The records have the shape Lambda's SQS event source gives them.
	arn := queueAttrs(t, env.SQS, queue)["QueueArn"]
	m := got.sample["ok-2"]
	sum := md5.Sum([]byte("ok-2"))
	if m.EventSource != "aws:sqs" || m.EventSourceARN != arn || m.AWSRegion != regionOf(arn) || m.AWSRegion == "" ||
		m.Md5OfBody != hex.EncodeToString(sum[:]) || m.MessageId == "" || m.ReceiptHandle == "" || m.Attributes["SentTimestamp"] == "" {
		t.Errorf("record = %+v, want Lambda's fields (queue ARN %s)", m, arn)
	}
	if a := m.MessageAttributes[message.AttrEventID]; aws.ToString(a.StringValue) != "ok-2" || a.DataType != "String" {
		t.Errorf("message attribute %s = %+v", message.AttrEventID, a)
	}
}

// A handler error leaves the whole batch for redelivery; nothing is deleted.
func TestIntegrationHandlerErrorDeletesNothing(t *testing.T) {
	t.Parallel()
	env := awstest.Env(t, awstest.WithVisibilityTimeout(time.Second), awstest.WithMaxReceiveCount(5))
	queue := env.QueueURLs[upvest.Payments]
	bodies := []string{"a", "b", "c"}
	send(t, env.SQS, queue, bodies...)

	got := newDeliveries()
	stop := startPoller(t, &Poller{
		Client: env.SQS, QueueURL: queue, WaitTime: time.Second, BatchSize: 10,
		Handler: func(_ context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
			firstTime := false
			for _, m := range ev.Records {
				if got.record(t, m) == 1 {
					firstTime = true
				}
			}
			if firstTime {
				return events.SQSEventResponse{}, context.DeadlineExceeded // as a timed-out invocation would
			}
			return events.SQSEventResponse{}, nil
		},
	})
	got.waitUntil(t, "every message handled a second time", func(c map[string][]int) bool {
		for _, b := range bodies {
			if len(c[b]) < 2 {
				return false
			}
		}
		return true
	})
	stop()
	for b, c := range got.snapshot() {
		if len(c) != 2 || c[0] != 1 || c[1] != 2 {
			t.Errorf("%s deliveries had receive counts %v, want [1 2]", b, c)
		}
	}
	assertEmpty(t, env.SQS, queue)
}
