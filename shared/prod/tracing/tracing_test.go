package tracing

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go/middleware"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/observability"
	"github.com/upvest-webhooks/upvest-webhooks/shared/testkit/syncbuf"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

var staticCreds = credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", "")

func TestOffUnlessTheEnvironmentAsks(t *testing.T) {
	for name, env := range map[string]map[string]string{
		"nothing set":  {},
		"none":         {EnvExporter: "none"},
		"sdk disabled": {EnvExporter: "console", EnvSDKDisabled: "true"},
	} {
		t.Run(name, func(t *testing.T) {
			p, err := FromEnv(context.Background(), envOf(env), Settings{Service: "ingest"})
			if err != nil || p.Enabled() {
				t.Fatalf("FromEnv = enabled %v, %v; want off", p.Enabled(), err)
			}
		})
	}
}

// Off, the instrumented code gets the no-op tracer, the AWS clients no
// middleware and the handler no wrapper: nothing is recorded or paid for.
func TestOffCostsNothing(t *testing.T) {
	p := Off()
	cfg := aws.Config{APIOptions: []func(*middleware.Stack) error{}}
	if got := p.InstrumentAWS(cfg); len(got.APIOptions) != 0 {
		t.Errorf("off adds %d AWS middlewares", len(got.APIOptions))
	}
	handler := func(ctx context.Context, in string) (string, error) { return in, nil }
	if reflect.ValueOf(Flushing(p, handler)).Pointer() != reflect.ValueOf(handler).Pointer() {
		t.Error("off wraps the handler")
	}
	tracer := p.TracerProvider().Tracer("x")
	ctx := context.Background()
	allocs := testing.AllocsPerRun(100, func() {
		_, span := tracer.Start(ctx, "op")
		span.End()
	})
	if allocs > 1 { // at most the context holding the no-op span
		t.Errorf("a span costs %v allocations with tracing off", allocs)
	}
	_, span := tracer.Start(ctx, "op")
	if span.IsRecording() || span.SpanContext().IsValid() {
		t.Error("off records spans")
	}
	if err := p.Flush(ctx); err != nil {
		t.Error(err)
	}
}

func TestConsoleExporterPrintsSpansOnFlush(t *testing.T) {
	var out syncbuf.Buffer
	p, err := FromEnv(context.Background(), envOf(map[string]string{EnvExporter: "console", EnvLambdaFunction: "fn-ingest"}),
		Settings{Service: "ingest", Console: &out, AWS: aws.Config{Region: "eu-central-1"}})
	if err != nil || !p.Enabled() {
		t.Fatalf("FromEnv: %v", err)
	}
	defer p.Shutdown(context.Background())
	handler := Flushing(p, func(ctx context.Context, _ string) (string, error) {
		_, span := p.TracerProvider().Tracer("t").Start(ctx, "the-op")
		span.End()
		return "", nil
	})
	if _, err := handler(context.Background(), ""); err != nil {
		t.Fatal(err)
	}
	// Flushed before the handler returned: the span is printed already.
	var span struct {
		Name     string
		Resource []struct {
			Key   string
			Value struct{ Value any }
		}
	}
	if err := json.Unmarshal([]byte(firstLine(out.String())), &span); err != nil || span.Name != "the-op" {
		t.Fatalf("printed %q (%v)", out.String(), err)
	}
	res := map[string]any{}
	for _, kv := range span.Resource {
		res[kv.Key] = kv.Value.Value
	}
	for k, want := range map[string]string{"service.name": "upvest-webhooks-ingest", "faas.name": "fn-ingest", "cloud.region": "eu-central-1"} {
		if res[k] != want {
			t.Errorf("resource %s = %v, want %s", k, res[k], want)
		}
	}
}

func TestOTLPExportReachesTheCollectorBeforeTheHandlerReturns(t *testing.T) {
	var mu sync.Mutex
	var requests []*http.Request
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		requests = append(requests, r)
		mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	defer collector.Close()
	p, err := FromEnv(context.Background(), envOf(map[string]string{EnvExporter: "otlp", EnvOTLPEndpoint: collector.URL}), Settings{Service: "worker-orders"})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Shutdown(context.Background())
	handler := Flushing(p, func(ctx context.Context, _ int) (int, error) {
		_, span := p.TracerProvider().Tracer("t").Start(ctx, "op")
		span.End()
		return 0, nil
	})
	if _, err := handler(context.Background(), 0); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(requests) != 1 || requests[0].URL.Path != "/v1/traces" || requests[0].Header.Get("Authorization") != "" {
		t.Fatalf("collector got %d requests (%v)", len(requests), requests)
	}
}

func TestFromEnvRejectsWhatItCannotDo(t *testing.T) {
	for name, tt := range map[string]struct {
		env  map[string]string
		want string
	}{
		"unknown exporter": {map[string]string{EnvExporter: "zipkin"}, "want none, console or otlp"},
		"grpc":             {map[string]string{EnvExporter: "otlp", EnvOTLPProtocol: "grpc"}, "only http/protobuf"},
		"bad endpoint":     {map[string]string{EnvExporter: "otlp", EnvOTLPTracesEndpoint: "localhost:4318"}, "want an http(s) URL"},
		"xray without credentials": {
			map[string]string{EnvExporter: "otlp", EnvOTLPTracesEndpoint: "https://xray.eu-central-1.amazonaws.com/v1/traces"},
			"needs AWS credentials",
		},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := FromEnv(context.Background(), envOf(tt.env), Settings{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestTracesEndpoint(t *testing.T) {
	for _, tt := range []struct{ env map[string]string }{
		{map[string]string{}},
		{map[string]string{EnvOTLPEndpoint: "http://collector:4318/"}},
		{map[string]string{EnvOTLPEndpoint: "http://ignored:4318", EnvOTLPTracesEndpoint: "https://xray.eu-west-1.amazonaws.com/v1/traces"}},
	} {
		got, err := TracesEndpoint(envOf(tt.env))
		want := map[int]string{0: DefaultOTLPEndpoint, 1: "http://collector:4318/v1/traces", 2: "https://xray.eu-west-1.amazonaws.com/v1/traces"}[len(tt.env)]
		if err != nil || got != want {
			t.Errorf("TracesEndpoint(%v) = %q, %v; want %q", tt.env, got, err, want)
		}
	}
}

func TestXRayEndpointIsRecognised(t *testing.T) {
	for endpoint, want := range map[string]string{
		"https://xray.eu-central-1.amazonaws.com/v1/traces": "eu-central-1",
		"https://xray.us-west-2.amazonaws.com/v1/traces":    "us-west-2",
		"http://localhost:4318/v1/traces":                   "",
		"https://xray.example.com/v1/traces":                "",
		"https://logs.eu-central-1.amazonaws.com/v1/logs":   "",
	} {
		if got, _ := xrayRegion(endpoint); got != want {
			t.Errorf("xrayRegion(%s) = %q, want %q", endpoint, got, want)
		}
	}
}

func TestSigV4TransportSignsTheWholeBody(t *testing.T) {
	var gotBody []byte
	var gotHeader http.Header
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotBody, _ = io.ReadAll(r.Body)
		gotHeader = r.Header
	}))
	defer server.Close()
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	client := &http.Client{Transport: &SigV4Transport{Credentials: staticCreds, Region: "eu-central-1", Service: "xray", Now: func() time.Time { return at }}}
	body := []byte("\x0a\x03otlp-protobuf")
	resp, err := client.Post(server.URL+"/v1/traces", "application/x-protobuf", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if !bytes.Equal(gotBody, body) {
		t.Errorf("body arrived as %q", gotBody)
	}
	auth := gotHeader.Get("Authorization")
	if !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260304/eu-central-1/xray/aws4_request") ||
		!strings.Contains(auth, "Signature=") || gotHeader.Get("X-Amz-Date") != "20260304T050607Z" {
		t.Errorf("not signed for xray: Authorization %q, X-Amz-Date %q", auth, gotHeader.Get("X-Amz-Date"))
	}
}

// The AWS middleware makes one span per call, named and attributed after it,
// and marks a failed call.
func TestAWSMiddlewareSpan(t *testing.T) {
	dynamo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("x-amzn-RequestId", "req-1")
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"__type":"com.amazonaws.dynamodb.v20120810#ResourceNotFoundException","message":"no such table"}`))
	}))
	defer dynamo.Close()
	spans := tracetest.NewSpanRecorder()
	p := NewSDK(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans)), nil)
	cfg := p.InstrumentAWS(aws.Config{Region: "eu-central-1", Credentials: staticCreds, BaseEndpoint: aws.String(dynamo.URL),
		Retryer: func() aws.Retryer { return aws.NopRetryer{} }})
	client := dynamodb.NewFromConfig(cfg)
	_, err := client.PutItem(context.Background(), &dynamodb.PutItemInput{TableName: aws.String("ledger"),
		Item: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "x"}}})
	if err == nil {
		t.Fatal("PutItem succeeded against a failing server")
	}
	ended := spans.Ended()
	if len(ended) != 1 {
		t.Fatalf("%d spans, want 1", len(ended))
	}
	s := ended[0]
	attrs := map[string]string{}
	for _, a := range s.Attributes() {
		attrs[string(a.Key)] = a.Value.Emit()
	}
	if s.Name() != "DynamoDB.PutItem" || s.SpanKind() != trace.SpanKindClient || s.Status().Code != codes.Error ||
		attrs["aws.dynamodb.table_names"] != `["ledger"]` || attrs["aws.request_id"] != "req-1" ||
		attrs["http.response.status_code"] != "400" || attrs["rpc.service"] != "DynamoDB" || attrs["cloud.region"] != "eu-central-1" {
		t.Errorf("span %s kind %v status %v attributes %v", s.Name(), s.SpanKind(), s.Status(), attrs)
	}
	if got := spanKind("SQS", "SendMessageBatch"); got != trace.SpanKindProducer {
		t.Errorf("SendMessageBatch kind %v, want producer", got)
	}
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// An exporter the endpoint refuses (X-Ray's 403 without xray:PutSpans) does not
// fail the invocation, and each failed export is counted in an EMF metric,
// which the stack alarms on (TracesNotExported).
func TestRefusedExportIsCounted(t *testing.T) {
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "AccessDeniedException", http.StatusForbidden)
	}))
	defer collector.Close()
	var metrics, logs syncbuf.Buffer
	p, err := FromEnv(context.Background(), envOf(map[string]string{EnvExporter: "otlp", EnvOTLPEndpoint: collector.URL}), Settings{
		Service: "worker-orders", Metrics: &metrics, Log: slog.New(slog.NewJSONHandler(&logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Shutdown(context.Background())
	handler := Flushing(p, func(ctx context.Context, n int) (int, error) {
		_, span := p.TracerProvider().Tracer("t").Start(ctx, "op")
		span.End()
		return n + 1, nil
	})
	for i := range 2 {
		if got, err := handler(context.Background(), i); err != nil || got != i+1 {
			t.Fatalf("invocation %d: %d, %v", i, got, err)
		}
	}
	lines := strings.Split(strings.TrimSpace(metrics.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("want one metric line per failed export, got %q", metrics.String())
	}
	for _, line := range lines {
		var doc map[string]any
		if err := json.Unmarshal([]byte(line), &doc); err != nil {
			t.Fatalf("metric line %q: %v", line, err)
		}
		if doc[observability.MetricTracesNotExported] != 1.0 || doc["Service"] != "worker-orders" {
			t.Errorf("metric line %v", doc)
		}
		cw, _ := json.Marshal(doc["_aws"])
		if !strings.Contains(string(cw), `"Name":"`+observability.MetricTracesNotExported+`"`) || !strings.Contains(string(cw), `"Namespace":"`+observability.Namespace+`"`) {
			t.Errorf("EMF metadata %s", cw)
		}
	}
	if !strings.Contains(logs.String(), "traces not exported") {
		t.Errorf("no warning in the log: %q", logs.String())
	}
}
