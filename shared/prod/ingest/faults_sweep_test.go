package ingest_test

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	upvest "github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/shared/local/faults"
	"github.com/upvest-webhooks/upvest-webhooks/shared/local/localaws/awstest"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/fanout"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/ingest"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/ledger"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/message"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/observability"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/signature"
)

// outage is a cutAt kind: every call from the n-th on fails, as if the
// function died there (its ENQUEUED marks fail too).
const outage faults.Kind = "outage"

// cutAt is a fault script: the n-th data-plane SDK call of a request (counted
// as the calls start, so "after some claims", "after some sends", "after
// the last send") meets kind: timeout (it takes effect, the caller hears an
// error, as when the deadline passes mid-call), final (it never takes
// effect), partial (a SendMessageBatch with entries failed) or outage.
type cutAt struct {
	mu    sync.Mutex
	n     int
	kind  faults.Kind
	calls int
}

func (c *cutAt) draw(k faults.Kind) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch k {
	case faults.Partial:
		// Drawn before Final on a SendMessageBatch: count the call here.
		c.calls++
		if c.kind == faults.Partial && c.calls == c.n {
			return true
		}
		c.calls-- // counted again at Final
		return false
	case faults.Final:
		c.calls++
		return (c.kind == faults.Final && c.calls == c.n) || (c.kind == outage && c.calls >= c.n)
	case faults.Timeout:
		return c.kind == faults.Timeout && c.calls == c.n
	}
	return false
}

// Wherever a request is cut (a ledger write or a send that fails, or takes
// effect while its caller hears an error), Upvest's redelivery ends with every
// event recorded and on its queue (a claim-checked large one included) and the
// parked one kept: nothing a failed request leaves behind is trusted wrongly.
func TestACutAtAnyCallIsRepairedByTheRedelivery(t *testing.T) {
	t.Parallel()
	env := awstest.Env(t)
	key := newHarness(t).key // a signing key; its harness is not used
	large := strings.Repeat("x", message.MaxInlineBody)
	tmpl := []string{
		`{"id":"x","created_at":"2024-01-01T00:00:00Z","type":"ORDER.NEW","object":{"id":"o-%d","status":"NEW"},"webhook_id":"w"}`,
		`{"id":"x","created_at":"2024-01-01T00:00:00Z","type":"POSITION.UPDATED","object":{"account_id":"a-%d","instrument":{"uuid":"u"}},"webhook_id":"w"}`,
		`{"id":"x","created_at":"2024-01-01T00:00:00Z","type":"ORDER.FILLED","object":{"id":"o-%d","status":"FILLED","note":"` + large + `"},"webhook_id":"w"}`,
		`{"id":"x","created_at":"2024-01-01T00:00:00Z","type":"SPACESHIP.LAUNCHED","object":{"id":"s-%d"},"webhook_id":"w"}`,
		`{"id":"x","created_at":"2024-01-01T00:00:00Z","type":"ORDER.NEW","object":{"status":"NEW","n":%d},"webhook_id":"w"}`, // parked: no object.id
	}
	domains := []upvest.Domain{upvest.Orders, upvest.Holdings, upvest.Orders, upvest.Unrouted, ""}

	var partials int
	run := func(t *testing.T, script *cutAt, round int) (calls int) {
		cfg := env.Config.Copy()
		var mu sync.Mutex
		injected := map[faults.Kind]int{}
		record := func(k faults.Kind) {
			mu.Lock()
			defer mu.Unlock()
			injected[k]++
		}
		faults.New(faults.Config{}, faults.Options{Seed: 1, Draw: script.draw, Record: record}).Install(&cfg)
		svc := ingest.New(signature.NewVerifier(signature.StaticKeys{keyID: &key.PublicKey}, signature.Options{}), nil,
			ledger.NewDynamo(dynamodb.NewFromConfig(cfg), env.LedgerTable, ledger.WithRetention(24*time.Hour)),
			fanout.NewSQS(sqs.NewFromConfig(cfg), env.QueueURLs), slog.New(slog.NewJSONHandler(io.Discard, nil)),
			observability.NewMetrics(io.Discard, "ingest"), ingest.Options{PublicPath: "/webhooks", Concurrency: 4})
		h := &harness{env: env, service: svc, key: key}

		var evs []json.RawMessage
		want := map[upvest.Domain]map[string]bool{}
		var parkedID string
		for i, s := range tmpl {
			e, id := withFreshID(t, []byte(fmt.Sprintf(s, round*10+i)))
			evs = append(evs, e)
			if d := domains[i]; d != "" {
				if want[d] == nil {
					want[d] = map[string]bool{}
				}
				want[d][id] = true
			} else {
				parkedID = id
			}
		}
		body := envelope(t, evs...)
		first, _ := h.post(t, body, false)
		script.mu.Lock()
		calls, kind := script.calls, script.kind
		script.kind = "" // Upvest's redeliveries meet no fault
		script.mu.Unlock()
		counted := kind
		if kind == outage {
			counted = faults.Final
		}
		mu.Lock()
		n := injected[counted]
		mu.Unlock()
		switch {
		case kind == faults.Partial:
			partials += n // only the sends can meet it
		case kind == outage && (n == 0 || first == http.StatusOK):
			t.Fatalf("an outage from call %d: %d calls failed, answered %d", script.n, n, first)
		case kind != "" && kind != outage && n != 1:
			t.Fatalf("%s injected %d times, want once", kind, n)
		}
		status := first
		for try := 0; status != http.StatusOK; try++ {
			if try == 2 {
				t.Fatalf("redelivery %d answered %d", try+1, status)
			}
			status, _ = h.post(t, body, false)
		}
		for d, ids := range want {
			got := map[string]bool{}
			for _, m := range awstest.ReceiveAll(t, env.SQS, env.QueueURLs[d], len(ids), 20*time.Second) {
				got[aws.ToString(m.MessageAttributes[message.AttrEventID].StringValue)] = true
			}
			for id := range ids {
				if !got[id] {
					t.Errorf("%s is not on the %s queue (ledger: %s)", id, d, h.ledgerStatus(t, id))
				}
				if s := h.ledgerStatus(t, id); s != string(ledger.Received) && s != string(ledger.Enqueued) {
					t.Errorf("%s is %q in the ledger", id, s)
				}
			}
			awstest.DrainCount(t, env.SQS, env.QueueURLs[d]) // the redelivery's copies
		}
		if s := h.ledgerStatus(t, parkedID); s != string(ledger.Parked) {
			t.Errorf("the parked event is %q", s)
		}
		if t.Failed() {
			t.Logf("first answer %d", first)
		}
		return calls
	}

	clean := run(t, &cutAt{}, 0)
	if clean < len(tmpl)+2 {
		t.Fatalf("a clean request made %d calls; the sweep would cut nothing", clean)
	}
	round := 1
	for _, kind := range []faults.Kind{faults.Timeout, faults.Final, faults.Partial, outage} {
		for n := 1; n <= clean; n++ {
			t.Run(fmt.Sprintf("%s at call %d of %d", kind, n, clean), func(t *testing.T) {
				run(t, &cutAt{n: n, kind: kind}, round)
			})
			round++
		}
	}
	if partials == 0 {
		t.Error("no partial failure was injected: the sweep never cut a send")
	}
}
