// Package sqspoller feeds a Lambda-style SQS handler from a real queue, for
// local runs where there is no Lambda event source mapping. It does what the
// mapping does for a standard queue with ReportBatchItemFailures: long-poll a
// batch, hand it to the handler as an events.SQSEvent, delete the messages
// that succeeded, and leave the others to reappear after the visibility
// timeout (and, past the queue's maxReceiveCount, to move to its DLQ).
package sqspoller

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/longrun"
)

// API is the part of the SQS client the poller uses.
type API interface {
	ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, opts ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	DeleteMessageBatch(ctx context.Context, in *sqs.DeleteMessageBatchInput, opts ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error)
	GetQueueAttributes(ctx context.Context, in *sqs.GetQueueAttributesInput, opts ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error)
}

var _ API = (*sqs.Client)(nil)

// Handler is a Lambda SQS handler with partial batch responses.
type Handler func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error)

// Poller polls one queue and calls Handler with one batch at a time.
type Poller struct {
	Client   API
	QueueURL string
	// QueueARN is the messages' EventSourceARN (its region becomes AWSRegion).
	// When empty it is looked up once with GetQueueAttributes.
	QueueARN string
	Handler  Handler

	BatchSize int           // messages per batch, 1 to 10; default 10
	WaitTime  time.Duration // long-poll wait in whole seconds, up to 20 s; default 20 s
	// BatchWindow is the mapping's MaximumBatchingWindowInSeconds: after a
	// receive that did not fill the batch, keep receiving until the batch is
	// full or this long has passed since its first message (0: hand each
	// receive over at once). Keep it well under the queue's
	// visibility timeout, as the mapping must: a message whose timeout runs
	// out while its batch fills comes back, into the same batch or the DLQ.
	BatchWindow time.Duration
	// VisibilityTimeout, when set (whole seconds), overrides the queue's for the
	// messages this poller receives.
	VisibilityTimeout time.Duration
	// Logger records receive, handler and delete errors; default: discarded.
	Logger *slog.Logger

	clock longrun.Clock // the batch window's; nil: the wall clock (tests set another)
}

const (
	maxBatchSize    = 10
	maxWaitTime     = 20 * time.Second
	maxBatchWindow  = 5 * time.Minute // the mapping's limit
	maxVisibility   = 12 * time.Hour
	minBackoff      = 100 * time.Millisecond
	maxBackoff      = 5 * time.Second
	deleteTimeout   = 30 * time.Second
	eventSourceName = "aws:sqs"
)

// Run polls until ctx is cancelled, then returns nil; it returns an error only
// for a configuration it cannot run with. Receive errors are logged and
// retried with backoff. Batches are handled one after the other.
func (p *Poller) Run(ctx context.Context) error {
	if err := p.validate(); err != nil {
		return err
	}
	log := p.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("queue_url", p.QueueURL)

	arn := p.QueueARN
	if arn == "" {
		var err error
		if arn, err = p.lookupARN(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
	region := regionOf(arn)

	backoff := time.Duration(0)
	for ctx.Err() == nil {
		out, err := p.Client.ReceiveMessage(ctx, p.receiveInput(), receiveOnce)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			backoff = min(max(2*backoff, minBackoff), maxBackoff)
			log.WarnContext(ctx, "receive failed; retrying (what it may have taken comes back after the visibility timeout)", "error", err, "backoff", backoff)
			if !sleep(ctx, backoff) {
				break
			}
			continue
		}
		backoff = 0
		if len(out.Messages) == 0 {
			continue
		}
		messages := p.fill(ctx, log, out.Messages)
		batch := events.SQSEvent{Records: make([]events.SQSMessage, len(messages))}
		for i, m := range messages {
			batch.Records[i] = lambdaMessage(m, arn, region)
		}
		p.handle(ctx, log, batch)
	}
	return nil
}

// fill keeps receiving into a batch that is not full until BatchWindow has
// passed since its first message. What it has received is handed over even
// when a receive fails or ctx ends: those messages are in flight already.
func (p *Poller) fill(ctx context.Context, log *slog.Logger, batch []types.Message) []types.Message {
	size := p.batchSize()
	clock := p.clock
	if clock == nil {
		clock = longrun.WallClock{}
	}
	deadline := clock.Now().Add(p.BatchWindow)
	for len(batch) < size && ctx.Err() == nil {
		left := deadline.Sub(clock.Now())
		if left <= 0 {
			break
		}
		// SQS long-polls in whole seconds. Waiting the whole seconds left keeps
		// the batch inside its window; under a second left, wait here and take
		// what has come with one short poll. The batch then closes at its
		// window, as the mapping's does, not up to a second after it. (The SDK
		// sends no WaitTimeSeconds of 0, so that poll waits the queue's
		// ReceiveMessageWaitTimeSeconds: 0, the default, on the local queues.)
		wait := min(left.Truncate(time.Second), maxWaitTime)
		if wait == 0 && clock.SleepUntil(ctx, deadline) != nil {
			break
		}
		in := p.receiveInput()
		in.MaxNumberOfMessages = int32(size - len(batch))
		in.WaitTimeSeconds = int32(wait / time.Second)
		out, err := p.Client.ReceiveMessage(ctx, in, receiveOnce)
		if err != nil {
			if ctx.Err() == nil {
				log.WarnContext(ctx, "receive failed while filling a batch; handing over what it has", "error", err, "messages", len(batch))
			}
			break
		}
		batch = append(batch, out.Messages...)
	}
	return batch
}

// receiveOnce turns off the SDK's own retries of a receive. A receive whose
// answer breaks off has taken its messages in flight already: a silent retry
// would hide that they come back only after the visibility timeout. The
// poller retries itself, and logs it. (The answers that broke off here were
// cut by the client itself; awssdk.Apply, in localaws.Config, prevents that.)
func receiveOnce(o *sqs.Options) { o.RetryMaxAttempts = 1 }

func (p *Poller) validate() error {
	var problems []string
	if p.Client == nil {
		problems = append(problems, "Client is required")
	}
	if p.QueueURL == "" {
		problems = append(problems, "QueueURL is required")
	}
	if p.Handler == nil {
		problems = append(problems, "Handler is required")
	}
	if p.BatchSize < 0 || p.BatchSize > maxBatchSize {
		problems = append(problems, fmt.Sprintf("BatchSize %d is not within 1..%d", p.BatchSize, maxBatchSize))
	}
	if p.WaitTime < 0 || p.WaitTime > maxWaitTime || p.WaitTime%time.Second != 0 {
		problems = append(problems, fmt.Sprintf("WaitTime %s is not whole seconds within 0..%s", p.WaitTime, maxWaitTime))
	}
	if p.BatchWindow < 0 || p.BatchWindow > maxBatchWindow {
		problems = append(problems, fmt.Sprintf("BatchWindow %s is not within 0..%s", p.BatchWindow, maxBatchWindow))
	}
	if p.VisibilityTimeout > 0 && p.BatchWindow+time.Second >= p.VisibilityTimeout {
		problems = append(problems, fmt.Sprintf("BatchWindow %s and a second more reach VisibilityTimeout %s", p.BatchWindow, p.VisibilityTimeout))
	}
	if p.VisibilityTimeout < 0 || p.VisibilityTimeout > maxVisibility || p.VisibilityTimeout%time.Second != 0 {
		problems = append(problems, fmt.Sprintf("VisibilityTimeout %s is not whole seconds within 0..%s", p.VisibilityTimeout, maxVisibility))
	}
	if len(problems) > 0 {
		return fmt.Errorf("sqspoller: %s", strings.Join(problems, "; "))
	}
	return nil
}

func (p *Poller) batchSize() int {
	if p.BatchSize == 0 {
		return maxBatchSize
	}
	return p.BatchSize
}

func (p *Poller) receiveInput() *sqs.ReceiveMessageInput {
	batch, wait := p.batchSize(), p.WaitTime
	if wait == 0 {
		wait = maxWaitTime
	}
	in := &sqs.ReceiveMessageInput{
		QueueUrl:                    aws.String(p.QueueURL),
		MaxNumberOfMessages:         int32(batch),
		WaitTimeSeconds:             int32(wait / time.Second),
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll},
		MessageAttributeNames:       []string{"All"},
	}
	if p.VisibilityTimeout > 0 {
		in.VisibilityTimeout = int32(p.VisibilityTimeout / time.Second)
	}
	return in
}

func (p *Poller) lookupARN(ctx context.Context) (string, error) {
	out, err := p.Client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl:       aws.String(p.QueueURL),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameQueueArn},
	})
	if err != nil {
		return "", fmt.Errorf("sqspoller: look up the ARN of %s: %w", p.QueueURL, err)
	}
	arn := out.Attributes[string(types.QueueAttributeNameQueueArn)]
	if arn == "" {
		return "", fmt.Errorf("sqspoller: queue %s reported no ARN", p.QueueURL)
	}
	return arn, nil
}

// handle runs the handler on one batch and deletes what succeeded: everything
// when it reports no failures, nothing when it returns an error, and all but
// the reported ones otherwise. Like Lambda, a response naming a message that
// is not in the batch (or naming none) counts as a failure of the whole batch.
func (p *Poller) handle(ctx context.Context, log *slog.Logger, batch events.SQSEvent) {
	resp, err := p.Handler(ctx, batch)
	if err != nil {
		log.ErrorContext(ctx, "handler failed; the whole batch will be redelivered", "messages", len(batch.Records), "error", err)
		return
	}
	inBatch := make(map[string]bool, len(batch.Records))
	for _, m := range batch.Records {
		inBatch[m.MessageId] = true
	}
	failed := make(map[string]bool, len(resp.BatchItemFailures))
	for _, f := range resp.BatchItemFailures {
		if !inBatch[f.ItemIdentifier] {
			log.ErrorContext(ctx, "handler reported a message that is not in the batch; the whole batch will be redelivered",
				"item_identifier", f.ItemIdentifier)
			return
		}
		failed[f.ItemIdentifier] = true
	}
	var entries []types.DeleteMessageBatchRequestEntry
	for i, m := range batch.Records {
		if !failed[m.MessageId] {
			entries = append(entries, types.DeleteMessageBatchRequestEntry{
				Id:            aws.String(fmt.Sprintf("m%d", i)), // entry ids must be unique and short; message ids are only unique
				ReceiptHandle: aws.String(m.ReceiptHandle),
			})
		}
	}
	if len(failed) > 0 {
		log.WarnContext(ctx, "messages failed; they will be redelivered after the visibility timeout", "failed", len(failed))
	}
	if len(entries) == 0 {
		return
	}
	// The handler succeeded for these: delete them even if ctx was cancelled
	// meanwhile, or they would run again.
	delCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), deleteTimeout)
	defer cancel()
	out, err := p.Client.DeleteMessageBatch(delCtx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(p.QueueURL), Entries: entries})
	if err != nil {
		log.ErrorContext(ctx, "delete failed; the messages will be redelivered", "messages", len(entries), "error", err)
		return
	}
	for _, f := range out.Failed {
		log.ErrorContext(ctx, "delete of a message failed; it will be redelivered",
			"entry", aws.ToString(f.Id), "code", aws.ToString(f.Code), "message", aws.ToString(f.Message))
	}
}

// lambdaMessage converts a received message to the record Lambda's SQS event
// source delivers for it.
func lambdaMessage(m types.Message, queueARN, region string) events.SQSMessage {
	out := events.SQSMessage{
		MessageId:              aws.ToString(m.MessageId),
		ReceiptHandle:          aws.ToString(m.ReceiptHandle),
		Body:                   aws.ToString(m.Body),
		Md5OfBody:              aws.ToString(m.MD5OfBody),
		Md5OfMessageAttributes: aws.ToString(m.MD5OfMessageAttributes),
		Attributes:             make(map[string]string, len(m.Attributes)),
		MessageAttributes:      make(map[string]events.SQSMessageAttribute, len(m.MessageAttributes)),
		EventSourceARN:         queueARN,
		EventSource:            eventSourceName,
		AWSRegion:              region,
	}
	for k, v := range m.Attributes {
		out.Attributes[k] = v
	}
	for k, v := range m.MessageAttributes {
		attr := events.SQSMessageAttribute{
			StringValue:      v.StringValue,
			BinaryValue:      v.BinaryValue,
			StringListValues: v.StringListValues,
			BinaryListValues: v.BinaryListValues,
			DataType:         aws.ToString(v.DataType),
		}
		// Lambda sends empty lists, not null.
		if attr.StringListValues == nil {
			attr.StringListValues = []string{}
		}
		if attr.BinaryListValues == nil {
			attr.BinaryListValues = [][]byte{}
		}
		out.MessageAttributes[k] = attr
	}
	return out
}

// regionOf takes the region out of arn:aws:sqs:<region>:<account>:<name>.
func regionOf(arn string) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) < 6 {
		return ""
	}
	return parts[3]
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
