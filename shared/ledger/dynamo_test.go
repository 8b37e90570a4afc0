package ledger_test

import (
	"context"
	"crypto/rand"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/shared/ledger"
	"github.com/upvest-webhooks/upvest-webhooks/shared/localaws/awstest"
	"github.com/upvest-webhooks/upvest-webhooks/shared/schema"
)

// These tests run against DynamoDB Local: the conditions are the point.

var fixedNow = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

func newLedger(t *testing.T) (*ledger.Dynamo, awstest.Environment) {
	env := awstest.Env(t)
	l := ledger.NewDynamo(env.DynamoDB, env.LedgerTable,
		ledger.WithRetention(400*24*time.Hour), ledger.WithClock(func() time.Time { return fixedNow }))
	return l, env
}

func record(id string) ledger.Record {
	return ledger.Record{
		EventID: id, EventType: "ORDER.NEW", Domain: events.Orders, EntityKey: "ORDER#o-1",
		CreatedAt: "2024-01-01T00:00:00Z", WebhookID: "w", Raw: []byte(`{"id":"` + id + `","type":"ORDER.NEW"}`),
		Status: ledger.Received,
	}
}

func item(t *testing.T, env awstest.Environment, id string) map[string]types.AttributeValue {
	return awstest.GetItem(t, env.DynamoDB, env.LedgerTable, schema.LedgerPK, id)
}

func attr(it map[string]types.AttributeValue, name string) string {
	switch v := it[name].(type) {
	case *types.AttributeValueMemberS:
		return v.Value
	case *types.AttributeValueMemberN:
		return v.Value
	}
	return ""
}

func mustClaim(t *testing.T, l *ledger.Dynamo, rec ledger.Record, want ledger.ClaimResult) {
	t.Helper()
	got, _, err := l.Claim(context.Background(), rec)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Fatalf("claim %s = %d, want %d", rec.EventID, got, want)
	}
}

func TestEventLifecycleInLedger(t *testing.T) {
	l, env := newLedger(t)
	ctx := context.Background()
	rec := record("e-1")

	mustClaim(t, l, rec, ledger.ClaimNew)
	it := item(t, env, "e-1")
	if attr(it, schema.LedgerStatus) != "RECEIVED" || attr(it, schema.LedgerRaw) != string(rec.Raw) {
		t.Fatalf("stored %v", it)
	}
	if want := strconv.FormatInt(fixedNow.Add(400*24*time.Hour).Unix(), 10); attr(it, schema.LedgerExpiresAt) != want {
		t.Errorf("expires_at %s, want %s", attr(it, schema.LedgerExpiresAt), want)
	}
	if attr(it, schema.LedgerLeaseUntil) == "" || attr(it, schema.LedgerDomain) != "orders" {
		t.Errorf("lease/domain missing: %v", it)
	}

	// Still RECEIVED: a redelivery must fan it out again, not trust it;
	// within the lease another call is at it, past the lease it was abandoned.
	mustClaim(t, l, rec, ledger.ClaimConcurrent)
	later := ledger.NewDynamo(env.DynamoDB, env.LedgerTable, ledger.WithClock(func() time.Time { return fixedNow.Add(5 * time.Minute) }))
	mustClaim(t, later, rec, ledger.ClaimRetry)
	if got := attr(item(t, env, "e-1"), schema.LedgerAttempts); got != "3" {
		t.Errorf("fanout_attempts %s, want 3", got)
	}
	if got, want := attr(item(t, env, "e-1"), schema.LedgerLeaseUntil), strconv.FormatInt(fixedNow.Add(5*time.Minute+time.Minute).Unix(), 10); got != want {
		t.Errorf("lease_until %s after the takeover, want %s", got, want)
	}

	if err := l.MarkEnqueued(ctx, "e-1"); err != nil {
		t.Fatal(err)
	}
	it = item(t, env, "e-1")
	if attr(it, schema.LedgerStatus) != "ENQUEUED" || attr(it, schema.LedgerLeaseUntil) != "" {
		t.Errorf("after MarkEnqueued: %v", it)
	}
	mustClaim(t, l, rec, ledger.ClaimSettled)

	if err := l.RecordOutcome(ctx, "e-1", ledger.Applied, ""); err != nil {
		t.Fatal(err)
	}
	// The first final outcome sticks; a later one and a late MarkEnqueued change nothing.
	if err := l.RecordOutcome(ctx, "e-1", ledger.Duplicate, "again"); err != nil {
		t.Fatal(err)
	}
	if err := l.MarkEnqueued(ctx, "e-1"); err != nil {
		t.Fatal(err)
	}
	if got := attr(item(t, env, "e-1"), schema.LedgerStatus); got != "APPLIED" {
		t.Errorf("status %s, want APPLIED", got)
	}
}

func TestWorkerOutcomeBeforeMarkEnqueuedWins(t *testing.T) {
	l, env := newLedger(t)
	ctx := context.Background()
	mustClaim(t, l, record("e-2"), ledger.ClaimNew)
	if err := l.RecordOutcome(ctx, "e-2", ledger.SkippedStale, "row newer"); err != nil {
		t.Fatal(err)
	}
	if err := l.MarkEnqueued(ctx, "e-2"); err != nil {
		t.Fatal(err)
	}
	it := item(t, env, "e-2")
	if attr(it, schema.LedgerStatus) != "SKIPPED_STALE" || attr(it, schema.LedgerReason) != "row newer" {
		t.Errorf("got %v", it)
	}
}

func TestParkedEventsAreListedByDomain(t *testing.T) {
	l, env := newLedger(t)
	ctx := context.Background()
	parked := record("e-3")
	parked.Status, parked.Reason = ledger.Parked, "missing object.id"
	mustClaim(t, l, parked, ledger.ClaimNew)
	mustClaim(t, l, parked, ledger.ClaimSettled)

	// A worker parks an event it can never apply.
	mustClaim(t, l, record("e-4"), ledger.ClaimNew)
	if err := l.RecordOutcome(ctx, "e-4", ledger.Parked, "misrouted"); err != nil {
		t.Fatal(err)
	}
	mustClaim(t, l, record("e-5"), ledger.ClaimNew) // not parked: must not be listed

	out, err := env.DynamoDB.Query(ctx, &dynamodb.QueryInput{
		TableName:                 aws.String(env.LedgerTable),
		IndexName:                 aws.String(schema.LedgerParkedIndex),
		KeyConditionExpression:    aws.String("#p = :d"),
		ExpressionAttributeNames:  map[string]string{"#p": schema.LedgerParked},
		ExpressionAttributeValues: map[string]types.AttributeValue{":d": &types.AttributeValueMemberS{Value: "orders"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, it := range out.Items {
		ids = append(ids, attr(it, schema.LedgerPK)+":"+attr(it, schema.LedgerReason))
	}
	if got := strings.Join(ids, ","); !strings.Contains(got, "e-3:missing object.id") || !strings.Contains(got, "e-4:misrouted") || len(ids) != 2 {
		t.Errorf("parked index lists %v", ids)
	}
}

func TestLargeEventsAreCompressedAndReadBack(t *testing.T) {
	l, env := newLedger(t)
	ctx := context.Background()
	big := record("e-6")
	big.Raw = []byte(`{"id":"e-6","object":{"blob":"` + strings.Repeat("abcdefgh", 40_000) + `"}}`) // 320 KB
	mustClaim(t, l, big, ledger.ClaimNew)
	if _, ok := item(t, env, "e-6")[schema.LedgerRawGzip]; !ok {
		t.Error("a large event must be stored gzipped")
	}
	got, err := l.RawEvent(ctx, "e-6")
	if err != nil || string(got) != string(big.Raw) {
		t.Fatalf("read back %d bytes, err %v", len(got), err)
	}
	small, err := l.RawEvent(ctx, "e-6")
	if err != nil || len(small) == 0 {
		t.Fatal(err)
	}
	if _, err := l.RawEvent(ctx, "nope"); !errors.Is(err, ledger.ErrNotFound) {
		t.Errorf("missing event: %v", err)
	}

	noise := make([]byte, 450_000)
	if _, err := rand.Read(noise); err != nil {
		t.Fatal(err)
	}
	huge := record("e-7")
	huge.Raw = noise
	if _, _, err := l.Claim(ctx, huge); !errors.Is(err, ledger.ErrTooLarge) {
		t.Errorf("incompressible 450 KB event: err %v, want ErrTooLarge", err)
	}
}

func TestConcurrentDeliveriesClaimOnce(t *testing.T) {
	l, _ := newLedger(t)
	const calls = 12
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		results = map[ledger.ClaimResult]int{}
	)
	for i := 0; i < calls; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, _, err := l.Claim(context.Background(), record("e-8"))
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			results[r]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if results[ledger.ClaimNew] != 1 || results[ledger.ClaimConcurrent] != calls-1 {
		t.Errorf("claims %v: want exactly one new and the rest told to fan out again", results)
	}
}
