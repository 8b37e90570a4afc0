package ingest_test

import (
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"time"

	upvest "github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/ingest"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/signature"
)

// README "kept as" rows, by a phrase of their first column.
const (
	rowNotEnvelope = "a body that is not"
	rowUndecodable = "an event that does not decode"
	rowMissing     = "an event missing fields"
	rowUnrouted    = "an event of a category the routing table lacks"
	rowAnyBytes    = "any bytes in strings"
	rowAnySize     = "an event of any size"
)

// Alterations after signing.
var (
	dropHeader = func(name string) func(*wire) { return func(w *wire) { w.drop(name) } }
	setHeader  = func(name, value string) func(*wire) { return func(w *wire) { w.set(name, value) } }
	addHeader  = func(name, value string) func(*wire) { return func(w *wire) { w.add(name, value) } }
	// editBody changes the body after signing, leaving the headers as signed.
	editBody = func(old, new string) func(*wire) {
		return func(w *wire) { w.body = []byte(strings.Replace(string(w.body), old, new, 1)) }
	}
)

func catalogue() []entry {
	one := payload(orderA)
	oneOK := ingest.Summary{Received: 1, Enqueued: 1}
	oneKept := []keep{received(idA, upvest.Orders, orderA)}
	oneSent := queues{upvest.Orders: {idA}}

	pkg, pkgKept, pkgIDs := onePackage()

	cases := []entry{
		// The baseline: a request as Upvest sends it, in either draft.
		{name: "draft-06 signed event", body: one, status: 200, summary: oneOK, kept: oneKept, sent: oneSent},
		{name: "draft-15 signed event with content-digest", body: one, sign: signing{draft: signature.Draft15},
			status: 200, summary: oneOK, kept: oneKept, sent: oneSent},

		// Signature.
		{name: "signature missing", body: one, alter: dropHeader("Signature"), status: 401},
		{name: "signature-input missing", body: one, alter: dropHeader("Signature-Input"), status: 401},
		{name: "signature bytes altered", body: one, alter: func(w *wire) {
			sig := w.get("Signature")
			w.set("Signature", sig[:20]+flip(sig[20])+sig[21:])
		}, status: 401},
		{name: "signature not base64", body: one, alter: setHeader("Signature", "sig1=:not base64!:"), status: 401},
		{name: "signature under another label", body: one, alter: func(w *wire) {
			w.set("Signature", strings.Replace(w.get("Signature"), "sig1=", "sig2=", 1))
		}, status: 401},
		{name: "signature-input malformed", body: one, alter: setHeader("Signature-Input", "sig1=(@method"), status: 401},
		{name: "signature expired", body: one, sign: signing{age: 3 * time.Minute}, status: 401},
		{name: "signature too old", body: one, sign: signing{age: time.Hour}, status: 401},
		{name: "signature from the future", body: one, sign: signing{age: -10 * time.Minute}, status: 401},
		{name: "signature a little in the future (clock skew)", body: one, sign: signing{age: -30 * time.Second},
			status: 200, summary: oneOK, kept: oneKept, sent: oneSent},
		{name: "unknown keyid", body: one, sign: signing{kid: "6a3f9c1e-0000-4000-8000-000000000000"}, status: 401},
		{name: "wrong key under the dev keyid", body: one, sign: signing{foreign: true}, status: 401},
		{name: "unknown signature-input parameter accepted (draft 06)", body: one, sign: signing{extra: `;tag="upvest-next"`},
			status: 200, summary: oneOK, kept: oneKept, sent: oneSent},
		{name: "unknown signature-input parameter accepted (draft 15)", body: one,
			sign:   signing{draft: signature.Draft15, extra: `;alg="ecdsa-p521-sha512";tag="x"`},
			status: 200, summary: oneOK, kept: oneKept, sent: oneSent},
		{name: "signed path differs", body: one, alter: func(w *wire) {
			w.set("Signature-Input", strings.Replace(w.get("Signature-Input"), `"@path"`, `"@query"`, 1))
		}, status: 401},
		{name: "covered header changed after signing", body: one, alter: setHeader("Content-Type", "text/plain"), status: 401},
		{name: "method not covered", body: one, alter: func(w *wire) {
			w.set("Signature-Input", strings.Replace(w.get("Signature-Input"), ` "@method"`, "", 1))
		}, status: 401},

		// Digest.
		{name: "body changed after signing (digest mismatch)", body: one, alter: editBody("EUR", "USD"), status: 401},
		{name: "draft-15 body changed after signing (content-digest mismatch)", body: one,
			sign: signing{draft: signature.Draft15}, alter: editBody("EUR", "USD"), status: 401},
		{name: "digest and body both changed", body: one, alter: func(w *wire) {
			editBody("EUR", "USD")(w)
			w.set("Digest", "SHA-256="+b64sha256(w.body))
		}, status: 401},
		{name: "digest missing", body: one, alter: dropHeader("Digest"), status: 401},
		{name: "content-digest missing (draft 15)", body: one, sign: signing{draft: signature.Draft15},
			alter: dropHeader("Content-Digest"), status: 401},
		{name: "digest of another algorithm", body: one, alter: setHeader("Digest", "MD5=rL0Y20zC+Fzt72VPzMSk2A=="), status: 401},
		{name: "content-digest malformed (draft 15)", body: one, sign: signing{draft: signature.Draft15},
			alter: setHeader("Content-Digest", "sha-512=abc"), status: 401},
		{name: "draft-15 without its version header (told by content-digest)", body: one, sign: signing{draft: signature.Draft15},
			alter: dropHeader("Upvest-Signature-Version"), status: 200, summary: oneOK, kept: oneKept, sent: oneSent},

		// Headers.
		{name: "header names in upper case", body: one, alter: func(w *wire) {
			for i := range w.header {
				w.header[i][0] = strings.ToUpper(w.header[i][0])
			}
		}, status: 200, summary: oneOK, kept: oneKept, sent: oneSent},
		// Upvest sends each header once; a label repeated by something in
		// between is ambiguous, and shared/prod/signature refuses it.
		{name: "signature header sent twice", body: one, alter: func(w *wire) { w.add("Signature", w.get("Signature")) }, status: 401},
		{name: "covered header sent twice", body: one, alter: addHeader("Content-Type", "application/json"), status: 401},
		{name: "second digest header with another value", body: one, alter: addHeader("Digest", "SHA-256="+b64sha256([]byte("x"))), status: 401},
		{name: "uncovered header added", body: one, alter: addHeader("X-Forwarded-For", "10.0.0.1"),
			status: 200, summary: oneOK, kept: oneKept, sent: oneSent},

		// Transport.
		{name: "wrong method", body: one, alter: func(w *wire) { w.method = "PUT" }, status: 405},
		{name: "source IP outside the allowlist", body: one, alter: func(w *wire) { w.from = "203.0.113.7" }, status: 403},
		{name: "base64 body from the gateway", body: one,
			gate:   func(e *gwEvent) { e.Body, e.IsBase64Encoded = b64(e.Body), true },
			status: 200, summary: oneOK, kept: oneKept, sent: oneSent},
		{name: "undecodable base64 body from a broken gateway", body: one,
			gate: func(e *gwEvent) { e.Body, e.IsBase64Encoded = "%%%not base64", true }, status: 400},

		// Dependencies failing now.
		{name: "ledger failing", body: one, fault: ledgerDown, status: 500},
		{name: "queues failing", body: one, fault: queuesDown, status: 500, kept: oneKept},
		{name: "keys unavailable", body: one, fault: keysDown, status: 503},

		// Bodies that are not envelopes: kept whole, answered 200.
		notEnvelope("empty body", "", "want an object"),
		notEnvelope("not JSON", "hello upvest", "want an object"),
		notEnvelope("bare array", "["+string(orderA)+"]", "want an object"),
		notEnvelope("byte-order mark", "\xef\xbb\xbf"+string(one), "want an object"),
		notEnvelope("trailing bytes", string(one)+"x", "trailing bytes"),
		notEnvelope("two envelopes", string(one)+string(one), "trailing bytes"),
		notEnvelope("no payload", `{"events":[`+string(orderA)+`]}`, "no payload"),
		notEnvelope("payload an object", `{"payload":`+string(orderA)+`}`, "not an Upvest envelope"),
		notEnvelope("payload null", `{"payload":null}`, "not an Upvest envelope"),
		notEnvelope("envelope cut short", string(one[:len(one)-2]), "not an Upvest envelope"),
		notEnvelope("invalid UTF-8 between events", "{\"payload\":[\xff]}", "not an Upvest envelope"),

		// Envelopes.
		{name: "empty payload", body: []byte(`{"payload":[]}`), status: 200},
		{name: "unknown top-level fields", body: []byte(`{"version":2,"payload":[` + string(orderA) + `],"next":null}`),
			status: 200, summary: oneOK, kept: oneKept, sent: oneSent},
		{name: "pretty-printed envelope", body: []byte("{\n  \"payload\" : [\n    " + string(orderA) + "\n  ]\n}\n"),
			status: 200, summary: oneOK, kept: oneKept, sent: oneSent},
		{name: "duplicate events in one request", body: payload(orderA, orderB, orderA), status: 200,
			summary: ingest.Summary{Received: 2, Duplicates: 1, Enqueued: 2},
			kept:    []keep{received(idA, upvest.Orders, orderA), received(idB, upvest.Orders, orderB)},
			sent:    queues{upvest.Orders: {idA, idB}}},
		{name: "events of several domains", body: payload(orderA, positionC), status: 200,
			summary: ingest.Summary{Received: 2, Enqueued: 2},
			kept:    []keep{received(idA, upvest.Orders, orderA), received(idC, upvest.Holdings, positionC)},
			sent:    queues{upvest.Orders: {idA}, upvest.Holdings: {idC}}},

		// Events that do not decode: parked alone, the rest goes through.
		parkedEvent("nested too deep", tooDeep, parkedByContent(upvest.Unrouted, tooDeep, "exceeded max depth"), rowUndecodable),
		{name: "nested too deep beside good events", body: payload(orderA, tooDeep, positionC), row: rowUndecodable, status: 200,
			summary: ingest.Summary{Received: 2, Parked: 1, Enqueued: 2},
			kept: []keep{received(idA, upvest.Orders, orderA), received(idC, upvest.Holdings, positionC),
				parkedByContent(upvest.Unrouted, tooDeep, "exceeded max depth")},
			sent: queues{upvest.Orders: {idA}, upvest.Holdings: {idC}}},
		parkedEvent("event a string", []byte(`"ORDER.NEW"`), parkedByContent(upvest.Unrouted, []byte(`"ORDER.NEW"`), "not a JSON object"), rowUndecodable),
		parkedEvent("event null", []byte(`null`), parkedByContent(upvest.Unrouted, []byte(`null`), "not a JSON object"), rowUndecodable),
		parkedEvent("event an array", []byte(`[1,2]`), parkedByContent(upvest.Unrouted, []byte(`[1,2]`), "not a JSON object"), rowUndecodable),
		withInvalid("invalid UTF-8 in a string", order(idB).with(func(e *ev) { e.object = "{\"id\":\"o-\xff\",\"status\":\"NEW\"}" })),
		withInvalid("overlong UTF-8 encoding", order(idB).with(func(e *ev) { e.object = "{\"id\":\"o-\xc0\xaf\",\"status\":\"NEW\"}" })),
		withInvalid("UTF-8 surrogate bytes", order(idB).with(func(e *ev) { e.object = "{\"id\":\"o-\xed\xa0\x80\",\"status\":\"NEW\"}" })),
		parkedEvent("raw control byte in a string", controlByte, parkedByContent(upvest.Unrouted, controlByte, "not valid JSON"), rowUndecodable),
		parkedEvent("created_at a number", numericTime, parkedByContent(upvest.Unrouted, numericTime, "not valid JSON"), rowUndecodable),

		// Any bytes in strings: processed normally, byte for byte.
		goodBytes("U+FFFE and U+FFFF", "\uFFFE \uFFFF"),
		goodBytes("emoji above U+FFFF", "\U0001F680\U0001F4B6"),
		goodBytes("escaped NUL", `\u0000`),
		goodBytes("escaped lone surrogate", `\ud800`),
		goodBytes("right-to-left and zero-width characters", "\u202e\u200b"),

		// Events missing fields: parked in their domain with the reason.
		missing("missing id", order(idB).with(func(e *ev) { e.id = "" }), "", upvest.Orders, "missing id"),
		missing("id not a uuid", order(idB).with(func(e *ev) { e.id = "order-42" }), "", upvest.Orders, "is not a uuid"),
		missing("over-long id", order(idB).with(func(e *ev) { e.id = strings.Repeat("9", 100_000) }), "", upvest.Orders, `id "999`),
		missing("missing type", order(idB).with(func(e *ev) { e.typ = "" }), idB, upvest.Unrouted, "missing type"),
		missing("type not CATEGORY.ACTION", order(idB).with(func(e *ev) { e.typ = "order new" }), idB, upvest.Unrouted, "not CATEGORY.ACTION"),
		missing("over-long type", order(idB).with(func(e *ev) { e.typ = "ORDER." + strings.Repeat("A", 10_000) }), idB, upvest.Orders, "bytes long"),
		missing("missing created_at", order(idB).with(func(e *ev) { e.createdAt = "" }), idB, upvest.Orders, "missing created_at"),
		missing("missing webhook_id", order(idB).with(func(e *ev) { e.webhookID = "" }), idB, upvest.Orders, "missing webhook_id"),
		missing("year 10000", order(idB).with(func(e *ev) { e.createdAt = "10000-01-01T00:00:00Z" }), idB, upvest.Orders, "created_at"),
		missing("year 9999 pushed past by an offset", order(idB).with(func(e *ev) { e.createdAt = "9999-12-31T23:00:00-02:00" }), idB, upvest.Orders, "outside years"),
		missing("month 13", order(idB).with(func(e *ev) { e.createdAt = "2024-13-01T00:00:00Z" }), idB, upvest.Orders, "not an RFC 3339"),
		missing("timestamp without zone", order(idB).with(func(e *ev) { e.createdAt = "2024-01-02T03:04:05" }), idB, upvest.Orders, "not an RFC 3339"),
		missing("unix timestamp as text", order(idB).with(func(e *ev) { e.createdAt = "1704164645" }), idB, upvest.Orders, "not an RFC 3339"),
		missing("object missing", order(idB).with(func(e *ev) { e.object = "" }), idB, upvest.Orders, "object is missing"),
		missing("object an array", order(idB).with(func(e *ev) { e.object = `[{"id":"o-1"}]` }), idB, upvest.Orders, "not a JSON object"),
		missing("object null", order(idB).with(func(e *ev) { e.object = "null" }), idB, upvest.Orders, "not a JSON object"),
		missing("object a string", order(idB).with(func(e *ev) { e.object = `"o-1"` }), idB, upvest.Orders, "not a JSON object"),
		missing("known category without its key field", order(idB).with(func(e *ev) { e.object = `{"status":"NEW"}` }), idB, upvest.Orders, "object.id"),
		missing("position without its instrument", ev{id: idB, createdAt: "2024-01-02T03:04:05Z", typ: "POSITION.UPDATED",
			object: `{"account_id":"acc-1"}`, webhookID: webhookID}, idB, upvest.Holdings, "instrument"),

		// A category the routing table lacks: routed to unrouted and kept in its state table.
		{name: "unknown category", body: payload(spaceship), row: rowUnrouted, status: 200, summary: oneOK,
			kept: []keep{received(idC, upvest.Unrouted, spaceship)}, sent: queues{upvest.Unrouted: {idC}}},

		// Sizes.
		{name: "one event of 5 MB", body: payload(fiveMB), row: rowAnySize, status: 200, summary: oneOK,
			kept: []keep{received(idA, upvest.Orders, fiveMB)}, sent: oneSent},
		{name: "1 MiB package of small events", body: pkg, status: 200,
			summary: ingest.Summary{Received: len(pkgIDs), Enqueued: len(pkgIDs)}, kept: pkgKept, sent: queues{upvest.Orders: pkgIDs}},
		{name: "body over 6 MB", body: payload(order(idA).with(func(e *ev) {
			e.object = `{"id":"o-1","note":"` + strings.Repeat("z", 6_000_000) + `"}`
		}).bytes()), status: 413},
	}
	return append(cases, hostileCases()...)
}

var (
	numericTime = []byte(`{"id":"` + idB + `","created_at":1704164645,"type":"ORDER.NEW","object":{"id":"o-1"},"webhook_id":"` + webhookID + `"}`)
	controlByte = order(idB).with(func(e *ev) { e.object = "{\"id\":\"o-\x01\"}" }).bytes()
)

var spaceship = ev{id: idC, createdAt: "2024-01-02T03:04:05Z", typ: "SPACESHIP.LAUNCHED",
	object: `{"id":"s-1"}`, webhookID: webhookID}.bytes()

// notEnvelope is an authentic body that is not {"payload":[...]}.
func notEnvelope(name, body, reason string) entry {
	b := []byte(body)
	return entry{name: name, body: b, row: rowNotEnvelope, status: 200, summary: ingest.Summary{Parked: 1},
		kept: []keep{keptRequest(b, reason)}}
}

// parkedEvent is a request of one event that is parked as k says.
func parkedEvent(name string, event []byte, k keep, row string) entry {
	return entry{name: name, body: payload(event), row: row, status: 200, summary: ingest.Summary{Parked: 1}, kept: []keep{k}}
}

// withInvalid sends an event that is not valid UTF-8 beside a good one.
func withInvalid(name string, bad ev) entry {
	raw := bad.bytes()
	return entry{name: name, body: payload(orderA, raw), row: rowUndecodable, status: 200,
		summary: ingest.Summary{Received: 1, Parked: 1, Enqueued: 1},
		kept:    []keep{received(idA, upvest.Orders, orderA), parked(idB, upvest.Orders, raw, "not valid UTF-8")},
		sent:    queues{upvest.Orders: {idA}}}
}

// goodBytes sends an order whose note holds s: valid, processed normally.
func goodBytes(name, s string) entry {
	raw := order(idB).with(func(e *ev) { e.object = `{"id":"o-1","status":"NEW","note":"` + s + `"}` }).bytes()
	return entry{name: name, body: payload(raw), row: rowAnyBytes, status: 200, summary: ingest.Summary{Received: 1, Enqueued: 1},
		kept: []keep{received(idB, upvest.Orders, raw)}, sent: queues{upvest.Orders: {idB}}}
}

// missing sends an event lacking what it needs beside a good one; key ""
// means it has no usable id and is kept under its content's digest.
func missing(name string, bad ev, key string, d upvest.Domain, reason string) entry {
	raw := bad.bytes()
	k := parked(key, d, raw, reason)
	if key == "" {
		k = parkedByContent(d, raw, reason)
	}
	return entry{name: name, body: payload(orderA, raw), row: rowMissing, status: 200,
		summary: ingest.Summary{Received: 1, Parked: 1, Enqueued: 1},
		kept:    []keep{received(idA, upvest.Orders, orderA), k}, sent: queues{upvest.Orders: {idA}}}
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func b64sha256(b []byte) string {
	sum := sha256.Sum256(b)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// flip returns another base64 character in place of c.
func flip(c byte) string {
	if c == 'A' {
		return "B"
	}
	return "A"
}
