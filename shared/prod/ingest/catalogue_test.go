package ingest_test

// The bad-input catalogue: one table (catalogue_cases_test.go) of requests as
// Upvest signs them, altered where a case is about tampering, each with the
// HTTP answer it must get and exactly what it must leave in the ledger and on
// the queues. It runs through the real HTTP adapter (shared/local/apigwhttp), the
// real ingest handler and the real signature verifier, once on the in-memory
// ledger and publisher and once on DynamoDB Local and the SQS server
// (catalogue_local_test.go). README's "HTTP answers" tables are checked
// against it (catalogue_readme_test.go).

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	upvest "github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/shared/local/apigwhttp"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/fanout"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/fanout/fanouttest"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/ingest"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/ledger"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/ledger/ledgertest"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/observability"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/signature"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/state"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/state/statetest"
)

// entry is one catalogue case.
type entry struct {
	name string
	body []byte // what Upvest signs and sends

	sign  signing          // how it is signed (zero: draft 06, dev key, now)
	alter func(w *wire)    // what happens to the request after signing
	gate  func(e *gwEvent) // what a broken gateway does to the Lambda event
	fault fault            // a dependency failing now

	status  int            // the HTTP answer
	summary ingest.Summary // the 200 answer's body
	kept    []keep         // exactly the ledger records afterwards
	sent    queues         // exactly the event ids on each domain queue afterwards
	row     string         // the README "kept as" row this case shows, by a phrase of its first column

	before  [][]byte  // requests Upvest sent earlier, each answered 200 (their messages are not in sent)
	applied bool      // the earlier requests' events went through their workers before this request
	rows    stateRows // exactly the state rows once every queued event went through its worker (nil: not checked)
}

type gwEvent = events.APIGatewayV2HTTPRequest

// signing says how a case is signed, as Upvest would sign it.
type signing struct {
	draft   signature.Draft // 0: draft 06
	age     time.Duration   // signed this long ago (negative: in the future)
	kid     string          // a keyid other than the dev key's
	foreign bool            // signed with a key the receiver does not hold, under the dev keyid
	extra   string          // parameters appended to signature-input before signing, e.g. `;tag="x"`
}

// fault is a dependency failing while the request is handled.
type fault int

const (
	noFault    fault = iota
	ledgerDown       // every ledger write fails
	queuesDown       // every send to a queue fails
	keysDown         // the verification keys cannot be loaded
)

// keep is one ledger record as it must be stored.
type keep struct {
	key    string
	kind   ledger.Kind
	status ledger.Status
	where  string // RECEIVED: its domain; PARKED: the parked index partition listing it
	reason string // a substring of the stored reason ("" for RECEIVED)
	raw    []byte // the exact bytes kept
}

// queues is the event ids each domain queue holds (in any order).
type queues map[upvest.Domain][]string

func received(id string, d upvest.Domain, raw []byte) keep {
	return keep{key: id, status: ledger.Received, where: string(d), raw: raw}
}

func parked(id string, d upvest.Domain, raw []byte, reason string) keep {
	return keep{key: id, status: ledger.Parked, where: string(d), reason: reason, raw: raw}
}

// parkedByContent is an event without a usable id, keyed by its bytes' digest.
func parkedByContent(d upvest.Domain, raw []byte, reason string) keep {
	return parked(ingest.InvalidKeyPrefix+sha(raw), d, raw, reason)
}

// keptRequest is an authentic body that is not an envelope, kept whole.
func keptRequest(body []byte, reason string) keep {
	return keep{key: ingest.RequestKeyPrefix + sha(body), kind: ledger.KindRequest, status: ledger.Parked,
		where: ledger.RequestsPartition, reason: reason, raw: body}
}

func sha(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// wire is a request as it travels: header lines in order, as written.
type wire struct {
	method string
	header [][2]string
	body   []byte
	from   string // the client's IP
}

// Upvest's sandbox egress address; the receiver allows only those.
const upvestIP = "34.90.198.99"

func (w *wire) drop(name string) {
	kept := w.header[:0]
	for _, h := range w.header {
		if !strings.EqualFold(h[0], name) {
			kept = append(kept, h)
		}
	}
	w.header = kept
}

func (w *wire) get(name string) string {
	for _, h := range w.header {
		if strings.EqualFold(h[0], name) {
			return h[1]
		}
	}
	return ""
}

func (w *wire) set(name, value string) {
	w.drop(name)
	w.header = append(w.header, [2]string{name, value})
}

func (w *wire) add(name, value string) { w.header = append(w.header, [2]string{name, value}) }

// httpRequest parses the request the way an HTTP server does.
func (w *wire) httpRequest(t testing.TB) *http.Request {
	t.Helper()
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s /webhooks HTTP/1.1\r\nHost: webhooks.example.com\r\n", w.method)
	for _, h := range w.header {
		fmt.Fprintf(&b, "%s: %s\r\n", h[0], h[1])
	}
	fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n", len(w.body))
	b.Write(w.body)
	r, err := http.ReadRequest(bufio.NewReader(&b))
	if err != nil {
		t.Fatalf("request does not parse: %v", err)
	}
	r.RemoteAddr = w.from + ":41234"
	return r
}

// keys are the dev key pair (the receiver's JWKS holds its public half) and a
// key the receiver does not know.
type keys struct {
	dev     *ecdsa.PrivateKey
	kid     string
	jwks    []byte
	foreign *ecdsa.PrivateKey
}

func newKeys(t testing.TB) keys {
	t.Helper()
	pemKey, jwks, kid, err := signature.GenerateDevKey()
	if err != nil {
		t.Fatal(err)
	}
	dev, err := signature.LoadPrivateKeyPEM(pemKey)
	if err != nil {
		t.Fatal(err)
	}
	otherPEM, _, _, err := signature.GenerateDevKey()
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := signature.LoadPrivateKeyPEM(otherPEM)
	if err != nil {
		t.Fatal(err)
	}
	return keys{dev: dev, kid: kid, jwks: jwks, foreign: foreign}
}

// signed returns the case's request as Upvest sends it, before any alteration.
func (k keys) signed(t testing.TB, c entry) *wire {
	t.Helper()
	draft := c.sign.draft
	if draft == 0 {
		draft = signature.Draft06
	}
	key, kid := k.dev, k.kid
	if c.sign.foreign {
		key = k.foreign
	}
	if c.sign.kid != "" {
		kid = c.sign.kid
	}
	req := signature.Request{Method: http.MethodPost, Path: "/webhooks",
		Header: http.Header{"Content-Type": {"application/json"}}, Body: c.body}
	added, err := signature.SignDraft(draft, req, key, kid, time.Now().Add(-c.sign.age), "")
	if err != nil {
		t.Fatal(err)
	}
	if c.sign.extra != "" {
		added = signWithExtraParams(t, draft, req, added, key, c.sign.extra)
	}
	w := &wire{method: http.MethodPost, body: c.body, from: upvestIP}
	w.add("Content-Type", "application/json")
	names := make([]string, 0, len(added))
	for name := range added {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		for _, v := range added[name] {
			w.add(name, v)
		}
	}
	return w
}

// answer is what the client got back.
type answer struct {
	status int
	body   map[string]any
}

// stack is one ingest handler behind the HTTP adapter, with what it stores.
type stack struct {
	handler http.Handler
	records func(t *testing.T) map[string]ledger.Stored
	queued  func(t *testing.T, want queues) map[upvest.Domain][]fanout.Message
	work    func(t *testing.T, msgs map[upvest.Domain][]fanout.Message) // the domains' real workers, on this stack's ledger and state tables
	rows    func(t *testing.T) map[string]state.Row                     // every state row
}

// backend builds a fresh stack for one case.
type backend func(t *testing.T, k keys, c entry) stack

// newHandler wires the real verifier, allowlist and ingest handler behind the
// HTTP adapter, with a gateway hook for the cases about a broken gateway.
func newHandler(t testing.TB, k keys, c entry, l ingest.Ledger, p fanout.Publisher) http.Handler {
	t.Helper()
	load := func(context.Context) ([]byte, error) { return k.jwks, nil }
	if c.fault == keysDown {
		load = func(context.Context) ([]byte, error) { return nil, errors.New("ssm: throttled") }
	}
	verifier := signature.NewVerifier(signature.NewCachedKeys(load, signature.CachedKeysOptions{}), signature.Options{})
	allow, err := signature.ParseAllowlist("sandbox")
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	svc := ingest.New(verifier, allow, l, p, log, observability.NewMetrics(io.Discard, "ingest"), ingest.Options{})
	return apigwhttp.Handler(func(ctx context.Context, e gwEvent) (events.APIGatewayV2HTTPResponse, error) {
		if c.gate != nil {
			c.gate(&e)
		}
		return svc.Handle(ctx, e)
	})
}

// memoryBackend is the ingest handler on ledgertest.Memory and fanouttest.Memory.
func memoryBackend(t *testing.T, k keys, c entry) stack {
	l := ledgertest.NewMemory(nil)
	p := fanouttest.NewMemory(upvest.Domains()...)
	st := statetest.NewMemory()
	switch c.fault {
	case ledgerDown:
		l.ClaimErr = errors.New("dynamodb: ProvisionedThroughputExceededException")
	case queuesDown:
		p.Err = errors.New("sqs: ServiceUnavailable")
	}
	return stack{
		handler: newHandler(t, k, c, l, p),
		records: func(t *testing.T) map[string]ledger.Stored {
			out := map[string]ledger.Stored{}
			for _, key := range l.Keys() {
				s, err := l.Read(context.Background(), key)
				if err != nil {
					t.Fatal(err)
				}
				out[key] = s
			}
			return out
		},
		queued: func(t *testing.T, _ queues) map[upvest.Domain][]fanout.Message {
			out := map[upvest.Domain][]fanout.Message{}
			for _, d := range upvest.Domains() {
				for _, r := range p.Take(d) {
					raw := r.Raw
					if r.InLedger != "" {
						s, err := l.Read(context.Background(), r.InLedger)
						if err != nil {
							t.Fatalf("claim check %s: %v", r.InLedger, err)
						}
						raw = s.Raw
					}
					out[d] = append(out[d], fanout.Message{EventID: r.EventID, EventType: r.EventType, Domain: d, Raw: raw})
				}
			}
			return out
		},
		work: func(t *testing.T, msgs map[upvest.Domain][]fanout.Message) {
			runWorkers(t, l, func(upvest.Domain) state.Store { return st }, msgs)
		},
		rows: func(t *testing.T) map[string]state.Row {
			out := map[string]state.Row{}
			for _, pk := range st.Keys() {
				out[pk], _ = st.Row(pk)
			}
			return out
		},
	}
}

func TestCatalogueInMemory(t *testing.T) {
	runCatalogue(t, memoryBackend)
}

// runCatalogue runs every case on fresh stacks of the backend, in parallel.
func runCatalogue(t *testing.T, newStack backend) {
	k := newKeys(t)
	for _, c := range catalogue() {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := newStack(t, k, c)
			early := sendBefore(t, k, s, c)
			w := k.signed(t, c)
			if c.alter != nil {
				c.alter(w)
			}
			got := send(t, s.handler, w)
			checkAnswer(t, c, got)
			checkLedger(t, c, s.records(t))
			msgs := s.queued(t, c.sent)
			checkQueues(t, c, msgs)
			if c.rows != nil {
				s.work(t, merged(early, msgs))
				checkRows(t, c, s.rows(t))
			}
		})
	}
}

func send(t *testing.T, h http.Handler, w *wire) answer {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, w.httpRequest(t))
	got := answer{status: rec.Code}
	if err := json.Unmarshal(rec.Body.Bytes(), &got.body); err != nil {
		t.Fatalf("answer %d is not a JSON object: %q", rec.Code, rec.Body.String())
	}
	return got
}

func checkAnswer(t *testing.T, c entry, got answer) {
	t.Helper()
	if got.status != c.status {
		t.Fatalf("answered %d %v, want %d", got.status, got.body, c.status)
	}
	if c.status != http.StatusOK {
		return
	}
	want := map[string]any{}
	b, _ := json.Marshal(c.summary)
	_ = json.Unmarshal(b, &want)
	if fmt.Sprint(got.body) != fmt.Sprint(want) {
		t.Errorf("answered %v, want %v", got.body, want)
	}
}

func checkLedger(t *testing.T, c entry, got map[string]ledger.Stored) {
	t.Helper()
	want := map[string]keep{}
	for _, k := range c.kept {
		want[k.key] = k
	}
	for key := range got {
		if _, ok := want[key]; !ok {
			t.Errorf("ledger holds %s (%s, %q), which the case does not expect", short(key), got[key].Status, got[key].Reason)
		}
	}
	for key, w := range want {
		s, ok := got[key]
		switch {
		case !ok:
			t.Errorf("ledger lacks %s", short(key))
			continue
		case s.Kind != w.kind || s.Status != w.status:
			t.Errorf("%s stored as %q %s, want %q %s (reason %q)", short(key), s.Kind, s.Status, w.kind, w.status, s.Reason)
		case w.status == ledger.Parked && s.Parked != w.where:
			t.Errorf("%s parked in %q, want %q", short(key), s.Parked, w.where)
		case w.status != ledger.Parked && string(s.Domain) != w.where:
			t.Errorf("%s routed to %q, want %q", short(key), s.Domain, w.where)
		case !strings.Contains(s.Reason, w.reason) || (w.reason == "") != (s.Reason == ""):
			t.Errorf("%s reason %q, want one containing %q", short(key), s.Reason, w.reason)
		case !bytes.Equal(s.Raw, w.raw):
			t.Errorf("%s keeps %d bytes that differ from the %d sent", short(key), len(s.Raw), len(w.raw))
		}
		if len(s.Reason) > 1000 || len(s.EventType) > 256 || len(s.EventID) > 1024 {
			t.Errorf("%s: unbounded label (reason %d, type %d, key %d bytes)", short(key), len(s.Reason), len(s.EventType), len(s.EventID))
		}
	}
}

// checkQueues insists each queue holds exactly the expected events, each
// message carrying the bytes the ledger keeps for it.
func checkQueues(t *testing.T, c entry, got map[upvest.Domain][]fanout.Message) {
	t.Helper()
	kept := map[string][]byte{}
	for _, k := range c.kept {
		kept[k.key] = k.raw
	}
	for _, d := range upvest.Domains() {
		var ids []string
		for _, m := range got[d] {
			ids = append(ids, m.EventID)
			if !bytes.Equal(m.Raw, kept[m.EventID]) {
				t.Errorf("%s message %s carries %d bytes that differ from the event's %d", d, short(m.EventID), len(m.Raw), len(kept[m.EventID]))
			}
		}
		want := append([]string(nil), c.sent[d]...)
		sort.Strings(ids)
		sort.Strings(want)
		if strings.Join(ids, ",") != strings.Join(want, ",") {
			t.Errorf("%s queue holds %d messages %v, want %d %v", d, len(ids), shortAll(ids), len(want), shortAll(want))
		}
	}
}

func short(s string) string {
	if len(s) > 60 {
		return s[:60] + "..."
	}
	return s
}

func shortAll(ids []string) []string {
	if len(ids) > 5 {
		return append(shortAll(ids[:5]), fmt.Sprintf("... %d more", len(ids)-5))
	}
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = short(id)
	}
	return out
}
