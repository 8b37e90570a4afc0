package perf_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	upvest "github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/fanout"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/ingest"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/ledger"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/message"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/observability"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/schema"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/signature"
	"github.com/upvest-webhooks/upvest-webhooks/shared/testkit/capacity"
	"github.com/upvest-webhooks/upvest-webhooks/shared/testkit/perf"
)

// nightlyEventsEnv sets the rehearsal's size: `make nightly` runs 200,000;
// `make test` a few packages' worth, which checks the rehearsal itself.
const nightlyEventsEnv = "UPVEST_NIGHTLY_EVENTS"

// TestNightlyBatchRehearsal delivers a nightly batch of POSITION and
// CASH_BALANCE events serially, in 1 MiB packages, to the real ingest
// handler (signature check included) on the latency-modelled ports, whose
// queues feed modelled workers (the stack's batch size, batching window and
// maximum concurrency; each batch takes the worker's DynamoDB calls, drawn
// from the same latencies, and its CPU at 256 MB). All of it runs on
// testing/synctest's clock with ingest's measured CPU charged at its memory's
// share (perf.CPUModel), once with one subscription and once with two lanes.
// An ORDER.FILLED is sent when half the batch is delivered: on one
// subscription it queues behind the rest of the batch; on its own lane it goes
// at once. It prints the feed's events/s, the lag of the batch's last event,
// and the ORDER.FILLED's wait.
func TestNightlyBatchRehearsal(t *testing.T) {
	n := 4000
	if v := os.Getenv(nightlyEventsEnv); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			t.Fatalf("%s=%q: want a positive number of events", nightlyEventsEnv, v)
		}
	}
	src := newEventSource(t)
	var batchSamples []sampleEvent
	var order string
	for _, s := range src.samples {
		switch {
		case strings.Contains(s.raw, `"POSITION.UPDATED"`), strings.Contains(s.raw, `"CASH_BALANCE.UPDATED"`):
			batchSamples = append(batchSamples, s)
		case strings.Contains(s.raw, `"ORDER.NEW"`):
			order = strings.ReplaceAll(s.raw, `"ORDER.NEW"`, `"ORDER.FILLED"`)
		}
	}
	if len(batchSamples) == 0 || order == "" {
		t.Fatal("no POSITION, CASH_BALANCE or ORDER sample")
	}
	batch := &eventSource{samples: batchSamples}
	var packages [][]byte
	var lastID string
	for left := n; left > 0; {
		var evs []event
		size := len(`{"payload":[]}`)
		for left > 0 {
			e := batch.Next()
			if size+len(e.Raw)+1 > 1<<20 {
				batch.next-- // it opens the next package
				break
			}
			evs = append(evs, e)
			size += len(e.Raw) + 1
			left--
		}
		lastID = evs[len(evs)-1].ID
		packages = append(packages, envelope(evs))
	}
	fill := (&eventSource{samples: []sampleEvent{{raw: order, eventID: idOf(t, order)}}}).Next()
	s := newSigner(t)
	epoch := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC) // synctest's clock starts here
	var lines []string
	var oneSubscription rehearsal
	for _, run := range []struct {
		lanes  bool
		hotMax int
		feed   string
	}{
		{false, 0, "one subscription"},
		{true, 0, "two lanes"},
		{true, 40, "two lanes, holdings=40"},
	} {
		lanes := run.lanes
		r := rehearse(t, s, epoch, packages, fill, lastID, lanes, run.hotMax, n)
		feed := run.feed
		lines = append(lines, fmt.Sprintf("| %d | %s | %d | %.0f | %v | %v | %v | %v |", n, feed, len(packages),
			float64(n)/r.feedDone.Seconds(), r.feedDone.Round(time.Millisecond), r.lastLag.Round(time.Millisecond),
			r.fillDelivered.Round(time.Millisecond), r.fillWait.Round(time.Millisecond)))
		// Delivered behind the rest of the batch on one subscription; at
		// once, in one small request, on its own lane.
		if !lanes && r.fillDelivered < r.afterHalf {
			t.Errorf("one subscription: the ORDER.FILLED was answered %v after halfway, before the batch's rest (%v)", r.fillDelivered, r.afterHalf)
		}
		if lanes && r.fillDelivered >= oneSubscription.fillDelivered {
			t.Errorf("%s: the ORDER.FILLED was answered %v after it was sent, no sooner than behind the batch (%v)",
				feed, r.fillDelivered, oneSubscription.fillDelivered)
		}
		if !lanes {
			oneSubscription = r
		}
		if r.lastLag <= 0 || r.fillWait < r.fillDelivered {
			t.Errorf("%s: last event applied %v after its request, fill applied %v after it was sent", feed, r.lastLag, r.fillWait)
		}
	}
	fmt.Printf("nightly batch rehearsal (ingest %d MB, workers: batches of %d, %d per domain, %v window; latencies as BenchmarkLatencyModelledIngest)\n"+
		"| events | feed | packages | feed events/s | feed time | last event applied after its request was sent | ORDER.FILLED sent halfway: answered after | applied after (its worker's 1 s window included) |\n"+
		"|---:|---|---:|---:|---:|---:|---:|---:|\n%s\n", stackIngestMemoryMB, capacity.Defaults.WorkerBatchSize, capacity.Defaults.WorkerMaxConcurrency,
		time.Second, strings.Join(lines, "\n"))
}

func idOf(t *testing.T, raw string) string {
	var v struct{ ID string }
	if err := json.Unmarshal([]byte(raw), &v); err != nil || v.ID == "" {
		t.Fatalf("sample without id: %v", err)
	}
	return v.ID
}

type rehearsal struct {
	feedDone, lastLag       time.Duration
	afterHalf               time.Duration // from halfway to the batch's last answer
	fillDelivered, fillWait time.Duration
}

// rehearse runs one delivery of the batch in a bubble.
func rehearse(t *testing.T, s signer, epoch time.Time, packages [][]byte, fill event, lastID string, lanes bool, hotMax, n int) rehearsal {
	// Signed before the bubble, on its clock, so that Upvest's signing is not charged to ingest.
	requests := make([]events.APIGatewayV2HTTPRequest, len(packages))
	for i, body := range packages {
		requests[i] = signedAt(t, s, body, epoch)
	}
	fillRequest := signedAt(t, s, envelope([]event{fill}), epoch)
	var out rehearsal
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		cpu := perf.NewCPUModel(perf.LambdaVCPUs(stackIngestMemoryMB))
		settings := capacity.Defaults
		settings.HotDomainMaxConcurrency = hotMax
		workers := newModelledWorkers(settings, capacity.Measured, 7, n+16)
		ddb := &perf.ModelledDynamoDB{Latency: perf.NewSampler(perf.DynamoDBLatency, 1), CPU: cpu}
		q := &deliveringSQS{ModelledSQS: perf.ModelledSQS{Latency: perf.NewSampler(perf.SQSLatency, 1), CPU: cpu}, deliver: workers.enqueue}
		service := ingest.New(signature.NewVerifier(s.keys(), signature.Options{}), nil,
			ledger.NewDynamo(ddb, "ledger", ledger.WithRetention(400*24*time.Hour)), fanout.NewSQS(q, queueURLs()),
			slog.New(slog.DiscardHandler), observability.NewMetrics(io.Discard, observability.ServiceIngest),
			ingest.Options{PublicPath: "/webhooks", Now: wallClock})
		var halfwayAt time.Time
		post := func(req events.APIGatewayV2HTTPRequest) {
			resp, _ := service.Handle(context.Background(), req)
			if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Body, `"enqueued"`) {
				t.Fatalf("status %d: %s", resp.StatusCode, resp.Body)
			}
		}
		halfway := make(chan time.Time, 1)
		var lastSent time.Time
		var fillSent time.Time
		var wg sync.WaitGroup
		wg.Go(func() {
			for i, req := range requests {
				if i == len(requests)-1 {
					lastSent = time.Now()
				}
				post(req)
				if i == (len(requests)-1)/2 {
					halfwayAt = time.Now()
					halfway <- halfwayAt
				}
			}
			out.feedDone = time.Since(start)
			out.afterHalf = time.Since(halfwayAt)
			if !lanes { // the fill queued behind the rest of the batch
				fillSent = <-halfway
				post(fillRequest)
				out.fillDelivered = time.Since(fillSent)
			}
		})
		if lanes {
			wg.Go(func() {
				fillSent = <-halfway
				post(fillRequest)
				out.fillDelivered = time.Since(fillSent)
			})
		}
		wg.Wait()
		lastApplied := workers.waitFor(lastID)
		fillApplied := workers.waitFor(fill.ID)
		workers.stop()
		out.lastLag = lastApplied.Sub(lastSent)
		out.fillWait = fillApplied.Sub(fillSent)
	})
	return out
}

func signedAt(t *testing.T, s signer, body []byte, at time.Time) events.APIGatewayV2HTTPRequest {
	req := unsignedRequest(body)
	signed, err := signature.Sign(signature.Request{Method: http.MethodPost, Path: "/webhooks",
		Header: http.Header{"Content-Type": {"application/json"}}, Body: body}, s.key, s.kid, at, "")
	if err != nil {
		t.Fatal(err)
	}
	for name, values := range signed {
		req.Headers[http.CanonicalHeaderKey(name)] = values[0]
	}
	return req
}

// deliveringSQS is the modelled SQS that also puts each sent message on its
// domain's modelled queue.
type deliveringSQS struct {
	perf.ModelledSQS
	deliver func(queueURL, eventID string)
}

func (d *deliveringSQS) SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, opts ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error) {
	out, err := d.ModelledSQS.SendMessageBatch(ctx, in, opts...)
	if err == nil {
		for _, e := range in.Entries {
			d.deliver(aws.ToString(in.QueueUrl), aws.ToString(e.MessageAttributes[message.AttrEventID].StringValue))
		}
	}
	return out, err
}

// modelledWorkers are each domain's event source mapping and workers: up to
// the maximum concurrency of pollers, each taking a batch when it is full or
// its window has passed, and holding it for a modelled worker invocation.
type modelledWorkers struct {
	settings capacity.Settings
	costs    capacity.Costs
	latency  *perf.Sampler
	queues   map[string]chan string
	done     chan struct{}
	mu       sync.Mutex
	applied  map[string]time.Time
	wanted   map[string]chan time.Time
	wg       sync.WaitGroup
}

func newModelledWorkers(s capacity.Settings, c capacity.Costs, seed uint64, depth int) *modelledWorkers {
	w := &modelledWorkers{settings: s, costs: c, latency: perf.NewSampler(c.DynamoDB, seed), queues: map[string]chan string{},
		done: make(chan struct{}), applied: map[string]time.Time{}, wanted: map[string]chan time.Time{}}
	for domain, url := range queueURLs() {
		q := make(chan string, depth)
		w.queues[url] = q
		pollers := s.WorkerMaxConcurrency
		if domain == upvest.Holdings && s.HotDomainMaxConcurrency > 0 {
			pollers = s.HotDomainMaxConcurrency
		}
		for range pollers {
			w.wg.Go(func() { w.poll(q) })
		}
	}
	return w
}

func (w *modelledWorkers) enqueue(url, eventID string) { w.queues[url] <- eventID }

func (w *modelledWorkers) poll(q chan string) {
	for {
		var batch []string
		select {
		case id := <-q:
			batch = append(batch, id)
		case <-w.done:
			return
		}
		window := time.NewTimer(schema.DefaultBatchWindow) // the stack's workerBatchWindowSeconds
	fill:
		for len(batch) < w.settings.WorkerBatchSize {
			select {
			case id := <-q:
				batch = append(batch, id)
			case <-window.C:
				break fill
			}
		}
		window.Stop()
		time.Sleep(w.batchTime(len(batch)))
		now := time.Now()
		w.mu.Lock()
		for _, id := range batch {
			w.applied[id] = now
			if ch, ok := w.wanted[id]; ok {
				ch <- now
			}
		}
		w.mu.Unlock()
	}
}

// batchTime is one worker invocation: its events' calls run concurrently,
// each event making its calls one after another.
func (w *modelledWorkers) batchTime(n int) time.Duration {
	d := w.costs.WorkerInvokeOverhead + time.Duration(float64(n)*float64(w.costs.WorkerCPUPerEvent)/perf.LambdaVCPUs(w.settings.WorkerMemoryMB))
	for range int(w.costs.WorkerDynamoCallsPerEvent + 0.5) {
		var slowest time.Duration
		for range n {
			slowest = max(slowest, w.latency.Next())
		}
		d += slowest
	}
	return d
}

// waitFor returns when eventID was applied, waiting for it.
func (w *modelledWorkers) waitFor(eventID string) time.Time {
	w.mu.Lock()
	if at, ok := w.applied[eventID]; ok {
		w.mu.Unlock()
		return at
	}
	ch := make(chan time.Time, 1)
	w.wanted[eventID] = ch
	w.mu.Unlock()
	return <-ch
}

func (w *modelledWorkers) stop() {
	close(w.done)
	w.wg.Wait()
}
