package awstest

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	streamtypes "github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/upvest-webhooks/upvest-webhooks/shared/localaws"
)

// ReceiveAll receives from the queue until it has seen at least wantAtLeast
// distinct messages and the queue has nothing more visible, and returns them
// (message and system attributes included). It deletes nothing: the messages
// become visible again after the queue's visibility timeout. A message
// redelivered meanwhile is returned once. The test fails if fewer than
// wantAtLeast arrive within timeout.
func ReceiveAll(t testing.TB, client *sqs.Client, queueURL string, wantAtLeast int, timeout time.Duration) []sqstypes.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	seen := map[string]bool{}
	var out []sqstypes.Message
	for {
		var wait int32 // once enough arrived, only collect what is already there
		if len(out) < wantAtLeast {
			wait = 1
		}
		got, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl:                    aws.String(queueURL),
			MaxNumberOfMessages:         10,
			WaitTimeSeconds:             wait,
			MessageAttributeNames:       []string{"All"},
			MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameAll},
		})
		if err != nil {
			if ctx.Err() != nil {
				t.Fatalf("receive from %s: got %d messages within %v, want at least %d", queueURL, len(out), timeout, wantAtLeast)
			}
			t.Fatalf("receive from %s: %v", queueURL, err)
		}
		for _, m := range got.Messages {
			if id := aws.ToString(m.MessageId); !seen[id] {
				seen[id] = true
				out = append(out, m)
			}
		}
		if len(got.Messages) == 0 && len(out) >= wantAtLeast {
			return out
		}
	}
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
