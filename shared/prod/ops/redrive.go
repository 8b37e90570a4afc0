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

	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/fanout"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/longrun"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/message"
)

// RedriveResult is what a redrive did.
type RedriveResult struct {
	Moved    []string // event ids of the messages moved back, in order
	CameBack int      // messages this redrive had moved that failed into the DLQ again; left there
}

// Redrive moves every message of a dead-letter queue back to its queue, with
// the same body and attributes: receive, send, then delete. A crash between
// send and delete leaves a message in both queues, which is harmless: workers
// are idempotent. A message this redrive moved and that fails into the DLQ
// again while it runs is left there, so a redrive always ends. max bounds the
// messages moved (0: no bound).
func Redrive(ctx context.Context, q QueueAPI, dlqURL, queueURL string, max int) (res RedriveResult, err error) {
	return RedriveShowing(ctx, q, dlqURL, queueURL, max, nil)
}

// RedriveShowing is Redrive with its progress shown on p (nil: silent):
// dead letters received against the DLQ's approximate count, events moved.
func RedriveShowing(ctx context.Context, q QueueAPI, dlqURL, queueURL string, max int, p *longrun.Progress) (res RedriveResult, err error) {
	if p != nil {
		total := 0
		if attrs, err := q.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
			QueueUrl: aws.String(dlqURL), AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameApproximateNumberOfMessages},
		}); err == nil {
			total, _ = strconv.Atoi(attrs.Attributes[string(types.QueueAttributeNameApproximateNumberOfMessages)])
		}
		if max > 0 {
			total = min(total, max)
		}
		p.Start(int64(total), 0)
		defer p.Done()
	}
	sent := map[string]bool{}              // message ids of what this redrive sent; SQS keeps them into the DLQ
	cameBack := map[string]types.Message{} // of those, the ones received back from the DLQ, by message id
	defer func() {
		held := make([]types.Message, 0, len(cameBack))
		for _, m := range cameBack {
			held = append(held, m)
		}
		if rerr := release(context.WithoutCancel(ctx), q, dlqURL, held); rerr != nil {
			err = errors.Join(err, rerr)
		}
	}()
	for max == 0 || len(res.Moved) < max {
		want := 10
		if max > 0 {
			want = min(want, max-len(res.Moved))
		}
		out, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl:                    aws.String(dlqURL),
			MaxNumberOfMessages:         int32(want),
			VisibilityTimeout:           int32(hold / time.Second),
			WaitTimeSeconds:             1, // long polling: an empty answer means an empty queue
			MessageAttributeNames:       []string{"All"},
			MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAWSTraceHeader},
		})
		if err != nil {
			return res, fmt.Errorf("receive from dead-letter queue %s: %w", dlqURL, err)
		}
		var batch []types.Message
		again := 0 // came back and already held once: their hold ran out, the redrive has gone round
		for _, m := range out.Messages {
			id := aws.ToString(m.MessageId)
			if !sent[id] {
				batch = append(batch, m)
				continue
			}
			if _, ok := cameBack[id]; ok {
				again++
			}
			cameBack[id] = m // the newest receipt handle is the one that releases it
		}
		res.CameBack = len(cameBack)
		// A receive of only messages that came back does not mean the DLQ is
		// done: those are held now, and the next receive sees the others.
		if len(batch) == 0 && (len(out.Messages) == 0 || again == len(out.Messages)) {
			return res, nil
		}
		for _, part := range bySize(batch) {
			moved, err := move(ctx, q, dlqURL, queueURL, part, sent)
			res.Moved = append(res.Moved, moved...)
			p.Add(len(part), len(moved))
			if err != nil {
				return res, err // the rest stay in the DLQ and reappear after the hold
			}
		}
	}
	return res, nil
}

// bySize cuts messages into batches SendMessageBatch takes: ten messages of
// up to 200 KiB each can be far over its 256 KiB.
func bySize(msgs []types.Message) [][]types.Message {
	var out [][]types.Message
	var cur []types.Message
	bytes := 0
	for _, m := range msgs {
		size := fanout.PayloadSize(aws.ToString(m.Body), m.MessageAttributes)
		if len(cur) > 0 && bytes+size > fanout.MaxBatchBytes {
			out = append(out, cur)
			cur, bytes = nil, 0
		}
		cur = append(cur, m)
		bytes += size
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// move sends a batch to the queue and deletes from the dead-letter queue what
// was sent. It returns the event ids moved.
func move(ctx context.Context, q QueueAPI, dlqURL, queueURL string, batch []types.Message, sent map[string]bool) ([]string, error) {
	entries := make([]types.SendMessageBatchRequestEntry, len(batch))
	for i, m := range batch {
		entries[i] = types.SendMessageBatchRequestEntry{
			Id: aws.String(strconv.Itoa(i)), MessageBody: m.Body, MessageAttributes: m.MessageAttributes,
		}
		// The X-Ray trace header is the one system attribute a sender may set.
		if h, ok := m.Attributes[string(types.MessageSystemAttributeNameAWSTraceHeader)]; ok {
			entries[i].MessageSystemAttributes = map[string]types.MessageSystemAttributeValue{
				string(types.MessageSystemAttributeNameForSendsAWSTraceHeader): {DataType: aws.String("String"), StringValue: aws.String(h)},
			}
		}
	}
	out, err := q.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(queueURL), Entries: entries})
	if err != nil {
		// Nothing was deleted: the messages stay in the DLQ and reappear after the hold.
		return nil, fmt.Errorf("send %d messages to queue %s (they stay in the DLQ): %w", len(batch), queueURL, err)
	}
	var errs []error
	var unsent []types.Message
	for _, f := range out.Failed {
		i, _ := strconv.Atoi(aws.ToString(f.Id))
		unsent = append(unsent, batch[i])
		errs = append(errs, fmt.Errorf("send %s to queue %s: %s (it stays in the DLQ)", eventOf(batch[i]), queueURL, aws.ToString(f.Message)))
	}
	if len(unsent) > 0 {
		errs = append(errs, release(ctx, q, dlqURL, unsent))
	}
	var dels []types.DeleteMessageBatchRequestEntry
	var moved []string
	for _, ok := range out.Successful {
		i, _ := strconv.Atoi(aws.ToString(ok.Id))
		sent[aws.ToString(ok.MessageId)] = true
		moved = append(moved, eventOf(batch[i]))
		dels = append(dels, types.DeleteMessageBatchRequestEntry{Id: ok.Id, ReceiptHandle: batch[i].ReceiptHandle})
	}
	if len(dels) > 0 {
		del, err := q.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(dlqURL), Entries: dels})
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("delete %d redriven messages from %s (they are in both queues; harmless, workers are idempotent): %w", len(dels), dlqURL, err))
		case len(del.Failed) > 0:
			errs = append(errs, fmt.Errorf("delete %d redriven messages from %s (they are in both queues; harmless, workers are idempotent): %s",
				len(del.Failed), dlqURL, aws.ToString(del.Failed[0].Message)))
		}
	}
	return moved, errors.Join(errs...)
}

// eventOf names a message by its event id, or its message id when it has none.
func eventOf(m types.Message) string {
	if id := attrString(m, message.AttrEventID); id != "" {
		return id
	}
	return "message " + aws.ToString(m.MessageId)
}
