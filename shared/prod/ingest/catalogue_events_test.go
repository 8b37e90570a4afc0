package ingest_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"

	upvest "github.com/upvest-webhooks/upvest-webhooks/events"
)

// The events the catalogue sends. Every case gets its own ledger and queues,
// so cases may share ids.

const (
	idA       = "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa"
	idB       = "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb"
	idC       = "cccccccc-cccc-4ccc-8ccc-cccccccccccc"
	webhookID = "9df39835-be87-4243-9018-f2500b39cee6"
)

// ev is an event; an empty field is left out, and object is raw JSON.
type ev struct {
	id, createdAt, typ, object, webhookID string
}

// order is a well-formed ORDER.NEW event.
func order(id string) ev {
	return ev{id: id, createdAt: "2024-01-02T03:04:05.123Z", typ: "ORDER.NEW",
		object: `{"id":"o-` + id[:4] + `","status":"NEW","currency":"EUR"}`, webhookID: webhookID}
}

func (e ev) with(f func(*ev)) ev { f(&e); return e }

func (e ev) bytes() []byte {
	var fields []string
	add := func(name, value string, raw bool) {
		if value == "" {
			return
		}
		if !raw {
			b, _ := json.Marshal(value) // a string always marshals
			value = string(b)
		}
		fields = append(fields, fmt.Sprintf("%q:%s", name, value))
	}
	add("id", e.id, false)
	add("created_at", e.createdAt, false)
	add("type", e.typ, false)
	add("object", e.object, true)
	add("webhook_id", e.webhookID, false)
	return []byte("{" + strings.Join(fields, ",") + "}")
}

// payload is the envelope Upvest sends around events.
func payload(events ...[]byte) []byte {
	parts := make([]string, len(events))
	for i, e := range events {
		parts[i] = string(e)
	}
	return []byte(`{"payload":[` + strings.Join(parts, ",") + `]}`)
}

var (
	orderA    = order(idA).bytes()
	orderB    = order(idB).bytes()
	positionC = ev{id: idC, createdAt: "2024-01-02T03:04:05Z", typ: "POSITION.UPDATED",
		object: `{"account_id":"acc-1","instrument":{"uuid":"ins-1"},"quantity":"3"}`, webhookID: webhookID}.bytes()

	// tooDeep nests its object deeper than encoding/json decodes (10,000 levels).
	tooDeep = order(idB).with(func(e *ev) {
		e.object = strings.Repeat(`{"a":`, 20_000) + "1" + strings.Repeat("}", 20_000)
	}).bytes()

	// fiveMB is one event of 5 MB that gzip cannot shrink much, so that the
	// ledger splits it over several items and it travels as a claim check.
	fiveMB = order(idA).with(func(e *ev) {
		e.object = `{"id":"o-big","status":"NEW","note":"` + noise(5_000_000) + `"}`
	}).bytes()
)

// noise is n deterministic letters and digits that compress poorly.
func noise(n int) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	r := rand.New(rand.NewPCG(7, 11))
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[r.IntN(len(alphabet))]
	}
	return string(b)
}

// onePackage is Upvest's largest package, 1 MiB of small order events, with
// what it must leave behind.
func onePackage() (body []byte, kept []keep, ids []string) {
	var events [][]byte
	size := len(`{"payload":[]}`)
	for i := 0; ; i++ {
		id := fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i)
		e := order(id).with(func(e *ev) {
			e.object = fmt.Sprintf(`{"id":"o-%d","status":"NEW","currency":"EUR","side":"BUY","quantity":"1.5","note":%q}`, i, strings.Repeat("x", 400))
		}).bytes()
		if size+len(e)+1 > 1<<20 {
			break
		}
		size += len(e) + 1
		events = append(events, e)
		kept = append(kept, received(id, upvest.Orders, e))
		ids = append(ids, id)
	}
	return payload(events...), kept, ids
}
