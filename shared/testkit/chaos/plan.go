// Package chaos is an Upvest-like storm with an oracle: it generates signed
// requests carrying event lifecycles of several categories and poison, sends
// them shuffled, redelivered and retried as Upvest does, and then checks the
// pipeline's tables against what must be there. functions/chaos (`make
// chaos`) runs it against the local pipeline while faults are injected.
package chaos

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/shared/local/webhookclient"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/ingest"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/uuid"
)

// Event is one generated event and where it must end up.
type Event struct {
	ID  string
	Raw json.RawMessage
	// Route is the classification of a usable event; Poison events have none.
	Route  events.Route
	Poison PoisonKind
	// LedgerKey is where the ledger keeps it: the id, or for an event without
	// a usable id the content key ingest gives it.
	LedgerKey string
}

// PoisonKind names a kind of event or body that can never apply as it is.
type PoisonKind string

const (
	NotPoison    PoisonKind = ""
	BadEvent     PoisonKind = "bad-event"      // an id, but no valid timestamp
	NoID         PoisonKind = "no-id"          // no usable id: kept under its content
	InvalidUTF8  PoisonKind = "invalid-utf8"   // bytes that are not UTF-8 in a string
	Noncharacter PoisonKind = "noncharacter"   // U+FFFE in a string: valid UTF-8, must be kept whatever its fate
	Oversize     PoisonKind = "oversize"       // over DynamoDB's item size once in the state table
	NotEnvelope  PoisonKind = "non-envelope"   // a whole authentic body that is not {"payload": [...]}
	HugeValid    PoisonKind = "huge-but-valid" // not poison: claim-checked through the ledger, then applied
	// FarFuture is an event of a planned entity dated 9999-12-31: parked, it
	// must not keep the entity's real events from its row.
	FarFuture PoisonKind = "far-future"
	// OtherContent redelivers a planned event's id with other bytes, after
	// everything else was acknowledged: kept aside under its conflict key, the
	// planned event stays the one applied.
	OtherContent PoisonKind = "same-id-other-content"
)

// Must reports whether the pipeline must park it (rather than keep it in any settled state).
func (k PoisonKind) mustPark() bool {
	return k == BadEvent || k == NoID || k == InvalidUTF8 || k == Oversize || k == NotEnvelope || k == FarFuture || k == OtherContent
}

// Request is one webhook request body and the events it carries.
type Request struct {
	Body   []byte
	Events []*Event // empty for a body that is not an envelope
	// Key is the request record's ledger key for a body that is not an envelope.
	Key string
}

// Plan is a storm: the requests in sending order and every event in them.
type Plan struct {
	Requests []*Request
	Events   []*Event // the usable events (Route set) and the poison
	Bodies   []*Request
	// Redeliveries are sent once every request above is acknowledged.
	Redeliveries []*Request
}

// PlanOptions size a storm.
type PlanOptions struct {
	Events     int     // at least this many events in all
	MaxBatch   int     // events per request, 1..MaxBatch (default 10)
	PoisonRate float64 // share of poison among events (default 0.02)
	Seed       uint64
}

const (
	timeLayout = "2006-01-02T15:04:05.000000Z"
	webhookID  = "9df39835-be87-4243-9018-f2500b39cee6"
)

// NewPlan generates lifecycles of ORDER (with its EXECUTION), ACCOUNT,
// POSITION, CASH_BALANCE and REPORT, with poison mixed in, shuffled across
// requests of random sizes.
func NewPlan(opts PlanOptions) (*Plan, error) {
	if opts.MaxBatch < 1 {
		opts.MaxBatch = 10
	}
	if opts.PoisonRate == 0 {
		opts.PoisonRate = 0.02
	}
	rng := rand.New(rand.NewPCG(opts.Seed, opts.Seed+1))
	g := &generator{rng: rng, start: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	var evs []json.RawMessage
	for len(evs) < opts.Events {
		var err error
		var more []json.RawMessage
		switch rng.IntN(5) {
		case 0:
			more, err = webhookclient.GenerateOrderLifecycles(1, g.next())
		case 1:
			more = g.account()
		case 2:
			more = g.snapshots("POSITION.UPDATED", func() map[string]any {
				return map[string]any{"account_id": uuid.New(), "instrument": map[string]any{"uuid": uuid.New(), "isin": "US0378331005"}}
			})
		case 3:
			more = g.snapshots("CASH_BALANCE.UPDATED", func() map[string]any {
				return map[string]any{"account_group_id": uuid.New(), "currency": "EUR"}
			})
		case 4:
			more = g.report()
		}
		if err != nil {
			return nil, err
		}
		evs = append(evs, more...)
	}

	p := &Plan{}
	for _, raw := range evs {
		e, r, err := events.ClassifyRaw(raw)
		if err != nil {
			return nil, fmt.Errorf("generated event does not classify: %w", err)
		}
		p.Events = append(p.Events, &Event{ID: e.ID, Raw: raw, Route: r, LedgerKey: e.ID})
	}
	poisonCount := max(1, int(float64(len(evs))*opts.PoisonRate))
	kinds := []PoisonKind{BadEvent, NoID, InvalidUTF8, Noncharacter, Oversize, HugeValid}
	for i := range poisonCount {
		ev, err := g.poison(kinds[i%len(kinds)], i)
		if err != nil {
			return nil, err
		}
		p.Events = append(p.Events, ev)
	}

	// An event of a planned order dated 9999, and a planned order event's id
	// with other bytes: neither may change what the order's row ends up holding.
	if target := firstOf(p.Events, "ORDER"); target != nil {
		far, redelivery, err := againstEntity(target)
		if err != nil {
			return nil, err
		}
		p.Events = append(p.Events, far)
		req := &Request{Events: []*Event{redelivery}, Body: []byte(`{"payload":[` + string(redelivery.Raw) + `]}`)}
		p.Redeliveries = append(p.Redeliveries, req)
	}

	order := rng.Perm(len(p.Events))
	for i := 0; i < len(order); {
		n := min(1+rng.IntN(opts.MaxBatch), len(order)-i)
		req := &Request{}
		var raws []string
		for _, j := range order[i : i+n] {
			req.Events = append(req.Events, p.Events[j])
			raws = append(raws, string(p.Events[j].Raw))
		}
		// Built by hand, not by json.Marshal: the events' bytes go out as they are.
		req.Body = []byte(`{"payload":[` + strings.Join(raws, ",") + `]}`)
		p.Requests = append(p.Requests, req)
		i += n
	}
	for i := range max(1, poisonCount/3) {
		body := notEnvelopes[i%len(notEnvelopes)](i)
		sum := sha256.Sum256(body)
		req := &Request{Body: body, Key: ingest.RequestKeyPrefix + hex.EncodeToString(sum[:])}
		at := rng.IntN(len(p.Requests) + 1)
		p.Requests = append(p.Requests[:at], append([]*Request{req}, p.Requests[at:]...)...)
		p.Bodies = append(p.Bodies, req)
	}
	return p, nil
}

var notEnvelopes = []func(i int) []byte{
	func(i int) []byte { return fmt.Appendf(nil, `[{"id":"%d"}]`, i) },
	func(i int) []byte { return fmt.Appendf(nil, `{"data":[],"n":%d}`, i) },
	func(i int) []byte { return fmt.Appendf(nil, "not json %d", i) },
	func(i int) []byte { return fmt.Appendf(nil, `{"payload":{"n":%d}}`, i) },
}

type generator struct {
	rng   *rand.Rand
	start time.Time
	n     int
}

// next is a fresh start time for an entity's lifecycle.
func (g *generator) next() time.Time {
	g.n++
	return g.start.Add(time.Duration(g.n) * time.Minute)
}

func event(typ string, created time.Time, object map[string]any) json.RawMessage {
	raw, err := json.Marshal(map[string]any{
		"id": uuid.New(), "created_at": created.Format(timeLayout), "type": typ, "object": object,
		"webhook_id": webhookID,
	})
	if err != nil {
		panic(err) // maps of strings always marshal
	}
	return raw
}

// account is an ACCOUNT lifecycle of two to four steps, ordered by updated_at.
func (g *generator) account() []json.RawMessage {
	t0, id, group := g.next(), uuid.New(), uuid.New() // an account stays in its group
	var out []json.RawMessage
	for step, status := range []string{"CREATED", "ACTIVATED", "UPDATED", "LOCKED"}[:2+g.rng.IntN(3)] {
		at := t0.Add(time.Duration(step) * time.Second)
		out = append(out, event("ACCOUNT."+status, at, map[string]any{
			"id": id, "created_at": t0.Format(timeLayout), "updated_at": at.Format(timeLayout),
			"account_group_id": group, "type": "TRADING", "name": fmt.Sprintf("chaos %d", step), "status": status,
		}))
	}
	return out
}

// snapshots are one to four restatements of one entity, ordered by created_at.
func (g *generator) snapshots(typ string, key func() map[string]any) []json.RawMessage {
	t0, obj := g.next(), key()
	var out []json.RawMessage
	for step := range 1 + g.rng.IntN(4) {
		o := map[string]any{"quantity": fmt.Sprintf("%d.5", step)}
		for k, v := range obj {
			o[k] = v
		}
		out = append(out, event(typ, t0.Add(time.Duration(step)*time.Second), o))
	}
	return out
}

func (g *generator) report() []json.RawMessage {
	t0 := g.next()
	return []json.RawMessage{event("REPORT.CREATED", t0, map[string]any{
		"id": uuid.New(), "created_at": t0.Format(timeLayout), "user_id": uuid.New(), "type": "BUY_ORDER",
	})}
}

func (g *generator) poison(kind PoisonKind, i int) (*Event, error) {
	id, at := uuid.New(), g.next().Format(timeLayout)
	var raw string
	switch kind {
	case BadEvent:
		raw = fmt.Sprintf(`{"id":"%s","created_at":"yesterday","type":"ORDER.NEW","object":{"id":"%s"}}`, id, uuid.New())
	case NoID:
		raw = fmt.Sprintf(`{"type":"ORDER.NEW","note":"no id %d %s"}`, i, uuid.New())
	case InvalidUTF8:
		raw = fmt.Sprintf(`{"id":"%s","created_at":"%s","type":"ACCOUNT.CREATED","webhook_id":"%s","object":{"id":"%s","name":"bad `+"\xff\xfe"+` byte"}}`, id, at, webhookID, uuid.New())
	case Noncharacter:
		raw = fmt.Sprintf(`{"id":"%s","created_at":"%s","type":"ACCOUNT.CREATED","webhook_id":"%s","object":{"id":"%s","name":"odd `+"\uFFFE"+` rune"}}`, id, at, webhookID, uuid.New())
	case Oversize, HugeValid:
		size := 300 * 1024 // over a queue message, so claim-checked; fits a state row
		if kind == Oversize {
			size = 450 * 1024 // over DynamoDB's 400 KB item
		}
		raw = fmt.Sprintf(`{"id":"%s","created_at":"%s","type":"ORDER.NEW","webhook_id":"%s","object":{"id":"%s","created_at":"%s","status":"NEW","client_reference":"%s"}}`,
			id, at, webhookID, uuid.New(), at, strings.Repeat("x", size))
	default:
		return nil, fmt.Errorf("unknown poison kind %q", kind)
	}
	ev := &Event{ID: id, Raw: json.RawMessage(raw), Poison: kind, LedgerKey: id}
	if kind == NoID {
		sum := sha256.Sum256(ev.Raw)
		ev.ID, ev.LedgerKey = "", ingest.InvalidKeyPrefix+hex.EncodeToString(sum[:])
	}
	if kind == HugeValid {
		_, r, err := events.ClassifyRaw(ev.Raw)
		if err != nil {
			return nil, fmt.Errorf("huge event does not classify: %w", err)
		}
		ev.Route = r
	}
	return ev, nil
}

// firstOf returns the first planned event of category, if any.
func firstOf(evs []*Event, category string) *Event {
	for _, e := range evs {
		if e.Poison == NotPoison && e.Route.Category == category && e.Route.Parent == nil {
			return e
		}
	}
	return nil
}

// againstEntity makes the two poisons aimed at target's entity: a far-future
// event of it under a new id, and target's id with other bytes, ordered later
// than every planned event (so that, applied, it would hold the row).
func againstEntity(target *Event) (far, other *Event, err error) {
	var e map[string]any
	if err := json.Unmarshal(target.Raw, &e); err != nil {
		return nil, nil, fmt.Errorf("planned event does not decode: %w", err)
	}
	obj, _ := e["object"].(map[string]any)
	if obj == nil {
		return nil, nil, fmt.Errorf("planned event %s has no object", target.ID)
	}
	variant := func(id, updatedAt, status string) (json.RawMessage, error) {
		o := map[string]any{}
		for k, v := range obj {
			o[k] = v
		}
		o["updated_at"], o["status"] = updatedAt, status
		c := map[string]any{}
		for k, v := range e {
			c[k] = v
		}
		c["id"], c["object"] = id, o
		return json.Marshal(c)
	}
	farRaw, err := variant(uuid.New(), "9999-12-31T00:00:00.000000Z", "CANCELLED")
	if err != nil {
		return nil, nil, err
	}
	otherRaw, err := variant(target.ID, "2025-12-31T00:00:00.000000Z", "CANCELLED")
	if err != nil {
		return nil, nil, err
	}
	var farEvent struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(farRaw, &farEvent); err != nil {
		return nil, nil, err
	}
	far = &Event{ID: farEvent.ID, Raw: farRaw, Poison: FarFuture, LedgerKey: farEvent.ID}
	other = &Event{ID: target.ID, Raw: otherRaw, Poison: OtherContent, LedgerKey: ingest.ConflictKey(target.ID, otherRaw)}
	return far, other, nil
}
