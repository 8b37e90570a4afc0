package ledger_test

import (
	"context"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/shared/local/localaws/awstest"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/ledger"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/ledger/ledgertest"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/uuid"
)

// These tests run against DynamoDB Local: the conditions are the point.

func TestDynamoKeepsTheLedgerContract(t *testing.T) {
	t.Parallel()
	ledgertest.RunContract(t, func(t *testing.T, now func() time.Time) ledger.Store {
		env := awstest.Env(t)
		return ledger.NewDynamo(env.DynamoDB, env.LedgerTable, ledger.WithRetention(400*24*time.Hour), ledger.WithClock(now))
	})
}

// A typical Upvest event stays under 1 KB, so every write of its record costs
// one write unit: the ingest put and the worker's outcome update.
func TestTypicalRecordFitsOneWriteUnit(t *testing.T) {
	t.Parallel()
	env := awstest.Env(t)
	l := ledger.NewDynamo(env.DynamoDB, env.LedgerTable, ledger.WithRetention(400*24*time.Hour))
	id := uuid.New()
	raw := `{"id":"` + id + `","created_at":"2024-03-05T10:15:30.123456Z","type":"ORDER.FILLED","object":{"id":"` + uuid.New() +
		`","user_id":"` + uuid.New() + `","account_id":"` + uuid.New() + `","account_group_id":"` + uuid.New() +
		`","cash_amount":"100.00","currency":"EUR","side":"BUY","type":"MARKET","status":"FILLED","quantity":"1.234567",` +
		`"instrument_id":"US0378331005","instrument_id_type":"ISIN","filled_quantity":"1.234567","fee":"0.50",` +
		`"limit_price":null,"stop_price":null,"reference":"` + uuid.New() + `","created_at":"2024-03-05T10:15:29.000000Z","updated_at":"2024-03-05T10:15:30.100000Z","order_type":"MARKET"},` +
		`"webhook_id":"` + uuid.New() + `"}`
	if len(raw) < 750 {
		t.Fatalf("the sample event is %d bytes; make it realistic", len(raw))
	}
	rec := ledger.Record{EventID: id, EventType: "ORDER.FILLED", Domain: events.Orders, EntityKey: "ORDER#" + id, Raw: []byte(raw), Status: ledger.Received}
	if _, _, err := l.Claim(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	out, err := env.DynamoDB.PutItem(context.Background(), &dynamodb.PutItemInput{
		TableName: aws.String(env.LedgerTable), Item: getItem(t, env, id), ReturnConsumedCapacity: types.ReturnConsumedCapacityTotal,
	})
	if err != nil {
		t.Fatal(err)
	}
	if out.ConsumedCapacity == nil || aws.ToFloat64(out.ConsumedCapacity.CapacityUnits) > 1 {
		t.Errorf("rewriting the record of a %d-byte event consumed %+v write units, want 1", len(raw), out.ConsumedCapacity)
	}
	// The server does count by size: the same write of a 2.5 KB item costs 3.
	big := getItem(t, env, id)
	big["pad"] = &types.AttributeValueMemberS{Value: strings.Repeat("x", 2500)}
	out, err = env.DynamoDB.PutItem(context.Background(), &dynamodb.PutItemInput{
		TableName: aws.String(env.LedgerTable), Item: big, ReturnConsumedCapacity: types.ReturnConsumedCapacityTotal,
	})
	if err != nil || out.ConsumedCapacity == nil || aws.ToFloat64(out.ConsumedCapacity.CapacityUnits) < 3 {
		t.Errorf("a 2.5 KB item: consumed %+v (err %v); the check above means nothing if the server does not count", out.ConsumedCapacity, err)
	}
}

// A body too large for one item is stored in part items beside its record.
func TestLargeBodyIsStoredInParts(t *testing.T) {
	t.Parallel()
	env := awstest.Env(t)
	l := ledger.NewDynamo(env.DynamoDB, env.LedgerTable)
	raw := make([]byte, 1<<20)
	if _, err := rand.Read(raw); err != nil {
		t.Fatal(err)
	}
	id := uuid.New()
	if _, _, err := l.Claim(context.Background(), ledger.Record{EventID: id, Domain: events.Orders, Raw: raw, Status: ledger.Received}); err != nil {
		t.Fatal(err)
	}
	it := getItem(t, env, id)
	if _, inline := it["body"]; inline {
		t.Error("an incompressible 1 MiB body cannot be inline")
	}
	if n, ok := it["body_parts"].(*types.AttributeValueMemberN); !ok || n.Value != "3" {
		t.Errorf("body_parts = %v, want 3 parts of at most 350 KiB", it["body_parts"])
	}
	out, err := env.DynamoDB.Scan(context.Background(), &dynamodb.ScanInput{TableName: aws.String(env.LedgerTable)})
	if err != nil {
		t.Fatal(err)
	}
	parts := 0
	for _, item := range out.Items {
		if k := item["event_id"].(*types.AttributeValueMemberS).Value; strings.HasPrefix(k, id+"#body:") {
			parts++
		}
	}
	if parts != 3 {
		t.Errorf("%d part items, want 3", parts)
	}
}

func getItem(t *testing.T, env awstest.Environment, id string) map[string]types.AttributeValue {
	t.Helper()
	out, err := env.DynamoDB.GetItem(context.Background(), &dynamodb.GetItemInput{
		TableName: aws.String(env.LedgerTable), Key: map[string]types.AttributeValue{"event_id": &types.AttributeValueMemberS{Value: id}},
	})
	if err != nil || len(out.Item) == 0 {
		t.Fatalf("get %s: %v", id, err)
	}
	return out.Item
}
