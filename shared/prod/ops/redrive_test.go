package ops_test

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"

	"github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/shared/local/localaws/awstest"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/fanout"
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
