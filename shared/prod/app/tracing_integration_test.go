package app_test

import (
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	upvest "github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/events/upvesttest"
	"github.com/upvest-webhooks/upvest-webhooks/shared/local/localaws/awstest"
	"github.com/upvest-webhooks/upvest-webhooks/shared/local/webhookclient"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/app"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/app/ingestapp"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/app/workerapp"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/config"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/ingest"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/message"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/signature"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/tracing"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/worker"
)

// One event, signed as Upvest signs it, goes through the assembled ingest
// function, a real SQS message on the local server, and the assembled worker;
// every span lands in one trace.
func TestOneEventsTraceHoldsIngestAndWorkerSpans(t *testing.T) {
	t.Parallel()
	env := awstest.Env(t)
	ctx := context.Background()
	spans := tracetest.NewInMemoryExporter()
	traces := tracing.NewSDK(sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans)), nil)

	privatePEM, jwks, kid, err := signature.GenerateDevKey()
	if err != nil {
		t.Fatal(err)
	}
	key, err := signature.LoadPrivateKeyPEM(privatePEM)
	if err != nil {
		t.Fatal(err)
	}
	jwksFile := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(jwksFile, jwks, 0o600); err != nil {
		t.Fatal(err)
	}
	ingestEnv := env.IngestEnv()
	ingestEnv[config.EnvJWKSFile] = jwksFile
	ingestEnv[config.EnvPublicPath] = "/webhooks"
	ingestCfg, err := config.LoadIngest(func(name string) string { return ingestEnv[name] })
	if err != nil {
		t.Fatal(err)
	}
	service, err := ingestapp.New(ctx, ingestCfg, env.Config, io.Discard, app.WithTracing(traces))
	if err != nil {
		t.Fatal(err)
	}

	event, domain := oneRoutedSample(t)
	body, err := webhookclient.Envelope([]json.RawMessage{event})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := tracing.Flushing(traces, service.Handle)(ctx, signedRequest(t, body, key, kid))
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("ingest answered %d %s, %v", resp.StatusCode, resp.Body, err)
	}

	received := awstest.ReceiveAll(t, env.SQS, env.QueueURLs[domain], 1, 15*time.Second)
	if len(received) != 1 {
		t.Fatalf("got %d messages on the %s queue, want 1", len(received), domain)
	}
	if n := len(received[0].MessageAttributes); n > 10 {
		t.Errorf("message has %d attributes, over SQS's limit of 10", n)
	}
	if _, ok := received[0].MessageAttributes[message.AttrTraceParent]; !ok {
		t.Fatalf("message carries no %s attribute: %v", message.AttrTraceParent, keys(received[0].MessageAttributes))
	}

	workerCfg, err := config.LoadWorker(func(name string) string { return env.WorkerEnv(domain)[name] })
	if err != nil {
		t.Fatal(err)
	}
	w := workerapp.New(workerCfg, env.Config, io.Discard, app.WithTracing(traces))
	batch, err := tracing.Flushing(traces, w.Handle)(ctx, lambdaevents.SQSEvent{Records: []lambdaevents.SQSMessage{lambdaMessage(received[0])}})
	if err != nil || len(batch.BatchItemFailures) != 0 {
		t.Fatalf("worker: %+v, %v", batch, err)
	}

	all := spans.GetSpans()
	request := only(t, all, func(s tracetest.SpanStub) bool { return s.Name == ingest.SpanRequest })
	traceID := request.SpanContext.TraceID()
	inTrace := func(match func(tracetest.SpanStub) bool) []tracetest.SpanStub {
		var out []tracetest.SpanStub
		for _, s := range all {
			if s.SpanContext.TraceID() == traceID && match(s) {
				out = append(out, s)
			}
		}
		return out
	}
	childOf := func(parent tracetest.SpanStub) func(tracetest.SpanStub) bool {
		return func(s tracetest.SpanStub) bool { return s.Parent.SpanID() == parent.SpanContext.SpanID() }
	}
	named := func(name string, parent tracetest.SpanStub) []tracetest.SpanStub {
		return inTrace(func(s tracetest.SpanStub) bool { return s.Name == name && childOf(parent)(s) })
	}

	if request.SpanKind != trace.SpanKindServer || !hasAttr(request, "http.response.status_code", "200") {
		t.Errorf("request span: kind %v, attributes %v", request.SpanKind, request.Attributes)
	}
	if len(named(ingest.SpanSignature, request)) != 1 {
		t.Errorf("no signature span under the request span; trace: %v", names(inTrace(all1)))
	}
	ledgerPuts := named("DynamoDB.PutItem", request)
	if len(ledgerPuts) != 1 || !hasAttr(ledgerPuts[0], "aws.dynamodb.table_names", env.LedgerTable) {
		t.Errorf("ledger PutItem spans under the request: %v", ledgerPuts)
	}
	sends := named("SQS.SendMessageBatch", request)
	if len(sends) != 1 || sends[0].SpanKind != trace.SpanKindProducer || !hasAttr(sends[0], "messaging.destination.name", env.QueueURLs[domain]) {
		t.Errorf("SQS send spans under the request: %v", sends)
	}
	processed := named(worker.SpanMessage, request)
	if len(processed) != 1 {
		t.Fatalf("want the worker's span in the request's trace, as the request span's child; trace: %v", names(inTrace(all1)))
	}
	if processed[0].SpanKind != trace.SpanKindConsumer || !processed[0].Parent.IsRemote() {
		t.Errorf("worker span: kind %v, remote parent %v", processed[0].SpanKind, processed[0].Parent.IsRemote())
	}
	workerCalls := inTrace(childOf(processed[0]))
	// The state write, and no ledger write: the row records what was applied.
	var stateWrite, ledgerWrite bool
	for _, s := range workerCalls {
		stateWrite = stateWrite || hasAttr(s, "aws.dynamodb.table_names", env.StateTables[domain])
		ledgerWrite = ledgerWrite || (s.Name == "DynamoDB.UpdateItem" && hasAttr(s, "aws.dynamodb.table_names", env.LedgerTable))
	}
	if !stateWrite || ledgerWrite || len(workerCalls) != 1 {
		t.Errorf("want the state write alone under the worker span (no settled outcome in the ledger), got %v", names(workerCalls))
	}
	for _, s := range inTrace(all1) {
		if s.Status.Code != 0 && s.Status.Code != 1 { // Unset or Ok
			t.Errorf("span %s ended with %v %s", s.Name, s.Status.Code, s.Status.Description)
		}
	}
}

func all1(tracetest.SpanStub) bool { return true }

func only(t *testing.T, spans []tracetest.SpanStub, match func(tracetest.SpanStub) bool) tracetest.SpanStub {
	t.Helper()
	var found []tracetest.SpanStub
	for _, s := range spans {
		if match(s) {
			found = append(found, s)
		}
	}
	if len(found) != 1 {
		t.Fatalf("want exactly one matching span, got %d among %v", len(found), names(spans))
	}
	return found[0]
}

func hasAttr(s tracetest.SpanStub, key, value string) bool {
	for _, a := range s.Attributes {
		if string(a.Key) != key {
			continue
		}
		if a.Value.Type() == attribute.STRINGSLICE && slices.Contains(a.Value.AsStringSlice(), value) {
			return true
		}
		if a.Value.Emit() == value {
			return true
		}
	}
	return false
}

func names(spans []tracetest.SpanStub) []string {
	out := make([]string, len(spans))
	for i, s := range spans {
		out[i] = s.Name
	}
	return out
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// oneRoutedSample returns one of Upvest's samples with a fresh id, and its domain.
func oneRoutedSample(t *testing.T) (json.RawMessage, upvest.Domain) {
	t.Helper()
	for _, sample := range upvesttest.Samples(t) {
		fresh, err := webhookclient.WithFreshIDs([]json.RawMessage{sample.Raw})
		if err != nil {
			t.Fatal(err)
		}
		e, route, err := upvest.ClassifyRaw(fresh[0])
		if err == nil && route.Domain != upvest.Unrouted && e.ID != "" {
			return fresh[0], route.Domain
		}
	}
	t.Fatal("no routed sample")
	return nil, ""
}

// signedRequest is what API Gateway hands ingest for a request Upvest signed.
func signedRequest(t *testing.T, body []byte, key *ecdsa.PrivateKey, kid string) lambdaevents.APIGatewayV2HTTPRequest {
	t.Helper()
	header := http.Header{"Content-Type": {"application/json"}}
	signed, err := signature.Sign(signature.Request{Method: http.MethodPost, Path: "/webhooks", Header: header, Body: body}, key, kid, time.Now(), "")
	if err != nil {
		t.Fatal(err)
	}
	var req lambdaevents.APIGatewayV2HTTPRequest
	req.RawPath = "/webhooks"
	req.RequestContext.HTTP.Method = http.MethodPost
	req.RequestContext.RequestID = "trace-test"
	req.Headers = map[string]string{"content-type": "application/json"}
	for name, values := range signed {
		req.Headers[strings.ToLower(name)] = strings.Join(values, ",")
	}
	req.Body = string(body)
	return req
}

// lambdaMessage is the record Lambda's SQS event source makes of a message.
func lambdaMessage(m sqstypes.Message) lambdaevents.SQSMessage {
	out := lambdaevents.SQSMessage{
		MessageId: aws.ToString(m.MessageId), ReceiptHandle: aws.ToString(m.ReceiptHandle), Body: aws.ToString(m.Body),
		MessageAttributes: map[string]lambdaevents.SQSMessageAttribute{},
	}
	for name, v := range m.MessageAttributes {
		out.MessageAttributes[name] = lambdaevents.SQSMessageAttribute{StringValue: v.StringValue, DataType: aws.ToString(v.DataType)}
	}
	return out
}
