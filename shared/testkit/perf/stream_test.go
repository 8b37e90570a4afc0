package perf_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"io"
	mrand "math/rand/v2"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/upvest-webhooks/upvest-webhooks/events/upvesttest"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/signature"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/uuid"
)

// event is one Upvest event as delivered, with its id.
type event struct {
	ID  string
	Raw json.RawMessage
}

// eventSource makes realistic events: Upvest's official samples, as they
// are formatted, each with every UUID in it replaced by a fresh one
// (consistently within the event) and a fresh object id. Events so land on
// many entities, as in production, rather than on the samples' few: an
// EXECUTION points at its own ORDER, not at the one ORDER of the sample,
// whose executions view would otherwise collect every EXECUTION of a run
// and grow into an item tens of kilobytes large that no real order reaches.
// Every entity is new, the dearest case: a new row writes its index entries.
type eventSource struct {
	samples []sampleEvent
	next    int
}

var uuidPattern = regexp.MustCompile(`[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}`)

type sampleEvent struct {
	name, raw        string
	eventID, objecID string
}

func newEventSource(b testing.TB) *eventSource {
	b.Helper()
	var s eventSource
	for _, sample := range upvesttest.Samples(b) {
		var ids struct {
			ID     string `json:"id"`
			Object struct {
				ID string `json:"id"`
			} `json:"object"`
		}
		if err := json.Unmarshal(sample.Raw, &ids); err != nil || ids.ID == "" {
			b.Fatalf("sample %s: no event id (%v)", sample.Name, err)
		}
		s.samples = append(s.samples, sampleEvent{name: sample.Name, raw: string(sample.Raw), eventID: ids.ID, objecID: ids.Object.ID})
	}
	return &s
}

// only is a source of the named samples alone, in the order given.
func (s *eventSource) only(b testing.TB, names ...string) *eventSource {
	b.Helper()
	out := &eventSource{}
	for _, name := range names {
		i := slices.IndexFunc(s.samples, func(e sampleEvent) bool { return e.name == name })
		if i < 0 {
			b.Fatalf("no Upvest sample %s", name)
		}
		out.samples = append(out.samples, s.samples[i])
	}
	return out
}

// Next returns the next sample, round robin, with fresh ids.
func (s *eventSource) Next() event {
	sample := s.samples[s.next%len(s.samples)]
	s.next++
	fresh := map[string]string{}
	renew := func(old string) string {
		if _, ok := fresh[old]; !ok {
			fresh[old] = uuid.New()
		}
		return fresh[old]
	}
	raw := uuidPattern.ReplaceAllStringFunc(sample.raw, renew)
	for _, id := range []string{sample.eventID, sample.objecID} {
		if id != "" && !uuidPattern.MatchString(id) { // an id that is no UUID (an ISIN, say)
			raw = strings.ReplaceAll(raw, `"`+id+`"`, `"`+renew(id)+`"`)
		}
	}
	return event{ID: fresh[sample.eventID], Raw: json.RawMessage(raw)}
}

// Events returns n fresh events.
func (s *eventSource) Events(n int) []event {
	out := make([]event, n)
	for i := range out {
		out[i] = s.Next()
	}
	return out
}

// deliveries is a stream of n deliveries of which the given share are
// redeliveries of an event delivered earlier, mixed in at random (seeded).
func (s *eventSource) deliveries(n int, redeliveryShare float64, seed uint64) []event {
	rng := mrand.New(mrand.NewPCG(seed, seed))
	redeliveries := int(float64(n) * redeliveryShare)
	unique := n - redeliveries
	out := make([]event, 0, n)
	var delivered []event
	for len(out) < n {
		redeliver := len(delivered) > 0 && redeliveries > 0 && (unique == 0 || rng.Float64() < redeliveryShare)
		if redeliver {
			out = append(out, delivered[rng.IntN(len(delivered))])
			redeliveries--
			continue
		}
		e := s.Next()
		delivered = append(delivered, e)
		out = append(out, e)
		unique--
	}
	return out
}

func meanSize(evs []event) int {
	total := 0
	for _, e := range evs {
		total += len(e.Raw)
	}
	return total / max(len(evs), 1)
}

// envelope wraps events the way Upvest sends them.
func envelope(evs []event) []byte {
	var b strings.Builder
	b.WriteString(`{"payload":[`)
	for i, e := range evs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(e.Raw)
	}
	b.WriteString(`]}`)
	return []byte(b.String())
}

// runConcurrently calls do for every item with inFlight calls at a time and
// returns the wall time, or the first error.
func runConcurrently[T any](items []T, inFlight int, do func(T) error) (time.Duration, error) {
	work := make(chan T)
	var (
		wg       sync.WaitGroup
		firstErr atomic.Value
	)
	start := time.Now()
	for range inFlight {
		wg.Go(func() {
			for it := range work {
				if err := do(it); err != nil {
					firstErr.CompareAndSwap(nil, err)
				}
			}
		})
	}
	for _, it := range items {
		work <- it
	}
	close(work)
	wg.Wait()
	elapsed := time.Since(start)
	if err, ok := firstErr.Load().(error); ok {
		return elapsed, err
	}
	return elapsed, nil
}

// latencies collects durations and reports percentiles.
type latencies struct {
	mu  sync.Mutex
	all []time.Duration
}

func (l *latencies) add(d time.Duration) {
	l.mu.Lock()
	l.all = append(l.all, d)
	l.mu.Unlock()
}

func (l *latencies) percentile(p float64) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.all) == 0 {
		return 0
	}
	sorted := append([]time.Duration(nil), l.all...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
	return sorted[min(len(sorted)-1, int(p*float64(len(sorted))))]
}

func (l *latencies) mean() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	var total time.Duration
	for _, d := range l.all {
		total += d
	}
	return total / time.Duration(max(len(l.all), 1))
}

// noAuth accepts every request: for measuring what ingest does beyond the
// signature check.
type noAuth struct{}

func (noAuth) Verify(context.Context, signature.Request) error { return nil }

// signer signs requests as Upvest does, with a key of its own.
type signer struct {
	key *ecdsa.PrivateKey
	kid string
}

func newSigner(b testing.TB) signer {
	key, err := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	return signer{key: key, kid: "perf-key"}
}

func (s signer) keys() signature.StaticKeys { return signature.StaticKeys{s.kid: &s.key.PublicKey} }

// request builds the API Gateway event of a request, signed unless auth is off.
func unsignedRequest(body []byte) events.APIGatewayV2HTTPRequest {
	var req events.APIGatewayV2HTTPRequest
	req.RawPath = "/webhooks"
	req.RequestContext.HTTP.Method = "POST"
	req.RequestContext.Stage = "$default"
	req.Headers = map[string]string{"content-type": "application/json"}
	req.Body = string(body)
	return req
}

// countingWriter counts the bytes of log lines, which CloudWatch bills.
type countingWriter struct{ n atomic.Int64 }

func (w *countingWriter) Write(p []byte) (int, error) {
	w.n.Add(int64(len(p)))
	return len(p), nil
}

var _ io.Writer = (*countingWriter)(nil)

// The event source gives every event its own entities: no UUID of one event
// appears in another, and the id it reports is the event's.
func TestEventSourceRenewsEveryUUID(t *testing.T) {
	src := newEventSource(t)
	seen := map[string]int{}
	for i, e := range src.Events(3 * len(src.samples)) {
		var id struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(e.Raw, &id); err != nil || id.ID != e.ID {
			t.Fatalf("event %d: id %q in the body, %q reported (%v)", i, id.ID, e.ID, err)
		}
		for _, u := range uuidPattern.FindAllString(string(e.Raw), -1) {
			if owner, ok := seen[u]; ok && owner != i {
				t.Fatalf("UUID %s is in events %d and %d", u, owner, i)
			}
			seen[u] = i
		}
	}
	if len(seen) < 3*len(src.samples) {
		t.Fatalf("%d distinct UUIDs in %d events", len(seen), 3*len(src.samples))
	}
}
