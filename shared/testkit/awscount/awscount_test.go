package awscount_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/shared/local/localaws/awstest"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/schema"
	"github.com/upvest-webhooks/upvest-webhooks/shared/testkit/awscount"
)

func s(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }

// A state row with two index keys: DynamoDB Local reports the table's write
// and one per index entry; a failed conditional write is estimated.
func TestCountsRequestsAndWriteUnitsIncludingIndexes(t *testing.T) {
	t.Parallel()
	env := awstest.Env(t)
	counter := awscount.New()
	cfg := counter.Attach(env.Config)
	db := dynamodb.NewFromConfig(cfg)
	ctx := context.Background()
	table := env.StateTables[events.Orders]
	item := map[string]types.AttributeValue{
		schema.StatePK: s("order#1"), schema.StateUserID: s("u1"), schema.StateAccountID: s("a1"),
		schema.StateOrderedAt: s("2024-01-01T00:00:00Z"),
	}
	put := &dynamodb.PutItemInput{TableName: aws.String(table), Item: item,
		ConditionExpression: aws.String("attribute_not_exists(pk)")}
	if _, err := db.PutItem(ctx, put); err != nil {
		t.Fatal(err)
	}
	if put.ReturnConsumedCapacity != types.ReturnConsumedCapacityIndexes {
		t.Errorf("middleware did not ask for index capacity: %q", put.ReturnConsumedCapacity)
	}
	afterPut := counter.Snapshot()
	if afterPut.Calls["DynamoDB.PutItem"] != 1 || afterPut.Requests("DynamoDB") != 1 {
		t.Fatalf("calls = %v", afterPut.Calls)
	}
	if afterPut.WriteUnits() != 3 || afterPut.IndexWriteUnits() != 2 {
		t.Errorf("put of a row with two index keys: %.1f WCU (%.1f to indexes), want 3 (2)", afterPut.WriteUnits(), afterPut.IndexWriteUnits())
	}

	_, err := db.PutItem(ctx, put)
	var failed *types.ConditionalCheckFailedException
	if !errors.As(err, &failed) {
		t.Fatalf("second put: %v, want a conditional check failure", err)
	}
	afterFailure := counter.Snapshot()
	if got := afterFailure.WriteUnits() - afterPut.WriteUnits(); got != 1 {
		t.Errorf("failed conditional put of a small item: %.1f WCU, want 1", got)
	}
	if got := afterFailure.TableWCU[table]; got != 4 {
		t.Errorf("write units of %s: %.1f, want 4", table, got)
	}

	if _, err := sqs.NewFromConfig(cfg).GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(env.Names.Queue(events.Orders))}); err != nil {
		t.Fatal(err)
	}
	snap := counter.Snapshot()
	if snap.Requests("SQS") != 1 || snap.Requests("") != 3 {
		t.Errorf("calls = %v", snap.Calls)
	}
	if !strings.Contains(snap.String(), "DynamoDB.PutItem 2") {
		t.Errorf("listing:\n%s", snap)
	}
}

func TestItemSize(t *testing.T) {
	item := map[string]types.AttributeValue{
		"ab": s("xyz"),                                   // 2 + 3
		"n":  &types.AttributeValueMemberN{Value: "123"}, // 1 + 3
		"b":  &types.AttributeValueMemberB{Value: []byte{1, 2}},
		"m":  &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{"k": s("v")}}, // 1 + 3 + 1 + 2
	}
	if got, want := awscount.ItemSize(item), 5+4+3+7; got != want {
		t.Errorf("ItemSize = %d, want %d", got, want)
	}
}
