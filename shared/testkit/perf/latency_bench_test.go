package perf_test

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"golang.org/x/sync/errgroup"

	upvest "github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/fanout"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/ingest"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/ledger"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/observability"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/signature"
	"github.com/upvest-webhooks/upvest-webhooks/shared/testkit/perf"
)

// Targets of issue 23, modelled at the stack's ingest memory.
const (
	floorRatioTarget      = 1.25  // a 1 MiB package within 1.25× the floor
	subscriptionRateFloor = 10000 // events/s one subscription feeds with 1 MiB packages
)

// stackIngestMemoryMB is infra/stack IngestMemoryMB: two vCPUs.
const stackIngestMemoryMB = 3538

// Memory settings the benchmark models: the stack's and two others.
var modelledMemories = []int{512, 1769, stackIngestMemoryMB}

// package sizes of the benchmark.
var packageSizes = []struct {
	name  string
	bytes int
}{{"10KiB", 10 << 10}, {"100KiB", 100 << 10}, {"1MiB", 1 << 20}}

// BenchmarkLatencyModelledIngest runs the real ingest handler, signature
// check included, against ledger and queue ports that answer after
// latencies drawn (seeded) from perf.DynamoDBLatency and perf.SQSLatency and
// enforce AWS's limits, side by side with its floor: a bare loop making the
// same number of calls, drawn from the same seeds, with the same concurrency
// and nothing else. Both run on testing/synctest's clock, in a child process
// with GOMAXPROCS=1 (TestLatencyModelledIngest): the handler's CPU time,
// measured between its calls, is charged to a processor with the share of a
// core Lambda gives the memory setting (perf.CPUModel), so the figures do not
// depend on how loaded this machine is. Figures: time to answer, and events/s
// for one subscription (Upvest sends a subscription's requests one at a time).
func BenchmarkLatencyModelledIngest(b *testing.B) {
	var rows []latencyRow
	for b.Loop() {
		rows = runLatencyChild(b)
	}
	// Printed, not logged: the test framework cuts long benchmark logs.
	fmt.Println(latencyTable(rows))
	for _, r := range rows {
		if r.Size == "1MiB" && r.MemoryMB == stackIngestMemoryMB {
			b.ReportMetric(r.ratio(), "1MiB-of-floor")
			b.ReportMetric(r.eventsPerSecond(), "1MiB-events/s")
			b.ReportMetric(float64(r.cpuPerEvent().Nanoseconds()), "cpu-ns/event")
			fmt.Printf("targets at %d MB: 1 MiB answered in %.2f× the floor (target ≤ %.2f×) %s; %.0f events/s per subscription (target ≥ %d) %s\n",
				r.MemoryMB, r.ratio(), floorRatioTarget, verdict(r.ratio() <= floorRatioTarget),
				r.eventsPerSecond(), subscriptionRateFloor, verdict(r.eventsPerSecond() >= subscriptionRateFloor))
		}
	}
}

// latencyRowsEnv names the file the child writes its rows to; without it,
// TestLatencyModelledIngest is a quick check of the model in `make test`.
const latencyRowsEnv = "UPVEST_LATENCY_ROWS"

// runLatencyChild runs TestLatencyModelledIngest in a child process with
// one Go processor and returns its rows.
func runLatencyChild(b *testing.B) []latencyRow {
	path := filepath.Join(b.TempDir(), "rows.json")
	cmd := exec.Command(os.Args[0], "-test.run=^TestLatencyModelledIngest$", "-test.count=1", "-test.timeout=10m")
	cmd.Env = append(os.Environ(), "GOMAXPROCS=1", latencyRowsEnv+"="+path)
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("latency-modelled child: %v\n%s", err, out)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	var rows []latencyRow
	if err := json.Unmarshal(data, &rows); err != nil {
		b.Fatal(err)
	}
	return rows
}

// TestLatencyModelledIngest measures the rows of BenchmarkLatencyModelledIngest
// when the benchmark runs it as its child; on its own it checks the model
// on one small package: the handler is answered, it makes one claim per
// event and at least one batch, and it takes at least its floor (the floor
// makes the same calls with nothing else to do).
func TestLatencyModelledIngest(t *testing.T) {
	out := os.Getenv(latencyRowsEnv)
	sizes, memories, rounds := packageSizes, modelledMemories, 0
	if out == "" {
		sizes, memories, rounds = packageSizes[:1], []int{stackIngestMemoryMB}, 2
	}
	src := newEventSource(t)
	s := newSigner(t)
	tuning := ingestTuningFromEnv(t)
	var rows []latencyRow
	for _, size := range sizes {
		body, n := packageOf(src, size.bytes)
		r := cmp.Or(rounds, max(5, min(15, (2<<20)/size.bytes)))
		for _, memory := range memories {
			rows = append(rows, measureLatencyModelled(t, s, body, size.name, n, memory, r, tuning))
		}
	}
	if out != "" {
		data, err := json.Marshal(rows)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(out, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return
	}
	r := rows[0]
	if r.Claims != int64(r.Events) || r.Sends < 1 {
		t.Errorf("%d claims and %d batches for %d events", r.Claims, r.Sends, r.Events)
	}
	if r.Floor <= 0 || r.Handler < r.Floor {
		t.Errorf("handler %v, floor %v: the handler makes the floor's calls and more", r.Handler, r.Floor)
	}
}

// ingestTuning is the concurrency the benchmark runs ingest with: the
// package's defaults unless LATENCY_CLAIMS / LATENCY_SENDS override them
// (for sweeps: `LATENCY_CLAIMS=64 go test -bench LatencyModelled ./shared/testkit/perf`).
type ingestTuning struct{ claims, sends int }

func ingestTuningFromEnv(t testing.TB) ingestTuning {
	var tn ingestTuning
	for name, dst := range map[string]*int{"LATENCY_CLAIMS": &tn.claims, "LATENCY_SENDS": &tn.sends} {
		if v := os.Getenv(name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				t.Fatalf("%s=%q: want a positive integer", name, v)
			}
			*dst = n
		}
	}
	return tn
}

type latencyRow struct {
	Size           string
	Events, Bytes  int
	MemoryMB       int
	Handler, Floor time.Duration // medians of the rounds, modelled
	CPU            time.Duration // median CPU time per request, measured
	Claims, Sends  int64         // calls per request
	ClaimsInFlight int
	SendsInFlight  int
}

func (r latencyRow) ratio() float64 { return float64(r.Handler) / float64(r.Floor) }
func (r latencyRow) eventsPerSecond() float64 {
	return float64(r.Events) / r.Handler.Seconds()
}
func (r latencyRow) cpuPerEvent() time.Duration { return r.CPU / time.Duration(max(r.Events, 1)) }

// measureLatencyModelled alternates rounds of the handler and of its floor,
// each in a synctest bubble on the same latency draws, and returns the medians.
func measureLatencyModelled(t *testing.T, s signer, body []byte, size string, n, memoryMB, rounds int, tn ingestTuning) latencyRow {
	claimsInFlight := cmp.Or(tn.claims, ingest.ClaimsInFlight(n))
	sendsInFlight := cmp.Or(tn.sends, fanout.DefaultInFlight)
	var handlerTimes, floorTimes, cpus []time.Duration
	var claims, sends int64
	for round := range rounds {
		seed := uint64(round + 1)
		runtime.GC() // a round starts without the previous round's garbage
		synctest.Test(t, func(t *testing.T) {
			req := signedAPIGatewayRequest(t, s, body) // signed on the bubble's clock
			cpu := perf.NewCPUModel(perf.LambdaVCPUs(memoryMB))
			ddb := &perf.ModelledDynamoDB{Latency: perf.NewSampler(perf.DynamoDBLatency, seed), CPU: cpu}
			q := &perf.ModelledSQS{Latency: perf.NewSampler(perf.SQSLatency, seed), CPU: cpu}
			service := ingest.New(signature.NewVerifier(s.keys(), signature.Options{}), nil,
				ledger.NewDynamo(ddb, "ledger", ledger.WithRetention(400*24*time.Hour)),
				fanout.NewSQS(q, queueURLs(), fanout.WithInFlight(tn.sends)),
				slog.New(slog.DiscardHandler), observability.NewMetrics(io.Discard, observability.ServiceIngest),
				ingest.Options{PublicPath: "/webhooks", Concurrency: tn.claims, Now: wallClock})
			cpuBefore, _ := perf.ProcessCPU()
			start := time.Now()
			resp, _ := service.Handle(context.Background(), req)
			end := cpu.Done()
			cpuAfter, _ := perf.ProcessCPU()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("%s: status %d: %s", size, resp.StatusCode, resp.Body)
			}
			handlerTimes = append(handlerTimes, end.Sub(start))
			cpus = append(cpus, cpuAfter-cpuBefore)
			claims, sends = ddb.Calls(), q.Calls()
		})
		synctest.Test(t, func(t *testing.T) {
			start := time.Now()
			if err := latencyFloor(claims, sends, claimsInFlight, sendsInFlight, seed); err != nil {
				t.Fatal(err)
			}
			floorTimes = append(floorTimes, time.Since(start))
		})
	}
	return latencyRow{
		Size: size, Events: n, Bytes: len(body), MemoryMB: memoryMB,
		Handler: median(handlerTimes), Floor: median(floorTimes), CPU: median(cpus),
		Claims: claims, Sends: sends, ClaimsInFlight: claimsInFlight, SendsInFlight: sendsInFlight,
	}
}

// latencyFloor makes only the modelled calls of one request: the claims,
// claimsInFlight at a time, then the batches, sendsInFlight at a time, each
// answering after a latency drawn from the handler's seeds. Nothing else.
// wallClock is the real time the test binary started. A synctest bubble's
// clock starts in 2000, before the sample events' dates, so ingest's check of
// ordering times against its clock (events.MaxAhead) reads this one instead.
var wallStart = time.Now()

func wallClock() time.Time { return wallStart }

func latencyFloor(claims, sends int64, claimsInFlight, sendsInFlight int, seed uint64) error {
	ddb := perf.NewSampler(perf.DynamoDBLatency, seed)
	q := perf.NewSampler(perf.SQSLatency, seed)
	ctx := context.Background()
	for _, phase := range []struct {
		calls    int64
		inFlight int
		latency  *perf.Sampler
	}{{claims, claimsInFlight, ddb}, {sends, sendsInFlight, q}} {
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(phase.inFlight)
		for range phase.calls {
			g.Go(func() error { return perf.Sleep(gctx, phase.latency.Next()) })
		}
		if err := g.Wait(); err != nil {
			return err
		}
	}
	return nil
}

// packageOf is an Upvest request body of fresh sample events just under size bytes.
func packageOf(src *eventSource, size int) ([]byte, int) {
	var evs []event
	total := len(`{"payload":[]}`)
	for {
		e := src.Next()
		if total+len(e.Raw)+1 > size {
			return envelope(evs), len(evs)
		}
		evs = append(evs, e)
		total += len(e.Raw) + 1
	}
}

// signedAPIGatewayRequest is body as API Gateway hands it to ingest, signed.
func signedAPIGatewayRequest(b testing.TB, s signer, body []byte) events.APIGatewayV2HTTPRequest {
	req := unsignedRequest(body)
	signed, err := signature.Sign(signature.Request{Method: http.MethodPost, Path: "/webhooks",
		Header: http.Header{"Content-Type": {"application/json"}}, Body: body}, s.key, s.kid, time.Now(), "")
	if err != nil {
		b.Fatal(err)
	}
	for name, values := range signed {
		req.Headers[http.CanonicalHeaderKey(name)] = values[0]
	}
	return req
}

func queueURLs() map[upvest.Domain]string {
	urls := map[upvest.Domain]string{}
	for _, d := range upvest.Domains() {
		urls[d] = "https://sqs.eu-central-1.amazonaws.com/123456789012/" + string(d)
	}
	return urls
}

func median(ds []time.Duration) time.Duration { return percentileOf(ds, 0.5) }

func percentileOf(ds []time.Duration, p float64) time.Duration {
	sorted := slices.Clone(ds)
	slices.Sort(sorted)
	return sorted[min(len(sorted)-1, int(p*float64(len(sorted))))]
}

func latencyTable(rows []latencyRow) string {
	var t strings.Builder
	fmt.Fprintf(&t, "latency-modelled ingest (DynamoDB p50 %v p99 %v, SQS p50 %v p99 %v, log-normal, seeded; measured CPU charged at Lambda's share of a core)\n",
		perf.DynamoDBLatency.P50, perf.DynamoDBLatency.P99, perf.SQSLatency.P50, perf.SQSLatency.P99)
	fmt.Fprintf(&t, "| package | events | memory | vCPU | claims/sends in flight | calls (put/batch) | handler | floor | × floor | events/s per subscription | CPU/request |\n")
	fmt.Fprintf(&t, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range rows {
		fmt.Fprintf(&t, "| %s | %d | %d MB | %.2f | %d / %d | %d / %d | %v | %v | %.2f | %.0f | %v |\n",
			r.Size, r.Events, r.MemoryMB, perf.LambdaVCPUs(r.MemoryMB), r.ClaimsInFlight, r.SendsInFlight,
			r.Claims, r.Sends, r.Handler.Round(100*time.Microsecond), r.Floor.Round(100*time.Microsecond),
			r.ratio(), r.eventsPerSecond(), r.CPU.Round(100*time.Microsecond))
	}
	return t.String()
}
