package ingest_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	upvest "github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/shared/local/localaws"
	"github.com/upvest-webhooks/upvest-webhooks/shared/local/localaws/awstest"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/fanout"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/ledger"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/message"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/permissions"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/schema"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/state"
)

// The catalogue again, on DynamoDB Local and the SQS server: the real ledger
// and publisher. Cases take a set of tables from a small pool and empty it
// when done, since provisioning tables per case would take minutes; each case
// gets queues of its own (cheap), so no case can see another's messages.
func TestCatalogueOnLocalServers(t *testing.T) {
	t.Parallel()
	awstest.RequireServers(t)
	const sets = 4
	pool := make(chan awstest.Environment, sets)
	for range sets {
		pool <- awstest.Env(t)
	}
	runCatalogue(t, func(t *testing.T, k keys, c entry) stack {
		env := <-pool
		t.Cleanup(func() {
			empty(t, env)
			pool <- env
		})
		// The case reads its queues without deleting; a message it holds comes
		// back after the visibility timeout and is read once. A batch whose
		// receive's answer broke off stays in flight (see the README's
		// performance notes): it comes back the same way, not after minutes.
		env.QueueURLs, env.DLQURLs = awstest.Queues(t, awstest.WithVisibilityTimeout(20*time.Second))
		return localStack(t, env, k, c)
	})
}

// empty deletes every ledger and state item of env.
func empty(t *testing.T, env awstest.Environment) {
	for _, key := range ledgerKeys(t, env, true) {
		_, err := env.DynamoDB.DeleteItem(context.Background(), &dynamodb.DeleteItemInput{
			TableName: aws.String(env.LedgerTable), Key: map[string]types.AttributeValue{schema.LedgerPK: &types.AttributeValueMemberS{Value: key}},
		})
		if err != nil {
			t.Fatalf("empty the ledger: %v", err)
		}
	}
	for _, table := range env.StateTables {
		for _, pk := range scanKeys(t, env, table, schema.StatePK) {
			_, err := env.DynamoDB.DeleteItem(context.Background(), &dynamodb.DeleteItemInput{
				TableName: aws.String(table), Key: map[string]types.AttributeValue{schema.StatePK: &types.AttributeValueMemberS{Value: pk}},
			})
			if err != nil {
				t.Fatalf("empty a state table: %v", err)
			}
		}
	}
}

// scanKeys lists the partition keys of a table.
func scanKeys(t *testing.T, env awstest.Environment, table, pkName string) []string {
	t.Helper()
	var keys []string
	p := dynamodb.NewScanPaginator(env.DynamoDB, &dynamodb.ScanInput{
		TableName: aws.String(table), ProjectionExpression: aws.String("#pk"), ConsistentRead: aws.Bool(true),
		ExpressionAttributeNames: map[string]string{"#pk": pkName},
	})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatalf("scan %s: %v", table, err)
		}
		for _, it := range page.Items {
			var key string
			if err := attributevalue.Unmarshal(it[pkName], &key); err != nil {
				t.Fatal(err)
			}
			keys = append(keys, key)
		}
	}
	return keys
}

func localStack(t *testing.T, env awstest.Environment, k keys, c entry) stack {
	// Ingest may do only what the stack grants it.
	granted := localaws.PolicyFor(permissions.Ingest, env.Resources, "")
	db := &failingDynamo{DynamoAPI: granted.DynamoDB(env.DynamoDB), fail: c.fault == ledgerDown}
	queue := &failingSQS{SQSAPI: granted.SQS(env.SQS), fail: c.fault == queuesDown}
	l := ledger.NewDynamo(db, env.LedgerTable, ledger.WithRetention(24*time.Hour))
	reader := ledger.NewDynamo(env.DynamoDB, env.LedgerTable)
	return stack{
		handler: newHandler(t, k, c, l, fanout.NewSQS(queue, env.QueueURLs)),
		records: func(t *testing.T) map[string]ledger.Stored {
			out := map[string]ledger.Stored{}
			for _, key := range ledgerKeys(t, env, false) {
				s, err := reader.Read(context.Background(), key)
				if err != nil {
					t.Fatal(err)
				}
				out[key] = s
			}
			return out
		},
		queued: func(t *testing.T, want queues) map[upvest.Domain][]fanout.Message {
			out := map[upvest.Domain][]fanout.Message{}
			for _, d := range upvest.Domains() {
				for _, m := range awstest.ReceiveAll(t, env.SQS, env.QueueURLs[d], len(want[d]), time.Minute) {
					attr := func(name string) string {
						if v, ok := m.MessageAttributes[name]; ok {
							return aws.ToString(v.StringValue)
						}
						return ""
					}
					decoded, err := message.Decode(aws.ToString(m.Body), attr)
					if err != nil {
						t.Fatalf("%s message: %v", d, err)
					}
					if decoded.InLedger {
						if decoded.Raw, err = reader.RawEvent(context.Background(), decoded.LedgerEvent); err != nil {
							t.Fatalf("claim check %s: %v", decoded.LedgerEvent, err)
						}
					}
					out[d] = append(out[d], fanout.Message{EventID: attr(message.AttrEventID), Domain: d, Raw: decoded.Raw})
				}
			}
			return out
		},
		work: func(t *testing.T, msgs map[upvest.Domain][]fanout.Message) {
			runWorkers(t, reader, func(d upvest.Domain) state.Store { return state.NewDynamo(env.DynamoDB, env.StateTables[d]) }, msgs)
		},
		rows: func(t *testing.T) map[string]state.Row {
			out := map[string]state.Row{}
			for _, d := range upvest.Domains() {
				for _, pk := range scanKeys(t, env, env.StateTables[d], schema.StatePK) {
					var r state.Row
					item := awstest.GetItem(t, env.DynamoDB, env.StateTables[d], schema.StatePK, pk)
					if err := attributevalue.UnmarshalMap(item, &r); err != nil {
						t.Fatal(err)
					}
					out[pk] = r
				}
			}
			return out
		},
	}
}

// ledgerKeys lists the ledger's records, and the part items that hold the
// rest of a large body when parts is set.
func ledgerKeys(t *testing.T, env awstest.Environment, parts bool) []string {
	t.Helper()
	var keys []string
	p := dynamodb.NewScanPaginator(env.DynamoDB, &dynamodb.ScanInput{
		TableName: aws.String(env.LedgerTable), ProjectionExpression: aws.String(schema.LedgerPK), ConsistentRead: aws.Bool(true),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatalf("scan ledger: %v", err)
		}
		for _, it := range page.Items {
			var key string
			if err := attributevalue.Unmarshal(it[schema.LedgerPK], &key); err != nil {
				t.Fatal(err)
			}
			if parts || !strings.Contains(key, "#body:") {
				keys = append(keys, key)
			}
		}
	}
	return keys
}

// failingDynamo fails every ledger write while fail is set, as DynamoDB does
// when it throttles or is down.
type failingDynamo struct {
	ledger.DynamoAPI
	fail bool
}

func (f *failingDynamo) PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	if f.fail {
		return nil, errors.New("injected: DynamoDB unavailable")
	}
	return f.DynamoAPI.PutItem(ctx, in, opts...)
}

// failingSQS fails every send while fail is set.
type failingSQS struct {
	fanout.SQSAPI
	fail bool
}

func (f *failingSQS) SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, opts ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error) {
	if f.fail {
		return nil, errors.New("injected: SQS unavailable")
	}
	return f.SQSAPI.SendMessageBatch(ctx, in, opts...)
}
