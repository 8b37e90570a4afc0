package awstest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	streamtypes "github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/upvest-webhooks/upvest-webhooks/shared/local/localaws"
)

// ReceiveAll receives from the queue until it has seen at least wantAtLeast
// distinct messages and then either a receive finds the queue empty or no new
// message comes for patience; it returns them (message and system attributes
// included). It deletes nothing: the messages become visible again after the
// queue's visibility timeout. A message received again meanwhile is returned
// once, with its newest receipt handle. The test fails if fewer than
// wantAtLeast arrived and no new one came for patience: on a loaded machine a
// large queue takes long to read, but it never stops yielding while it holds
// messages, so only a stall is a failure.
func ReceiveAll(t testing.TB, client *sqs.Client, queueURL string, wantAtLeast int, patience time.Duration) []sqstypes.Message {
	t.Helper()
	seen := map[string]int{} // message id → index in out
	var out []sqstypes.Message
	lastNew := time.Now()
	for {
		var wait int32 // once enough arrived, only collect what is already there
		if len(out) < wantAtLeast {
			wait = 1
		}
		ctx, cancel := context.WithDeadline(context.Background(), lastNew.Add(patience))
		got, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl:                    aws.String(queueURL),
			MaxNumberOfMessages:         10,
			WaitTimeSeconds:             wait,
			MessageAttributeNames:       []string{"All"},
			MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameAll},
		})
		stalled := ctx.Err() != nil
		cancel()
		switch {
		case stalled && len(out) >= wantAtLeast:
			return out // nothing new for patience: what is left only comes back again
		case stalled:
			t.Fatalf("receive from %s: got %d messages, want at least %d; none new for %v (queue: %s)",
				queueURL, len(out), wantAtLeast, patience, queueCounts(client, queueURL))
		case err != nil:
			t.Fatalf("receive from %s: %v", queueURL, err)
		}
		for _, m := range got.Messages {
			id := aws.ToString(m.MessageId)
			if i, ok := seen[id]; ok {
				out[i] = m // the newest receipt handle is the one that deletes it
				continue
			}
			seen[id] = len(out)
			out = append(out, m)
			lastNew = time.Now()
		}
		if len(got.Messages) == 0 && len(out) >= wantAtLeast {
			return out
		}
	}
}

// queueCounts describes what the queue holds, for a failure message: in
// flight beyond what the test itself received means a receive was lost.
func queueCounts(client *sqs.Client, queueURL string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(queueURL),
		AttributeNames: []sqstypes.QueueAttributeName{
			sqstypes.QueueAttributeNameApproximateNumberOfMessages,
			sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
			sqstypes.QueueAttributeNameApproximateNumberOfMessagesDelayed,
		},
	})
	if err != nil {
		return "attributes unavailable: " + err.Error()
	}
	a := out.Attributes
	return fmt.Sprintf("%s visible, %s in flight, %s delayed",
		a[string(sqstypes.QueueAttributeNameApproximateNumberOfMessages)],
		a[string(sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible)],
		a[string(sqstypes.QueueAttributeNameApproximateNumberOfMessagesDelayed)])
}

// DrainCount receives and deletes every visible message of the queue and
// returns how many there were. Messages in flight (received by someone and not
// yet visible again) are not counted.
func DrainCount(t testing.TB, client *sqs.Client, queueURL string) int {
	t.Helper()
	ctx := context.Background()
	n := 0
	for {
		got, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl: aws.String(queueURL), MaxNumberOfMessages: 10,
		})
		if err != nil {
			t.Fatalf("drain %s: %v", queueURL, err)
		}
		if len(got.Messages) == 0 {
			return n
		}
		entries := make([]sqstypes.DeleteMessageBatchRequestEntry, len(got.Messages))
		for i, m := range got.Messages {
			entries[i] = sqstypes.DeleteMessageBatchRequestEntry{Id: m.MessageId, ReceiptHandle: m.ReceiptHandle}
		}
		del, err := client.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(queueURL), Entries: entries})
		if err != nil {
			t.Fatalf("drain %s: delete: %v", queueURL, err)
		}
		if len(del.Failed) > 0 {
			t.Fatalf("drain %s: %d deletes failed: %s", queueURL, len(del.Failed), aws.ToString(del.Failed[0].Message))
		}
		n += len(got.Messages)
	}
}

// GetItem reads one item by its string partition key with a consistent read;
// nil means there is none.
func GetItem(t testing.TB, client *dynamodb.Client, table, pkName, pkValue string) map[string]ddbtypes.AttributeValue {
	t.Helper()
	out, err := client.GetItem(context.Background(), &dynamodb.GetItemInput{
		TableName:      aws.String(table),
		Key:            map[string]ddbtypes.AttributeValue{pkName: &ddbtypes.AttributeValueMemberS{Value: pkValue}},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		t.Fatalf("get %s=%s from %s: %v", pkName, pkValue, table, err)
	}
	return out.Item
}

// StreamRecords reads the stream from its oldest record until it holds at
// least wantAtLeast records, and returns all records read, in order within each
// shard. The test fails if fewer than wantAtLeast appear within timeout.
func StreamRecords(t testing.TB, client *dynamodbstreams.Client, streamARN string, wantAtLeast int, timeout time.Duration) []streamtypes.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for {
		records, err := localaws.ReadStream(ctx, client, streamARN)
		if err == nil && len(records) >= wantAtLeast {
			return records
		}
		if err != nil && ctx.Err() == nil {
			t.Fatalf("read stream %s: %v", streamARN, err)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("stream %s: got %d records within %v, want at least %d", streamARN, len(records), timeout, wantAtLeast)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
