package ops_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"

	"github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/shared/local/localaws/awstest"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/fanout"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/longrun"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/message"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/ops"
)

// batchLimitSQS refuses a SendMessageBatch over 256 KiB of payload, as SQS
// does (the local SQS server does not).
type batchLimitSQS struct {
	ops.QueueAPI
}

func (q batchLimitSQS) SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, opts ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error) {
	total := 0
	for _, e := range in.Entries {
		total += fanout.PayloadSize(aws.ToString(e.MessageBody), e.MessageAttributes)
	}
	if total > fanout.MaxBatchBytes {
		return nil, &smithy.GenericAPIError{Code: "AWS.SimpleQueueService.BatchRequestTooLong", Message: "batch requests cannot be longer than 262144 bytes"}
	}
	return q.QueueAPI.SendMessageBatch(ctx, in, opts...)
}

// Dead letters of up to 200 KiB each (the largest message fan-out sends)
// are redriven in batches SQS accepts.
func TestRedriveMovesLargeMessagesInBatchesSQSTakes(t *testing.T) {
	t.Parallel()
	env := awstest.Env(t)
	ctx := context.Background()
	dlq, queue := env.DLQURLs[events.Payments], env.QueueURLs[events.Payments]
	const n = 4
	for i := range n {
		_, err := env.SQS.SendMessage(ctx, &sqs.SendMessageInput{
			QueueUrl: aws.String(dlq), MessageBody: aws.String(strings.Repeat(string(rune('a'+i)), 150*1024)),
			MessageAttributes: map[string]sqstypes.MessageAttributeValue{
				message.AttrEventID: {DataType: aws.String("String"), StringValue: aws.String("large-" + string(rune('a'+i)))},
			},
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	res, err := ops.Redrive(ctx, batchLimitSQS{QueueAPI: env.SQS}, dlq, queue, 0)
	if err != nil || len(res.Moved) != n {
		t.Fatalf("redrive: moved %v, %v; want all %d", res.Moved, err, n)
	}
	if left := awstest.DrainCount(t, env.SQS, dlq); left != 0 {
		t.Errorf("%d messages left in the DLQ", left)
	}
}

// cameBackFirst answers the second receive from the DLQ with only messages
// the redrive had moved and that failed back into the DLQ (SQS keeps their
// message ids), as SQS may when many came back: a receive samples the queue.
type cameBackFirst struct {
	ops.QueueAPI
	dlq      string
	mu       sync.Mutex
	receives int
	sent     []string // message ids the redrive's sends got
}

func (q *cameBackFirst) SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, opts ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error) {
	out, err := q.QueueAPI.SendMessageBatch(ctx, in, opts...)
	if err == nil {
		q.mu.Lock()
		for _, ok := range out.Successful {
			q.sent = append(q.sent, aws.ToString(ok.MessageId))
		}
		q.mu.Unlock()
	}
	return out, err
}

func (q *cameBackFirst) ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, opts ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error) {
	q.mu.Lock()
	if aws.ToString(in.QueueUrl) == q.dlq {
		q.receives++
	}
	if q.receives == 2 && len(q.sent) > 0 && aws.ToString(in.QueueUrl) == q.dlq {
		out := &sqs.ReceiveMessageOutput{}
		for _, id := range q.sent {
			out.Messages = append(out.Messages, sqstypes.Message{MessageId: aws.String(id), ReceiptHandle: aws.String("came-back-" + id), Body: aws.String("x")})
		}
		q.mu.Unlock()
		return out, nil
	}
	q.mu.Unlock()
	return q.QueueAPI.ReceiveMessage(ctx, in, opts...)
}

func (q *cameBackFirst) ChangeMessageVisibilityBatch(ctx context.Context, in *sqs.ChangeMessageVisibilityBatchInput, opts ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityBatchOutput, error) {
	var real []sqstypes.ChangeMessageVisibilityBatchRequestEntry
	for _, e := range in.Entries {
		if !strings.HasPrefix(aws.ToString(e.ReceiptHandle), "came-back-") {
			real = append(real, e)
		}
	}
	if len(real) == 0 {
		return &sqs.ChangeMessageVisibilityBatchOutput{}, nil
	}
	in.Entries = real
	return q.QueueAPI.ChangeMessageVisibilityBatch(ctx, in, opts...)
}

// A receive that returns only messages which came back into the DLQ during
// the redrive does not end it: the dead letters not yet moved are moved too.
func TestRedriveMovesEveryDeadLetterWhenAReceiveHoldsOnlyOnesThatCameBack(t *testing.T) {
	t.Parallel()
	env := awstest.Env(t)
	ctx := context.Background()
	dlq, queue := env.DLQURLs[events.Payments], env.QueueURLs[events.Payments]
	const n = 15
	deadLetters(t, env, dlq, n)
	res, err := ops.Redrive(ctx, &cameBackFirst{QueueAPI: env.SQS, dlq: dlq}, dlq, queue, 0)
	if err != nil || len(res.Moved) != n || res.CameBack != 10 {
		t.Fatalf("redrive: moved %d %v, came back %d, %v; want all %d moved and the 10 that came back left", len(res.Moved), res.Moved, res.CameBack, err, n)
	}
	if left := awstest.DrainCount(t, env.SQS, dlq); left != 0 {
		t.Errorf("%d dead letters never moved", left)
	}
}

// A long redrive shows its progress: dead letters received against the
// DLQ's count, and the events moved.
func TestRedriveShowsItsProgress(t *testing.T) {
	t.Parallel()
	env := awstest.Env(t)
	ctx := context.Background()
	dlq, queue := env.DLQURLs[events.Transfers], env.QueueURLs[events.Transfers]
	deadLetters(t, env, dlq, 3)
	var out strings.Builder
	p := &longrun.Progress{W: &out, Every: time.Hour, Label: "redrive transfers", Items: "dead letters received"}
	if res, err := ops.RedriveShowing(ctx, env.SQS, dlq, queue, 0, p); err != nil || len(res.Moved) != 3 {
		t.Fatalf("redrive: %+v, %v", res, err)
	}
	if !strings.HasPrefix(out.String(), "redrive transfers: 3/~3 dead letters received, 3 events, ") || !strings.Contains(out.String(), "ETA 0s") {
		t.Errorf("progress %q", out.String())
	}
}

// deadLetters puts n messages, event ids dead-0 to dead-<n-1>, into a DLQ.
func deadLetters(t *testing.T, env awstest.Environment, dlq string, n int) {
	t.Helper()
	for i := range n {
		_, err := env.SQS.SendMessage(context.Background(), &sqs.SendMessageInput{
			QueueUrl: aws.String(dlq), MessageBody: aws.String("body"),
			MessageAttributes: map[string]sqstypes.MessageAttributeValue{
				message.AttrEventID: {DataType: aws.String("String"), StringValue: aws.String(fmt.Sprintf("dead-%d", i))},
			},
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}
