package ops

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/message"
)

// QueueAPI is the part of the SQS client that peeking and redriving use.
type QueueAPI interface {
	ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, opts ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	ChangeMessageVisibilityBatch(ctx context.Context, in *sqs.ChangeMessageVisibilityBatchInput, opts ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityBatchOutput, error)
	GetQueueAttributes(ctx context.Context, in *sqs.GetQueueAttributesInput, opts ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error)
	SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, opts ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error)
	DeleteMessageBatch(ctx context.Context, in *sqs.DeleteMessageBatchInput, opts ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error)
}

// hold is how long a peek or a redrive keeps the messages it received
// invisible: long enough to finish, short enough that a crash releases them soon.
const hold = 60 * time.Second

// Sighting is what a peek at one queue found about one event.
type Sighting struct {
	Found        bool
	Looked       int    // messages looked at
	Visible      int    // ApproximateNumberOfMessages when the peek began
	InFlight     int    // ApproximateNumberOfMessagesNotVisible when the peek began
	ReceiveCount int    // the message's ApproximateReceiveCount, this peek's receive included
	SentAt       string // when the message was sent (RFC 3339, UTC)
}

// peek looks through up to max visible messages of a queue for one carrying
// eventID. It receives them (hiding them) and then makes them visible again at
// once, so nothing is consumed; but each receive counts toward the queue's
// maxReceiveCount, and messages in flight at a worker are not seen.
func peek(ctx context.Context, q QueueAPI, queueURL, eventID string, max int) (s Sighting, err error) {
	attrs, err := q.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(queueURL),
		AttributeNames: []types.QueueAttributeName{
			types.QueueAttributeNameApproximateNumberOfMessages, types.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
		},
	})
	if err != nil {
		return Sighting{}, fmt.Errorf("read attributes of queue %s: %w", queueURL, err)
	}
	s.Visible, _ = strconv.Atoi(attrs.Attributes[string(types.QueueAttributeNameApproximateNumberOfMessages)])
	s.InFlight, _ = strconv.Atoi(attrs.Attributes[string(types.QueueAttributeNameApproximateNumberOfMessagesNotVisible)])

	var held []types.Message
	defer func() {
		// Even when the peek was cancelled: a held message must not wait out its hold.
		if rerr := release(context.WithoutCancel(ctx), q, queueURL, held); rerr != nil {
			err = errors.Join(err, rerr)
		}
	}()
	for s.Looked < max && !s.Found {
		out, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl:              aws.String(queueURL),
			MaxNumberOfMessages:   int32(min(10, max-s.Looked)),
			VisibilityTimeout:     int32(hold / time.Second),
			WaitTimeSeconds:       1, // long polling asks every server: an empty answer means empty
			MessageAttributeNames: []string{message.AttrEventID},
			MessageSystemAttributeNames: []types.MessageSystemAttributeName{
				types.MessageSystemAttributeNameApproximateReceiveCount, types.MessageSystemAttributeNameSentTimestamp,
			},
		})
		if err != nil {
			return s, fmt.Errorf("peek into queue %s: %w", queueURL, err)
		}
		if len(out.Messages) == 0 {
			break
		}
		held = append(held, out.Messages...)
		for _, m := range out.Messages {
			s.Looked++
			if attrString(m, message.AttrEventID) != eventID {
				continue
			}
			s.Found = true
			s.ReceiveCount, _ = strconv.Atoi(m.Attributes[string(types.MessageSystemAttributeNameApproximateReceiveCount)])
			if ms, err := strconv.ParseInt(m.Attributes[string(types.MessageSystemAttributeNameSentTimestamp)], 10, 64); err == nil {
				s.SentAt = time.UnixMilli(ms).UTC().Format(time.RFC3339)
			}
		}
	}
	return s, nil
}

// release makes received messages visible again at once.
func release(ctx context.Context, q QueueAPI, queueURL string, msgs []types.Message) error {
	var errs []error
	for start := 0; start < len(msgs); start += 10 {
		batch := msgs[start:min(start+10, len(msgs))]
		entries := make([]types.ChangeMessageVisibilityBatchRequestEntry, len(batch))
		for i, m := range batch {
			entries[i] = types.ChangeMessageVisibilityBatchRequestEntry{
				Id: aws.String(strconv.Itoa(i)), ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 0,
			}
		}
		out, err := q.ChangeMessageVisibilityBatch(ctx, &sqs.ChangeMessageVisibilityBatchInput{QueueUrl: aws.String(queueURL), Entries: entries})
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("make %d messages of %s visible again (they will be after %v): %w", len(batch), queueURL, hold, err))
		case len(out.Failed) > 0:
			errs = append(errs, fmt.Errorf("make %d messages of %s visible again (they will be after %v): %s",
				len(out.Failed), queueURL, hold, aws.ToString(out.Failed[0].Message)))
		}
	}
	return errors.Join(errs...)
}

func attrString(m types.Message, name string) string {
	if v, ok := m.MessageAttributes[name]; ok {
		return aws.ToString(v.StringValue)
	}
	return ""
}
