package localaws_test

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/upvest-webhooks/upvest-webhooks/shared/testkit/golden"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	streamtypes "github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/shared/local/localaws"
	"github.com/upvest-webhooks/upvest-webhooks/shared/local/localaws/awstest"
)

// tableShape is what the pipeline relies on of a table, independent of its name.
type tableShape struct {
	KeySchema   []string              `json:"key_schema"`
	Attributes  []string              `json:"attribute_definitions"`
	BillingMode string                `json:"billing_mode"`
	Stream      string                `json:"stream,omitempty"`
	TTL         string                `json:"ttl_attribute,omitempty"`
	Indexes     map[string]indexShape `json:"global_secondary_indexes,omitempty"`
}

type indexShape struct {
	KeySchema  []string `json:"key_schema"`
	Projection string   `json:"projection"`
}

func describeShape(t *testing.T, db *dynamodb.Client, table string) (tableShape, *ddbtypes.TableDescription) {
	t.Helper()
	ctx := context.Background()
	out, err := db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
	if err != nil {
		t.Fatalf("describe %s: %v", table, err)
	}
	d := out.Table
	if d.TableStatus != ddbtypes.TableStatusActive {
		t.Errorf("%s status %s, want ACTIVE", table, d.TableStatus)
	}
	s := tableShape{KeySchema: keys(d.KeySchema)}
	for _, a := range d.AttributeDefinitions {
		s.Attributes = append(s.Attributes, aws.ToString(a.AttributeName)+" "+string(a.AttributeType))
	}
	slices.Sort(s.Attributes)
	if d.BillingModeSummary != nil {
		s.BillingMode = string(d.BillingModeSummary.BillingMode)
	}
	if d.StreamSpecification != nil && aws.ToBool(d.StreamSpecification.StreamEnabled) {
		s.Stream = string(d.StreamSpecification.StreamViewType)
	}
	ttl, err := db.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(table)})
	if err != nil {
		t.Fatalf("describe TTL of %s: %v", table, err)
	}
	if ttl.TimeToLiveDescription != nil && ttl.TimeToLiveDescription.TimeToLiveStatus == ddbtypes.TimeToLiveStatusEnabled {
		s.TTL = aws.ToString(ttl.TimeToLiveDescription.AttributeName)
	}
	for _, g := range d.GlobalSecondaryIndexes {
		if s.Indexes == nil {
			s.Indexes = map[string]indexShape{}
		}
		if g.IndexStatus != ddbtypes.IndexStatusActive {
			t.Errorf("%s index %s status %s, want ACTIVE", table, aws.ToString(g.IndexName), g.IndexStatus)
		}
		s.Indexes[aws.ToString(g.IndexName)] = indexShape{KeySchema: keys(g.KeySchema), Projection: string(g.Projection.ProjectionType)}
	}
	return s, d
}

func keys(ks []ddbtypes.KeySchemaElement) []string {
	var out []string
	for _, k := range ks {
		out = append(out, aws.ToString(k.AttributeName)+" "+string(k.KeyType))
	}
	return out
}

func assertGolden(t *testing.T, name string, got tableShape) {
	t.Helper()
	golden.AssertJSON(t, filepath.Join("testdata", name), got)
}

func TestProvisionCreatesTablesStreamsAndQueues(t *testing.T) {
	env := awstest.Env(t, awstest.WithVisibilityTimeout(7*time.Second), awstest.WithMaxReceiveCount(4))
	ctx := context.Background()

	if env.LedgerTable != env.Names.LedgerTable() {
		t.Errorf("ledger table %q, want %q", env.LedgerTable, env.Names.LedgerTable())
	}
	ledger, _ := describeShape(t, env.DynamoDB, env.LedgerTable)
	assertGolden(t, "ledger_table.json", ledger)

	domains := events.Domains()
	for _, m := range []map[events.Domain]string{env.StateTables, env.StateStreamARNs, env.QueueURLs, env.DLQURLs} {
		if len(m) != len(domains) {
			t.Fatalf("resources cover %d domains, want %d: %v", len(m), len(domains), m)
		}
	}
	for _, d := range domains {
		t.Run(string(d), func(t *testing.T) {
			if env.StateTables[d] != env.Names.StateTable(d) {
				t.Errorf("state table %q, want %q", env.StateTables[d], env.Names.StateTable(d))
			}
			shape, desc := describeShape(t, env.DynamoDB, env.StateTables[d])
			assertGolden(t, "state_table.json", shape)
			if got := aws.ToString(desc.LatestStreamArn); got == "" || got != env.StateStreamARNs[d] {
				t.Errorf("stream ARN %q, resources say %q", got, env.StateStreamARNs[d])
			}
			stream, err := env.Streams.DescribeStream(ctx, &dynamodbstreams.DescribeStreamInput{StreamArn: aws.String(env.StateStreamARNs[d])})
			if err != nil {
				t.Fatalf("describe stream: %v", err)
			}
			if sd := stream.StreamDescription; sd.StreamStatus != streamtypes.StreamStatusEnabled ||
				sd.StreamViewType != streamtypes.StreamViewTypeNewAndOldImages || aws.ToString(sd.TableName) != env.StateTables[d] {
				t.Errorf("stream: status %s, view %s, table %s", sd.StreamStatus, sd.StreamViewType, aws.ToString(sd.TableName))
			}

			dlq := queueAttributes(t, env.SQS, env.DLQURLs[d])
			if want := env.Names.DeadLetterQueue(d); !strings.HasSuffix(dlq["QueueArn"], ":"+want) {
				t.Errorf("DLQ ARN %q, want name %q", dlq["QueueArn"], want)
			}
			if dlq["MessageRetentionPeriod"] != "1209600" {
				t.Errorf("DLQ retention %q, want 1209600 (14 days)", dlq["MessageRetentionPeriod"])
			}
			if dlq["RedrivePolicy"] != "" {
				t.Errorf("DLQ has a redrive policy: %s", dlq["RedrivePolicy"])
			}
			q := queueAttributes(t, env.SQS, env.QueueURLs[d])
			if want := env.Names.Queue(d); !strings.HasSuffix(q["QueueArn"], ":"+want) {
				t.Errorf("queue ARN %q, want name %q", q["QueueArn"], want)
			}
			if q["VisibilityTimeout"] != "7" {
				t.Errorf("visibility timeout %q, want 7", q["VisibilityTimeout"])
			}
			var redrive localaws.RedrivePolicy
			if err := json.Unmarshal([]byte(q["RedrivePolicy"]), &redrive); err != nil {
				t.Fatalf("redrive policy %q: %v", q["RedrivePolicy"], err)
			}
			if redrive != (localaws.RedrivePolicy{DeadLetterTargetARN: dlq["QueueArn"], MaxReceiveCount: 4}) {
				t.Errorf("redrive policy %+v, want target %s and max 4", redrive, dlq["QueueArn"])
			}
		})
	}
}

func TestProvisionTwiceKeepsResourcesAndUpdatesQueues(t *testing.T) {
	env := awstest.Env(t)
	ctx := context.Background()
	again, err := localaws.Provision(ctx, env.Config, env.Names,
		localaws.WithVisibilityTimeout(11*time.Second), localaws.WithMaxReceiveCount(9))
	if err != nil {
		t.Fatalf("second provision: %v", err)
	}
	first, _ := json.Marshal(env.Resources)
	second, _ := json.Marshal(again)
	if string(first) != string(second) {
		t.Errorf("second provision returned other resources:\n%s\n%s", first, second)
	}
	q := queueAttributes(t, env.SQS, env.QueueURLs[events.Orders])
	if q["VisibilityTimeout"] != "11" || !strings.Contains(q["RedrivePolicy"], `"maxReceiveCount":9`) {
		t.Errorf("queue not updated: visibility %s, redrive %s", q["VisibilityTimeout"], q["RedrivePolicy"])
	}
}

func TestProvisionRejectsBadQueueSettings(t *testing.T) {
	env := awstest.Env(t)
	for name, opt := range map[string]localaws.ProvisionOption{
		"fractional visibility": localaws.WithVisibilityTimeout(1500 * time.Millisecond),
		"zero receives":         localaws.WithMaxReceiveCount(0),
	} {
		if _, err := localaws.Provision(context.Background(), env.Config, env.Names, opt); err == nil {
			t.Errorf("%s: provision succeeded", name)
		}
	}
}

// A message received maxReceiveCount times and not deleted moves to the DLQ on
// the next receive, with its body and attributes.
func TestMessageMovesToDLQAfterMaxReceives(t *testing.T) {
	const maxReceives = 2
	env := awstest.Env(t, awstest.WithVisibilityTimeout(time.Second), awstest.WithMaxReceiveCount(maxReceives))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	queue, dlq := env.QueueURLs[events.Orders], env.DLQURLs[events.Orders]
	sent, err := env.SQS.SendMessage(ctx, &sqs.SendMessageInput{
		QueueUrl:    aws.String(queue),
		MessageBody: aws.String(`{"id":"evt-1"}`),
		MessageAttributes: map[string]sqstypes.MessageAttributeValue{
			"event_id": {DataType: aws.String("String"), StringValue: aws.String("evt-1")},
		},
	})
	if err != nil {
		t.Fatalf("send: %v", err)
	}

	receives := 0
	for {
		got, err := env.SQS.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(queue), WaitTimeSeconds: 1})
		if err != nil {
			t.Fatalf("receive after %d receives (is the message stuck?): %v", receives, err)
		}
		receives += len(got.Messages)
		if receives > maxReceives {
			t.Fatalf("received %d times, want the DLQ after %d", receives, maxReceives)
		}
		dead, err := env.SQS.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(dlq), MessageAttributeNames: []string{"All"}})
		if err != nil {
			t.Fatalf("receive from DLQ: %v", err)
		}
		if len(dead.Messages) == 0 {
			continue
		}
		m := dead.Messages[0]
		if aws.ToString(m.MessageId) != aws.ToString(sent.MessageId) || aws.ToString(m.Body) != `{"id":"evt-1"}` ||
			aws.ToString(m.MessageAttributes["event_id"].StringValue) != "evt-1" {
			t.Errorf("DLQ message id %s body %s attributes %v", aws.ToString(m.MessageId), aws.ToString(m.Body), m.MessageAttributes)
		}
		break
	}
	if receives != maxReceives {
		t.Errorf("moved to the DLQ after %d receives, want %d", receives, maxReceives)
	}
	if n := awstest.DrainCount(t, env.SQS, queue); n != 0 {
		t.Errorf("%d messages left in the queue", n)
	}
}

// Consumers of the state streams rely on this: DynamoDB Local writes a stream
// record for every real change, and none for writes that leave the item as it
// was or that fail their condition. Records of one shard keep write order, so
// a marker write after the no-ops proves no record was emitted for them.
func TestStreamRecordsOnlyRealChanges(t *testing.T) {
	env := awstest.Env(t)
	ctx := context.Background()
	table, arn := env.StateTables[events.Orders], env.StateStreamARNs[events.Orders]
	put := func(pk, status string, cond *string) error {
		_, err := env.DynamoDB.PutItem(ctx, &dynamodb.PutItemInput{
			TableName: aws.String(table), ConditionExpression: cond,
			Item: map[string]ddbtypes.AttributeValue{"pk": str(pk), "status": str(status)},
		})
		return err
	}
	setStatus := func(pk, status string) {
		_, err := env.DynamoDB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: aws.String(table), Key: map[string]ddbtypes.AttributeValue{"pk": str(pk)},
			UpdateExpression:          aws.String("SET #s = :s"),
			ExpressionAttributeNames:  map[string]string{"#s": "status"},
			ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":s": str(status)},
		})
		if err != nil {
			t.Fatalf("update %s: %v", pk, err)
		}
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}

	must(put("A", "NEW", nil))
	setStatus("A", "NEW")      // changes nothing
	must(put("A", "NEW", nil)) // replaces the item with an identical one
	var failed *ddbtypes.ConditionalCheckFailedException
	if err := put("A", "X", aws.String("attribute_not_exists(pk)")); !errors.As(err, &failed) {
		t.Fatalf("conditional put of an existing item: %v, want ConditionalCheckFailedException", err)
	}
	must(put("B", "NEW", nil)) // marker
	setStatus("A", "FILLED")   // a real change
	must(put("C", "NEW", nil)) // marker

	type rec struct{ Event, PK, Old, New string }
	var got []rec
	for _, r := range awstest.StreamRecords(t, env.Streams, arn, 4, 30*time.Second) {
		got = append(got, rec{string(r.EventName), image(r.Dynamodb.Keys, "pk"), image(r.Dynamodb.OldImage, "status"), image(r.Dynamodb.NewImage, "status")})
	}
	want := []rec{
		{"INSERT", "A", "", "NEW"},
		{"INSERT", "B", "", "NEW"},
		{"MODIFY", "A", "NEW", "FILLED"},
		{"INSERT", "C", "", "NEW"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("stream records\n got %v\nwant %v", got, want)
	}
}

func TestEndpointsFromEnvNeedsBothVariables(t *testing.T) {
	t.Setenv(localaws.EnvDynamoDBEndpoint, "http://127.0.0.1:1")
	t.Setenv(localaws.EnvSQSEndpoint, "")
	if _, _, err := localaws.EndpointsFromEnv(); err == nil {
		t.Fatal("no error with the SQS endpoint unset")
	}
	t.Setenv(localaws.EnvSQSEndpoint, "http://127.0.0.1:2")
	d, q, err := localaws.EndpointsFromEnv()
	if err != nil || d != "http://127.0.0.1:1" || q != "http://127.0.0.1:2" {
		t.Fatalf("got %q %q %v", d, q, err)
	}
}

func queueAttributes(t *testing.T, client *sqs.Client, url string) map[string]string {
	t.Helper()
	out, err := client.GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(url), AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameAll},
	})
	if err != nil {
		t.Fatalf("queue attributes of %s: %v", url, err)
	}
	return out.Attributes
}

func str(s string) ddbtypes.AttributeValue { return &ddbtypes.AttributeValueMemberS{Value: s} }

func image(m map[string]streamtypes.AttributeValue, name string) string {
	if v, ok := m[name].(*streamtypes.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}
