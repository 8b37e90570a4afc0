package sqspoller

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/upvest-webhooks/upvest-webhooks/shared/testkit/testclock"
)

// A received message must become exactly the record Lambda's SQS event source
// delivers (the example record of the Lambda developer guide, adapted).
func TestLambdaMessageShape(t *testing.T) {
	in := types.Message{
		MessageId:     aws.String("059f36b4-87a3-44ab-83d2-661975830a7d"),
		ReceiptHandle: aws.String("AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a"),
		Body:          aws.String(`{"id":"8962b496-8d42-4560-bfab-10490dd1a721"}`),
		MD5OfBody:     aws.String("e4e68fb7bd0e697a0ae8f1bb342846b3"),
		Attributes: map[string]string{
			"ApproximateReceiveCount":          "1",
			"SentTimestamp":                    "1545082649183",
			"SenderId":                         "AIDAIENQZJOLO23YVJ4VO",
			"ApproximateFirstReceiveTimestamp": "1545082649185",
		},
		MessageAttributes: map[string]types.MessageAttributeValue{
			"event_id": {DataType: aws.String("String"), StringValue: aws.String("8962b496-8d42-4560-bfab-10490dd1a721")},
		},
		MD5OfMessageAttributes: aws.String("9ba1e2ca0a8ed1a1cd4d2d0e8b3c4f12"),
	}
	want := `{
	  "messageId": "059f36b4-87a3-44ab-83d2-661975830a7d",
	  "receiptHandle": "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a",
	  "body": "{\"id\":\"8962b496-8d42-4560-bfab-10490dd1a721\"}",
	  "attributes": {
	    "ApproximateReceiveCount": "1",
	    "SentTimestamp": "1545082649183",
	    "SenderId": "AIDAIENQZJOLO23YVJ4VO",
	    "ApproximateFirstReceiveTimestamp": "1545082649185"
	  },
	  "messageAttributes": {
	    "event_id": {"stringValue": "8962b496-8d42-4560-bfab-10490dd1a721", "stringListValues": [], "binaryListValues": [], "dataType": "String"}
	  },
	  "md5OfMessageAttributes": "9ba1e2ca0a8ed1a1cd4d2d0e8b3c4f12",
	  "md5OfBody": "e4e68fb7bd0e697a0ae8f1bb342846b3",
	  "eventSource": "aws:sqs",
	  "eventSourceARN": "arn:aws:sqs:eu-central-1:123456789012:upvest-orders",
	  "awsRegion": "eu-central-1"
	}`
	got := lambdaMessage(in, "arn:aws:sqs:eu-central-1:123456789012:upvest-orders", "eu-central-1")
	assertSameJSON(t, got, want)

	// A message without attributes still has (empty) maps, as in Lambda's events.
	bare := lambdaMessage(types.Message{MessageId: aws.String("m")}, "arn", "r")
	if bare.Attributes == nil || bare.MessageAttributes == nil {
		t.Errorf("nil maps in %+v", bare)
	}
}

func assertSameJSON(t *testing.T, got any, want string) {
	t.Helper()
	gotJSON, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	var g, w any
	if err := json.Unmarshal(gotJSON, &g); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatal(err)
	}
	gn, _ := json.Marshal(g)
	wn, _ := json.Marshal(w)
	if !bytes.Equal(gn, wn) {
		t.Errorf("got  %s\nwant %s", gn, wn)
	}
}

func TestRegionOf(t *testing.T) {
	for arn, want := range map[string]string{
		"arn:aws:sqs:eu-central-1:123456789012:upvest-orders": "eu-central-1",
		"arn:aws:sqs:us-east-1:000000000000:q":                "us-east-1",
		"not-an-arn":                                          "",
	} {
		if got := regionOf(arn); got != want {
			t.Errorf("regionOf(%q) = %q, want %q", arn, got, want)
		}
	}
}

// fakeSQS scripts receives and records deletes, for the poller's own logic;
// queue behaviour itself is tested against fauxqs in the integration tests.
type fakeSQS struct {
	mu        sync.Mutex
	receives  []func() (*sqs.ReceiveMessageOutput, error) // consumed in order; then empty long polls
	inputs    []*sqs.ReceiveMessageInput
	attempts  []int      // the SDK attempts each receive allows (RetryMaxAttempts after its options)
	deleted   [][]string // receipt handles per DeleteMessageBatch call
	arnLookup int
	idle      chan struct{} // closed when the script is used up
}

func (f *fakeSQS) ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, opts ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error) {
	var o sqs.Options
	for _, opt := range opts {
		opt(&o)
	}
	f.mu.Lock()
	f.inputs = append(f.inputs, in)
	f.attempts = append(f.attempts, o.RetryMaxAttempts)
	if len(f.receives) > 0 {
		next := f.receives[0]
		f.receives = f.receives[1:]
		f.mu.Unlock()
		return next()
	}
	if f.idle != nil {
		close(f.idle)
		f.idle = nil
	}
	f.mu.Unlock()
	<-ctx.Done() // an endless long poll, as on an empty queue
	return nil, ctx.Err()
}

func (f *fakeSQS) DeleteMessageBatch(_ context.Context, in *sqs.DeleteMessageBatchInput, _ ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var handles []string
	ids := map[string]bool{}
	for _, e := range in.Entries {
		if ids[aws.ToString(e.Id)] {
			return nil, fmt.Errorf("duplicate entry id %s", aws.ToString(e.Id))
		}
		ids[aws.ToString(e.Id)] = true
		handles = append(handles, aws.ToString(e.ReceiptHandle))
	}
	f.deleted = append(f.deleted, handles)
	return &sqs.DeleteMessageBatchOutput{}, nil
}

func (f *fakeSQS) GetQueueAttributes(context.Context, *sqs.GetQueueAttributesInput, ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.arnLookup++
	return &sqs.GetQueueAttributesOutput{Attributes: map[string]string{"QueueArn": "arn:aws:sqs:eu-west-1:000000000000:q"}}, nil
}

func messages(ids ...string) func() (*sqs.ReceiveMessageOutput, error) {
	return func() (*sqs.ReceiveMessageOutput, error) {
		out := &sqs.ReceiveMessageOutput{}
		for _, id := range ids {
			out.Messages = append(out.Messages, types.Message{MessageId: aws.String(id), ReceiptHandle: aws.String("rh-" + id), Body: aws.String(id)})
		}
		return out, nil
	}
}

// runScript runs a poller over the scripted receives until they are used up.
func runScript(t *testing.T, p *Poller, f *fakeSQS) string {
	t.Helper()
	var logs bytes.Buffer
	p.Client, p.QueueURL = f, "http://sqs.local/000000000000/q"
	p.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	f.idle = make(chan struct{})
	idle := f.idle
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	select {
	case <-idle:
	case err := <-done:
		t.Fatalf("Run stopped early: %v", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run after cancel = %v, want nil", err)
	}
	return logs.String()
}

func TestPollerDeletesOnlySuccesses(t *testing.T) {
	fail := func(ids ...string) events.SQSEventResponse {
		var r events.SQSEventResponse
		for _, id := range ids {
			r.BatchItemFailures = append(r.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: id})
		}
		return r
	}
	tests := []struct {
		name        string
		resp        events.SQSEventResponse
		err         error
		wantDeleted string // receipt handles deleted, comma-separated; "" for no delete call
		wantLog     string
	}{
		{name: "all succeed", wantDeleted: "rh-a,rh-b,rh-c"},
		{name: "one fails", resp: fail("b"), wantDeleted: "rh-a,rh-c", wantLog: "failed=1"},
		{name: "all fail", resp: fail("a", "b", "c"), wantLog: "failed=3"},
		{name: "handler error deletes nothing", err: errors.New("boom"), wantLog: "boom"},
		{name: "unknown identifier fails the batch", resp: fail("a", "zzz"), wantLog: "item_identifier=zzz"},
		{name: "empty identifier fails the batch", resp: fail(""), wantLog: "not in the batch"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeSQS{receives: []func() (*sqs.ReceiveMessageOutput, error){messages("a", "b", "c")}}
			var got events.SQSEvent
			p := &Poller{QueueARN: "arn:aws:sqs:eu-central-1:1:q", Handler: func(_ context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
				got = ev
				return tt.resp, tt.err
			}}
			logs := runScript(t, p, f)
			if len(got.Records) != 3 || got.Records[1].MessageId != "b" || got.Records[1].EventSourceARN != "arn:aws:sqs:eu-central-1:1:q" || got.Records[1].AWSRegion != "eu-central-1" {
				t.Fatalf("handler got %+v", got)
			}
			var deleted []string
			for _, call := range f.deleted {
				deleted = append(deleted, strings.Join(call, ","))
			}
			if strings.Join(deleted, "|") != tt.wantDeleted {
				t.Errorf("deleted %v, want %q", deleted, tt.wantDeleted)
			}
			if !strings.Contains(logs, tt.wantLog) {
				t.Errorf("logs %q do not mention %q", logs, tt.wantLog)
			}
		})
	}
}

func TestPollerRetriesReceiveErrors(t *testing.T) {
	boom := func() (*sqs.ReceiveMessageOutput, error) { return nil, errors.New("connection refused") }
	f := &fakeSQS{receives: []func() (*sqs.ReceiveMessageOutput, error){boom, boom, messages("a")}}
	handled := 0
	p := &Poller{Handler: func(context.Context, events.SQSEvent) (events.SQSEventResponse, error) {
		handled++
		return events.SQSEventResponse{}, nil
	}}
	logs := runScript(t, p, f)
	if handled != 1 || len(f.deleted) != 1 {
		t.Errorf("handled %d batches, deleted %v; want the message handled and deleted after the errors", handled, f.deleted)
	}
	if strings.Count(logs, "connection refused") != 2 {
		t.Errorf("logs = %q, want both receive errors logged", logs)
	}
	if f.arnLookup != 1 {
		t.Errorf("queue ARN looked up %d times, want once", f.arnLookup)
	}
}

// Every receive, the first of a batch and those that fill it, turns the SDK's
// retries off: the poller retries, and says so (see receiveOnce).
func TestPollerReceivesWithoutSDKRetries(t *testing.T) {
	f := &fakeSQS{receives: []func() (*sqs.ReceiveMessageOutput, error){messages("a"), messages("b")}}
	var batches []string
	runScript(t, &Poller{Handler: recordBatches(&batches), BatchSize: 5, BatchWindow: 1500 * time.Millisecond}, f)
	if len(f.attempts) < 3 {
		t.Fatalf("%d receives, want a first one, a fill and the idle poll", len(f.attempts))
	}
	for i, n := range f.attempts {
		if n != 1 {
			t.Errorf("receive %d allows %d SDK attempts, want 1", i, n)
		}
	}
}

func TestPollerReceiveRequest(t *testing.T) {
	f := &fakeSQS{}
	runScript(t, &Poller{QueueARN: "arn:aws:sqs:r:1:q", Handler: nopHandler, BatchSize: 4, WaitTime: 3 * time.Second, VisibilityTimeout: 7 * time.Second}, f)
	in := f.inputs[0]
	if in.MaxNumberOfMessages != 4 || in.WaitTimeSeconds != 3 || in.VisibilityTimeout != 7 ||
		len(in.MessageSystemAttributeNames) != 1 || in.MessageSystemAttributeNames[0] != types.MessageSystemAttributeNameAll ||
		len(in.MessageAttributeNames) != 1 || in.MessageAttributeNames[0] != "All" || aws.ToString(in.QueueUrl) != "http://sqs.local/000000000000/q" {
		t.Errorf("receive input = %+v", in)
	}
	f = &fakeSQS{}
	runScript(t, &Poller{QueueARN: "arn:aws:sqs:r:1:q", Handler: nopHandler}, f)
	if in := f.inputs[0]; in.MaxNumberOfMessages != 10 || in.WaitTimeSeconds != 20 || in.VisibilityTimeout != 0 {
		t.Errorf("defaults: receive input = %+v, want batch 10, wait 20 s, the queue's visibility timeout", in)
	}
}

func nopHandler(context.Context, events.SQSEvent) (events.SQSEventResponse, error) {
	return events.SQSEventResponse{}, nil
}

func TestPollerValidates(t *testing.T) {
	ok := Poller{Client: &fakeSQS{}, QueueURL: "u", Handler: nopHandler}
	tests := map[string]func(p *Poller){
		"no client":       func(p *Poller) { p.Client = nil },
		"no queue":        func(p *Poller) { p.QueueURL = "" },
		"no handler":      func(p *Poller) { p.Handler = nil },
		"batch too big":   func(p *Poller) { p.BatchSize = 11 },
		"window negative": func(p *Poller) { p.BatchWindow = -time.Second },
		"window too long": func(p *Poller) { p.BatchWindow = 301 * time.Second },
		"window reaches the visibility timeout": func(p *Poller) {
			p.BatchWindow, p.VisibilityTimeout = 2*time.Second, 3*time.Second
		},
		"wait too long":       func(p *Poller) { p.WaitTime = 21 * time.Second },
		"wait not whole":      func(p *Poller) { p.WaitTime = 1500 * time.Millisecond },
		"visibility negative": func(p *Poller) { p.VisibilityTimeout = -time.Second },
	}
	for name, breakIt := range tests {
		t.Run(name, func(t *testing.T) {
			p := ok
			breakIt(&p)
			if err := p.Run(context.Background()); err == nil || !strings.HasPrefix(err.Error(), "sqspoller:") {
				t.Errorf("Run = %v, want a configuration error", err)
			}
		})
	}
}

// A receive that does not fill the batch is topped up within BatchWindow,
// asking only for what is missing and waiting no longer than the window.
func TestPollerFillsABatchWithinItsWindow(t *testing.T) {
	f := &fakeSQS{receives: []func() (*sqs.ReceiveMessageOutput, error){messages("a", "b"), messages("c"), messages("d", "e")}}
	var batches []string
	clock := testclock.New(time.Unix(1_800_000_000, 0)) // stands still: the whole window is left at each receive
	runScript(t, &Poller{Handler: recordBatches(&batches), BatchSize: 5, BatchWindow: 2 * time.Second, clock: clock}, f)
	if strings.Join(batches, "|") != "a,b,c,d,e" {
		t.Errorf("batches %q, want one of a to e", batches)
	}
	if len(f.inputs) < 3 || f.inputs[1].MaxNumberOfMessages != 3 || f.inputs[2].MaxNumberOfMessages != 2 ||
		f.inputs[1].WaitTimeSeconds > 2 || f.inputs[1].WaitTimeSeconds < 1 {
		t.Errorf("receives asked for %v", f.inputs)
	}
}

// A long poll never waits past the window: SQS waits in whole seconds, so
// the fill asks for the whole seconds left, and for the last fraction of a
// second waits itself and short-polls (WaitTimeSeconds 0) once.
func TestPollerNeverWaitsPastItsWindow(t *testing.T) {
	// The window's clock moves only when the script moves it: a slow machine
	// cannot close the window early.
	clock := testclock.New(time.Unix(1_800_000_000, 0))
	empty := func() (*sqs.ReceiveMessageOutput, error) { return &sqs.ReceiveMessageOutput{}, nil }
	longPollOfOneSecond := func() (*sqs.ReceiveMessageOutput, error) {
		clock.Advance(time.Second) // a long poll that found nothing
		return &sqs.ReceiveMessageOutput{}, nil
	}
	for _, tt := range []struct {
		window time.Duration
		script []func() (*sqs.ReceiveMessageOutput, error)
		waits  []int32 // WaitTimeSeconds of the fill's receives
	}{
		{400 * time.Millisecond, []func() (*sqs.ReceiveMessageOutput, error){messages("a"), empty, messages("b")}, []int32{0}},
		{1500 * time.Millisecond, []func() (*sqs.ReceiveMessageOutput, error){messages("a"), longPollOfOneSecond, empty, messages("b")}, []int32{1, 0}},
	} {
		f := &fakeSQS{receives: tt.script}
		var batches []string
		runScript(t, &Poller{Handler: recordBatches(&batches), BatchWindow: tt.window, clock: clock}, f)
		if strings.Join(batches, "|") != "a|b" {
			t.Errorf("window %v: batches %q, want a|b", tt.window, batches)
		}
		var waits []int32
		for _, in := range f.inputs[1 : 1+len(tt.waits)] {
			waits = append(waits, in.WaitTimeSeconds)
		}
		if !slices.Equal(waits, tt.waits) {
			t.Errorf("window %v: the fill waited %v s, want %v", tt.window, waits, tt.waits)
		}
	}
}

// When the window passes first, the batch goes as it is; without a window,
// each receive is a batch.
func TestPollerHandsOverWhenTheWindowPasses(t *testing.T) {
	slowEmpty := func() (*sqs.ReceiveMessageOutput, error) {
		time.Sleep(150 * time.Millisecond) // a long poll that found nothing
		return &sqs.ReceiveMessageOutput{}, nil
	}
	for _, tt := range []struct {
		window time.Duration
		script []func() (*sqs.ReceiveMessageOutput, error)
		want   string
	}{
		{200 * time.Millisecond, []func() (*sqs.ReceiveMessageOutput, error){messages("a"), slowEmpty, slowEmpty, messages("b")}, "a|b"},
		{0, []func() (*sqs.ReceiveMessageOutput, error){messages("a"), messages("b")}, "a|b"},
	} {
		f := &fakeSQS{receives: tt.script}
		var batches []string
		runScript(t, &Poller{Handler: recordBatches(&batches), BatchWindow: tt.window}, f)
		if strings.Join(batches, "|") != tt.want {
			t.Errorf("window %v: batches %q, want %q", tt.window, batches, tt.want)
		}
	}
}

// recordBatches is a handler that notes each batch's message ids, comma-separated.
func recordBatches(batches *[]string) Handler {
	return func(_ context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
		var ids []string
		for _, r := range ev.Records {
			ids = append(ids, r.MessageId)
		}
		*batches = append(*batches, strings.Join(ids, ","))
		return events.SQSEventResponse{}, nil
	}
}
