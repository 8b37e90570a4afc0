package ingest_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	upvest "github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/events/upvesttest"
	"github.com/upvest-webhooks/upvest-webhooks/shared/local/localaws/awstest"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/fanout"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/ingest"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/ledger"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/message"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/observability"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/schema"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/signature"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/uuid"
)

// These tests run the real handler against DynamoDB Local and fauxqs, with
// requests signed exactly as Upvest signs them.

const keyID = "0b4b6f2c-5c1d-4a8e-9d3f-1a2b3c4d5e6f"

type harness struct {
	env     awstest.Environment
	service *ingest.Service
	key     *ecdsa.PrivateKey
	sqs     *faultySQS
}

// faultySQS fails every SendMessageBatch to one queue while failQueue is set.
type faultySQS struct {
	*sqs.Client
	mu        sync.Mutex
	failQueue string
}

func (f *faultySQS) SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, opts ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error) {
	f.mu.Lock()
	fail := f.failQueue != "" && aws.ToString(in.QueueUrl) == f.failQueue
	f.mu.Unlock()
	if fail {
		return nil, &types.InternalServerError{Message: aws.String("injected")}
	}
	return f.Client.SendMessageBatch(ctx, in, opts...)
}

func newHarness(t testing.TB) *harness {
	env := awstest.Env(t)
	key, err := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	verifier := signature.NewVerifier(signature.StaticKeys{keyID: &key.PublicKey}, signature.Options{})
	client := &faultySQS{Client: env.SQS}
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	svc := ingest.New(verifier, nil,
		ledger.NewDynamo(env.DynamoDB, env.LedgerTable, ledger.WithRetention(24*time.Hour)),
		fanout.NewSQS(client, env.QueueURLs), log, observability.NewMetrics(io.Discard, "ingest"),
		ingest.Options{PublicPath: "/webhooks"})
	return &harness{env: env, service: svc, key: key, sqs: client}
}

// post signs body as Upvest does and hands it to the handler the way API Gateway would.
func (h *harness) post(t testing.TB, body []byte, tamper bool) (int, ingest.Summary) {
	t.Helper()
	header := http.Header{"Content-Type": {"application/json"}}
	signed, err := signature.Sign(signature.Request{Method: "POST", Path: "/webhooks", Header: header, Body: body}, h.key, keyID, time.Now(), "")
	if err != nil {
		t.Fatal(err)
	}
	var req events.APIGatewayV2HTTPRequest
	req.RawPath = "/webhooks"
	req.RequestContext.HTTP.Method = "POST"
	req.RequestContext.Stage = "$default"
	req.Headers = map[string]string{"content-type": "application/json"}
	for name, values := range signed {
		req.Headers[strings.ToLower(name)] = strings.Join(values, ",")
	}
	req.Body = string(body)
	if tamper {
		req.Body = strings.Replace(req.Body, "EUR", "USD", 1)
	}
	resp, err := h.service.Handle(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	var summary ingest.Summary
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal([]byte(resp.Body), &summary); err != nil {
			t.Fatal(err)
		}
	}
	return resp.StatusCode, summary
}

func envelope(t testing.TB, events ...json.RawMessage) []byte {
	t.Helper()
	b, err := json.Marshal(map[string][]json.RawMessage{"payload": events})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// samples returns Upvest's official samples, each with a fresh event id (the
// samples repeat ids), by the domain each routes to.
func samples(t *testing.T) (all []json.RawMessage, ids map[upvest.Domain][]string) {
	t.Helper()
	ids = map[upvest.Domain][]string{}
	for _, sample := range upvesttest.Samples(t) {
		e, id := withFreshID(t, sample.Raw)
		all = append(all, e)
		parsed, _ := upvest.ParseEvent(e)
		route, err := upvest.Classify(parsed)
		if err != nil {
			t.Fatalf("%s: %v", sample.Name, err)
		}
		ids[route.Domain] = append(ids[route.Domain], id)
	}
	return all, ids
}

func withFreshID(t testing.TB, raw []byte) (json.RawMessage, string) {
	t.Helper()
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		t.Fatal(err)
	}
	id := uuid.New()
	fields["id"], _ = json.Marshal(id)
	out, err := json.Marshal(fields)
	if err != nil {
		t.Fatal(err)
	}
	return out, id
}

func (h *harness) ledgerStatus(t *testing.T, id string) string {
	it := awstest.GetItem(t, h.env.DynamoDB, h.env.LedgerTable, schema.LedgerPK, id)
	if s, ok := it[schema.LedgerStatus].(*types.AttributeValueMemberS); ok {
		return s.Value
	}
	return ""
}

func (h *harness) ledgerCount(t *testing.T) int {
	out, err := h.env.DynamoDB.Scan(context.Background(), &dynamodb.ScanInput{TableName: aws.String(h.env.LedgerTable), Select: types.SelectCount})
	if err != nil {
		t.Fatal(err)
	}
	return int(out.Count)
}

// queued returns the event ids on a domain's queue (received, not deleted).
func (h *harness) queued(t *testing.T, d upvest.Domain, want int) []string {
	t.Helper()
	msgs := awstest.ReceiveAll(t, h.env.SQS, h.env.QueueURLs[d], want, 30*time.Second)
	var ids []string
	for _, m := range msgs {
		ids = append(ids, aws.ToString(m.MessageAttributes[message.AttrEventID].StringValue))
	}
	return ids
}

func TestSignedSamplesLandOnceInLedgerAndQueues(t *testing.T) {
	h := newHarness(t)
	all, byDomain := samples(t)
	body := envelope(t, all...)

	status, summary := h.post(t, body, false)
	if status != 200 || summary.Received != len(all) || summary.Enqueued != len(all) {
		t.Fatalf("status %d summary %+v, want all %d received and enqueued", status, summary, len(all))
	}
	for domain, ids := range byDomain {
		for _, id := range ids {
			if got := h.ledgerStatus(t, id); got != string(ledger.Received) {
				t.Errorf("%s: ledger status %q, want RECEIVED until its worker's outcome", id, got)
			}
		}
		got := h.queued(t, domain, len(ids))
		if strings.Join(sortedCopy(got), ",") != strings.Join(sortedCopy(ids), ",") {
			t.Errorf("%s queue holds %v, want each of %v once", domain, got, ids)
		}
	}
	// Redelivered before any worker ran: RECEIVED is not trusted, all go out again.
	if status, summary = h.post(t, body, false); status != 200 || summary.Refanned != len(all) {
		t.Fatalf("redelivery before the workers: status %d summary %+v", status, summary)
	}
	// Records whose outcome workers of an earlier version recorded (today's
	// workers leave them RECEIVED): the same request adds nothing.
	l := ledger.NewDynamo(h.env.DynamoDB, h.env.LedgerTable)
	for _, ids := range byDomain {
		for _, id := range ids {
			if err := l.RecordOutcome(context.Background(), id, ledger.Applied, ""); err != nil {
				t.Fatal(err)
			}
		}
	}
	status, summary = h.post(t, body, false)
	if status != 200 || summary.Duplicates != len(all) || summary.Enqueued != 0 {
		t.Fatalf("redelivery: status %d summary %+v", status, summary)
	}
	if n := h.ledgerCount(t); n != len(all) {
		t.Errorf("ledger holds %d records, want %d", n, len(all))
	}
}

func TestTamperedBodyIsRejectedAndStoresNothing(t *testing.T) {
	h := newHarness(t)
	all, _ := samples(t)
	if status, _ := h.post(t, envelope(t, all...), true); status != http.StatusUnauthorized {
		t.Fatalf("status %d, want 401", status)
	}
	if n := h.ledgerCount(t); n != 0 {
		t.Errorf("a tampered request stored %d ledger records", n)
	}
	for _, d := range upvest.Domains() {
		if n := awstest.DrainCount(t, h.env.SQS, h.env.QueueURLs[d]); n != 0 {
			t.Errorf("%s queue got %d messages", d, n)
		}
	}
}

func TestRedeliveryAfterFailedFanOutEnqueuesExactlyOnceMore(t *testing.T) {
	h := newHarness(t)
	order, orderID := withFreshID(t, []byte(`{"id":"x","created_at":"2024-01-01T00:00:00Z","type":"ORDER.NEW","object":{"id":"o-1","status":"NEW","currency":"EUR"},"webhook_id":"w"}`))
	position, positionID := withFreshID(t, []byte(`{"id":"x","created_at":"2024-01-01T00:00:00Z","type":"POSITION.UPDATED","object":{"account_id":"a","instrument":{"uuid":"u"}},"webhook_id":"w"}`))
	body := envelope(t, order, position)

	h.sqs.failQueue = h.env.QueueURLs[upvest.Holdings]
	if status, _ := h.post(t, body, false); status != http.StatusInternalServerError {
		t.Fatalf("status %d, want 500 so that Upvest retries", status)
	}
	if got := h.ledgerStatus(t, positionID); got != string(ledger.Received) {
		t.Fatalf("position status %q, want RECEIVED", got)
	}
	if got := h.ledgerStatus(t, orderID); got != string(ledger.Enqueued) {
		t.Fatalf("order status %q, want ENQUEUED (it did go out)", got)
	}

	h.sqs.failQueue = ""
	status, summary := h.post(t, body, false)
	if status != 200 || summary.Refanned != 1 || summary.Duplicates != 1 || summary.Enqueued != 1 {
		t.Fatalf("redelivery: status %d summary %+v", status, summary)
	}
	if got := h.queued(t, upvest.Holdings, 1); len(got) != 1 || got[0] != positionID {
		t.Errorf("holdings queue %v, want the position exactly once", got)
	}
	if got := h.queued(t, upvest.Orders, 1); len(got) != 1 || got[0] != orderID {
		t.Errorf("orders queue %v, want the order exactly once", got)
	}
	if got := h.ledgerStatus(t, positionID); got != string(ledger.Received) {
		t.Errorf("position status %q after redelivery, want RECEIVED (until its worker's outcome)", got)
	}
}

func TestBadAndUnknownEventsAreKeptAndAnswered200(t *testing.T) {
	h := newHarness(t)
	unknown, unknownID := withFreshID(t, []byte(`{"id":"x","created_at":"2024-01-01T00:00:00Z","type":"SPACESHIP.LAUNCHED","object":{"id":"s"},"webhook_id":"w"}`))
	broken, brokenID := withFreshID(t, []byte(`{"id":"x","created_at":"2024-01-01T00:00:00Z","type":"ORDER.NEW","object":{"status":"NEW"},"webhook_id":"w"}`))
	status, summary := h.post(t, envelope(t, unknown, broken, json.RawMessage(`"not an event"`)), false)
	if status != 200 || summary.Parked != 2 || summary.Enqueued != 1 {
		t.Fatalf("status %d summary %+v", status, summary)
	}
	if got := h.queued(t, upvest.Unrouted, 1); len(got) != 1 || got[0] != unknownID {
		t.Errorf("unrouted queue %v", got)
	}
	it := awstest.GetItem(t, h.env.DynamoDB, h.env.LedgerTable, schema.LedgerPK, brokenID)
	if it[schema.LedgerStatus].(*types.AttributeValueMemberS).Value != "PARKED" ||
		!strings.Contains(it[schema.LedgerReason].(*types.AttributeValueMemberS).Value, "object.id") {
		t.Errorf("broken event stored as %v", it)
	}
	if n := awstest.DrainCount(t, h.env.SQS, h.env.QueueURLs[upvest.Orders]); n != 0 {
		t.Errorf("a parked event reached the orders queue")
	}
}

func sortedCopy(s []string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}
