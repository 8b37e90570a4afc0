// Package fanouttest holds an in-memory publisher for tests of ingest and
// replays, and the contract suite that both it and the SQS publisher pass.
package fanouttest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/fanout"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/message"
)

// Memory is an in-memory fanout.Publisher: one queue per configured domain.
// Set Err to make every Publish fail. Safe for concurrent use.
type Memory struct {
	mu     sync.Mutex
	queues map[events.Domain][]fanout.Message
	Err    error
}

var _ fanout.Publisher = (*Memory)(nil)

// NewMemory returns a publisher with a queue for each of domains.
func NewMemory(domains ...events.Domain) *Memory {
	m := &Memory{queues: map[events.Domain][]fanout.Message{}}
	for _, d := range domains {
		m.queues[d] = nil
	}
	return m
}

func (m *Memory) Publish(_ context.Context, msgs []fanout.Message) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.Err != nil {
		return m.Err
	}
	for _, msg := range msgs {
		if _, ok := m.queues[msg.Domain]; !ok {
			return fmt.Errorf("no queue configured for domain %q", msg.Domain)
		}
	}
	for _, msg := range msgs {
		msg.Raw = append([]byte(nil), msg.Raw...)
		m.queues[msg.Domain] = append(m.queues[msg.Domain], msg)
	}
	return nil
}

// Take removes and returns what a domain's queue holds, as a consumer sees it.
func (m *Memory) Take(domain events.Domain) []Received {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Received
	for _, msg := range m.queues[domain] {
		r := Received{EventID: msg.EventID, Domain: string(msg.Domain), Raw: msg.Raw}
		if events.ValidType(msg.EventType) {
			r.EventType = msg.EventType
		}
		if len(msg.Raw) > message.MaxInlineBody {
			r.Raw, r.InLedger = nil, msg.EventID
		}
		out = append(out, r)
	}
	m.queues[domain] = m.queues[domain][:0]
	return out
}

// Received is one message as a worker reads it.
type Received struct {
	EventID, EventType, Domain string
	Raw                        []byte // the event's bytes, unless InLedger
	InLedger                   string // the event id of a claim check
}

// Factory returns a publisher for every domain and a way to take up to want
// messages from a domain's queue.
type Factory func(t *testing.T) (fanout.Publisher, func(t *testing.T, d events.Domain, want int) []Received)

// RunContract holds a publisher to what ingest and the workers rely on.
func RunContract(t *testing.T, newPublisher Factory) {
	t.Run("any bytes arrive exactly, with routing attributes", func(t *testing.T) {
		t.Parallel()
		p, take := newPublisher(t)
		bodies := map[string]string{
			"utf8":        `{"id":"a","note":"Grüße"}`,
			"nonchars":    "{\"note\":\"\uFFFE\uFFFF\"}",
			"astral":      "{\"note\":\"\U0001F680\"}",
			"invalid":     "{\"note\":\"\xff\xfe\xc3\"}",
			"nul-escaped": `{"note":"\u0000"}`,
		}
		var msgs []fanout.Message
		for id, body := range bodies {
			msgs = append(msgs, fanout.Message{EventID: id, EventType: "ORDER.NEW", Domain: events.Orders, Raw: []byte(body)})
		}
		msgs = append(msgs, fanout.Message{EventID: "bad-type", EventType: "ORDER.\uFFFF", Domain: events.Orders, Raw: []byte(`{}`)})
		if err := p.Publish(context.Background(), msgs); err != nil {
			t.Fatal(err)
		}
		got := map[string]Received{}
		for _, r := range take(t, events.Orders, len(msgs)) {
			got[r.EventID] = r
		}
		for id, body := range bodies {
			r := got[id]
			if string(r.Raw) != body || r.EventType != "ORDER.NEW" || r.Domain != "orders" {
				t.Errorf("%s arrived as %+v", id, r)
			}
		}
		if r := got["bad-type"]; r.EventType != "" || string(r.Raw) != `{}` {
			t.Errorf("a malformed type must not travel as an attribute: %+v", r)
		}
	})
	t.Run("many and large messages", func(t *testing.T) {
		t.Parallel()
		p, take := newPublisher(t)
		var msgs []fanout.Message
		for i := range 23 { // 23 × 30 KB: more than one batch by count and by size
			msgs = append(msgs, fanout.Message{EventID: fmt.Sprintf("order-%02d", i), EventType: "ORDER.NEW", Domain: events.Orders,
				Raw: []byte(fmt.Sprintf(`{"id":"order-%02d","pad":"%s"}`, i, strings.Repeat("p", 30_000)))})
		}
		msgs = append(msgs, fanout.Message{EventID: "huge", EventType: "REPORT.CREATED", Domain: events.Reports, Raw: []byte(strings.Repeat("r", message.MaxInlineBody+10))})
		if err := p.Publish(context.Background(), msgs); err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, r := range take(t, events.Orders, 23) {
			if !strings.Contains(string(r.Raw), `"id":"`+r.EventID+`"`) {
				t.Errorf("message %s carries the wrong body", r.EventID)
			}
			ids = append(ids, r.EventID)
		}
		if slices.Sort(ids); len(ids) != 23 || ids[0] != "order-00" || ids[22] != "order-22" {
			t.Errorf("orders queue holds %v", ids)
		}
		if r := take(t, events.Reports, 1); len(r) != 1 || r[0].InLedger != "huge" || r[0].Raw != nil {
			t.Errorf("a large event travels as a claim check: %+v", r)
		}
	})
	t.Run("an unknown domain is an error", func(t *testing.T) {
		t.Parallel()
		p, _ := newPublisher(t)
		if err := p.Publish(context.Background(), []fanout.Message{{EventID: "x", Domain: "nowhere", Raw: []byte(`{}`)}}); err == nil {
			t.Error("want an error for a domain without a queue")
		}
	})
}
