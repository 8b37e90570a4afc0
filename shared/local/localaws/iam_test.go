package localaws_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"

	"github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/shared/local/localaws"
	"github.com/upvest-webhooks/upvest-webhooks/shared/local/localaws/awstest"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/permissions"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/schema"
)

// A function's clients in the local run do what the stack grants it and get
// IAM's AccessDeniedException for anything else, on DynamoDB Local and the SQS server.
func TestPolicyRefusesWhatIsNotGranted(t *testing.T) {
	t.Parallel()
	env := awstest.Env(t)
	ctx := context.Background()
	worker := localaws.PolicyFor(permissions.Worker, env.Resources, events.Orders)
	db := worker.DynamoDB(env.DynamoDB)
	queues := worker.SQS(env.SQS)
	key := func(name, v string) map[string]ddbtypes.AttributeValue {
		return map[string]ddbtypes.AttributeValue{name: &ddbtypes.AttributeValueMemberS{Value: v}}
	}
	update := func(table, pk string) error {
		_, err := db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(table), Key: key(pk, "policy-test"),
			UpdateExpression: aws.String("SET #v = :v"), ExpressionAttributeNames: map[string]string{"#v": "v"},
			ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":v": &ddbtypes.AttributeValueMemberS{Value: "x"}}})
		return err
	}
	get := func(table, pk string) error {
		_, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: key(pk, "policy-test")})
		return err
	}
	send := func(url string) error {
		_, err := queues.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(url),
			Entries: []sqstypes.SendMessageBatchRequestEntry{{Id: aws.String("1"), MessageBody: aws.String("{}")}}})
		return err
	}
	for _, c := range []struct {
		name    string
		call    func() error
		allowed bool
	}{
		{"update its own state table", func() error { return update(env.StateTables[events.Orders], schema.StatePK) }, true},
		{"read and update the ledger", func() error {
			if err := update(env.LedgerTable, schema.LedgerPK); err != nil {
				return err
			}
			return get(env.LedgerTable, schema.LedgerPK)
		}, true},
		{"read its own state table", func() error { return get(env.StateTables[events.Orders], schema.StatePK) }, false},
		{"update another domain's state table", func() error { return update(env.StateTables[events.Accounts], schema.StatePK) }, false},
		{"send to a queue", func() error { return send(env.QueueURLs[events.Orders]) }, false},
	} {
		err := c.call()
		var api smithy.APIError
		switch {
		case c.allowed && err != nil:
			t.Errorf("%s: %v, want it allowed", c.name, err)
		case !c.allowed && (!errors.As(err, &api) || api.ErrorCode() != "AccessDeniedException"):
			t.Errorf("%s: %v, want AccessDeniedException", c.name, err)
		}
	}

	// Ingest sends batches: IAM authorises SendMessageBatch by sqs:SendMessage.
	ingest := localaws.PolicyFor(permissions.Ingest, env.Resources, "")
	_, err := ingest.SQS(env.SQS).SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(env.QueueURLs[events.Orders]),
		Entries: []sqstypes.SendMessageBatchRequestEntry{{Id: aws.String("1"), MessageBody: aws.String("{}")}}})
	if err != nil {
		t.Fatalf("ingest's batch send: %v", err)
	}
	_, err = ingest.SQS(env.SQS).ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(env.QueueURLs[events.Orders])})
	if err == nil || !strings.Contains(err.Error(), "not authorized to perform: sqs:ReceiveMessage") {
		t.Fatalf("ingest receiving: %v, want it refused, naming the action", err)
	}
}
