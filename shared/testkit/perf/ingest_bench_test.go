package perf_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	upvest "github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/shared/local/localaws/awstest"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/fanout"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/fanout/fanouttest"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/ingest"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/ledger"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/ledger/ledgertest"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/observability"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/signature"
	"github.com/upvest-webhooks/upvest-webhooks/shared/testkit/perf"
)

const cpuTarget = 50 * time.Microsecond

// BenchmarkIngestCPUPerEvent measures ingest's own work per event, beyond the
// one signature check (off here): decode, classify, ledger record (gzip
// included), fan-out, over 100-event requests of Upvest's samples, with the
// in-memory ledger and queues. Issue 9 target: ≤ 50 µs per event.
func BenchmarkIngestCPUPerEvent(b *testing.B) {
	const perRequest = 100
	src := newEventSource(b)
	requests := make([][]byte, 64)
	for i := range requests {
		requests[i] = envelope(src.Events(perRequest))
	}
	discard := slog.New(slog.DiscardHandler)
	metrics := observability.NewMetrics(io.Discard, observability.ServiceIngest)
	b.ReportAllocs()
	i := 0
	cpuBefore, haveCPU := perf.ProcessCPU()
	for b.Loop() {
		service := ingest.New(noAuth{}, nil, ledgertest.NewMemory(time.Now), fanouttest.NewMemory(upvest.Domains()...),
			discard, metrics, ingest.Options{PublicPath: "/webhooks"})
		resp, _ := service.Handle(context.Background(), unsignedRequest(requests[i%len(requests)]))
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("status %d: %s", resp.StatusCode, resp.Body)
		}
		i++
	}
	cpuAfter, _ := perf.ProcessCPU()
	events := time.Duration(b.N * perRequest)
	b.ReportMetric(float64((b.Elapsed() / events).Nanoseconds()), "wall-ns/event")
	if haveCPU {
		// Process CPU, garbage collection included: the figure the target is
		// about, and steady while other programs load the machine.
		perEvent := (cpuAfter - cpuBefore) / events
		b.ReportMetric(float64(perEvent.Nanoseconds()), "cpu-ns/event")
		b.ReportMetric(float64(perEvent)/float64(cpuTarget), "of-target")
	}
}

// BenchmarkOneMiBRequest sends one signed 1 MiB request of small events
// (Upvest's largest package) through the ingest handler to DynamoDB Local and
// the SQS server, and reports its duration against the Lambda's 20 s timeout.
func BenchmarkOneMiBRequest(b *testing.B) {
	const lambdaTimeout = 20 * time.Second // infra/stack IngestTimeout
	env := awstest.Env(b)
	src := newEventSource(b)
	s := newSigner(b)
	service := ingest.New(signature.NewVerifier(s.keys(), signature.Options{}), nil,
		ledger.NewDynamo(dynamodb.NewFromConfig(env.Config), env.LedgerTable, ledger.WithRetention(400*24*time.Hour)),
		fanout.NewSQS(sqs.NewFromConfig(env.Config), env.QueueURLs),
		slog.New(slog.DiscardHandler), observability.NewMetrics(io.Discard, observability.ServiceIngest),
		ingest.Options{PublicPath: "/webhooks"})
	var events, size int
	for b.Loop() {
		var evs []event
		for size = 0; size+1024 < 1<<20; size += len(evs[len(evs)-1].Raw) + 1 {
			evs = append(evs, src.Next())
		}
		body := envelope(evs)
		events, size = len(evs), len(body)
		req := unsignedRequest(body)
		signed, err := signature.Sign(signature.Request{Method: http.MethodPost, Path: "/webhooks",
			Header: http.Header{"Content-Type": {"application/json"}}, Body: body}, s.key, s.kid, time.Now(), "")
		if err != nil {
			b.Fatal(err)
		}
		for name, values := range signed {
			req.Headers[http.CanonicalHeaderKey(name)] = values[0]
		}
		resp, _ := service.Handle(context.Background(), req)
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("status %d: %s", resp.StatusCode, resp.Body)
		}
	}
	perRequest := b.Elapsed() / time.Duration(b.N)
	b.ReportMetric(perRequest.Seconds(), "s/request")
	b.ReportMetric(perRequest.Seconds()/lambdaTimeout.Seconds(), "of-timeout")
	b.Logf("%s: %d events, %d bytes, %v per request (%.0f %% of the %v Lambda timeout)",
		b.Name(), events, size, perRequest.Round(time.Millisecond), 100*perRequest.Seconds()/lambdaTimeout.Seconds(), lambdaTimeout)
}
