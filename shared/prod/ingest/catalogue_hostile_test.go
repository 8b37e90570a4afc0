package ingest_test

import (
	"strings"
	"time"

	upvest "github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/ingest"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/ledger"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/signature"
)

// Hostile inputs (issue 18): authentic events, signed as Upvest signs, that
// tried to freeze an entity, split the log from the state, or vanish. Each
// case says what it leaves in the ledger, on the queues and in the state tables.

const (
	idD = "dddddddd-dddd-4ddd-8ddd-dddddddddddd"
)

// orderAt is an ORDER event of order objectID, in status, updated at updatedAt ("" leaves it out).
func orderAt(id, typ, objectID, status, updatedAt string) ev {
	obj := `{"id":"` + objectID + `","status":"` + status + `"`
	if updatedAt != "" {
		obj += `,"updated_at":"` + updatedAt + `"`
	}
	return ev{id: id, createdAt: "2024-01-02T03:04:05.123Z", typ: typ, object: obj + "}", webhookID: webhookID}
}

// position is a POSITION.UPDATED of account and instrument (raw JSON strings).
func position(id, account, instrument, createdAt string) ev {
	return ev{id: id, createdAt: createdAt, typ: "POSITION.UPDATED",
		object: `{"account_id":` + account + `,"instrument":{"uuid":` + instrument + `},"quantity":"1"}`, webhookID: webhookID}
}

func cashBalance(id, group, currency, createdAt string) ev {
	return ev{id: id, createdAt: createdAt, typ: "CASH_BALANCE.UPDATED",
		object: `{"account_group_id":"` + group + `","currency":"` + currency + `","amount":"10"}`, webhookID: webhookID}
}

// applied is an event that went through its worker before this request.
//
// The worker writes no outcome to the ledger (two item writes per event): an
// applied event's record stays RECEIVED, its state row says it was applied,
// and a redelivery of it is fanned out again (a no-op at the worker).
func applied(id string, d upvest.Domain, raw []byte) keep {
	return received(id, d, raw)
}

// conflict is bytes that arrived under a recorded id with other content.
func conflict(id string, d upvest.Domain, raw []byte) keep {
	return keep{key: ingest.ConflictKey(id, raw), kind: ledger.KindConflict, status: ledger.Parked, where: string(d),
		reason: "recorded before with other bytes", raw: raw}
}

// ahead is an event parked because its ordering time lies too far ahead.
func ahead(id string, d upvest.Domain, raw []byte, field string) keep {
	return parked(id, d, raw, "ordering time ahead of the receiver's clock: "+field)
}

func orderRow(objectID, eventID, status string) row {
	return row{pk: pkOf("ORDER", objectID), eventID: eventID, status: status}
}

// parkedAlone is one event parked under its content's digest: it could not be read one way.
func parkedAlone(name string, raw []byte, reason string) entry {
	return parkedEvent(name, raw, parkedByContent(upvest.Unrouted, raw, reason), rowAmbiguous)
}

// ambiguousObject is an order whose object can be read two ways: parked under its id.
func ambiguousObject(name, object, reason string) entry {
	raw := order(idB).with(func(e *ev) { e.object = object }).bytes()
	return entry{name: name, body: payload(raw), row: rowAmbiguous, status: 200, summary: ingest.Summary{Parked: 1},
		kept: []keep{parked(idB, upvest.Orders, raw, reason)}, rows: stateRows{}}
}

func hostileCases() []entry {
	now := time.Now().UTC()
	soon := now.Add(time.Minute).Format(time.RFC3339Nano)    // within events.MaxAhead: clock skew
	hourAhead := now.Add(time.Hour).Format(time.RFC3339Nano) // past it
	// Well past it: the catalogue is built once and its cases may run minutes later.
	dayAhead := now.Add(24 * time.Hour).Format(time.RFC3339)

	farNew := orderAt(idB, "ORDER.NEW", "o-1", "NEW", "9999-12-31T00:00:00Z").bytes()
	filled := orderAt(idC, "ORDER.FILLED", "o-1", "FILLED", "2024-03-01T00:00:00Z").bytes()
	cancelled := orderAt(idD, "ORDER.CANCELLED", "o-1", "CANCELLED", "2024-06-01T00:00:00Z").bytes()
	farPosition := position(idB, `"acc-1"`, `"ins-1"`, "9999-12-31T00:00:00Z").bytes()
	farCash := cashBalance(idB, "g-1", "EUR", "9999-12-31T00:00:00Z").bytes()
	farExecution := ev{id: idB, createdAt: "2024-01-02T03:04:05Z", typ: "EXECUTION.FILLED",
		object: `{"id":"x-1","order_id":"o-1","status":"FILLED","updated_at":"9999-12-31T00:00:00Z"}`, webhookID: webhookID}.bytes()
	skewed := orderAt(idB, "ORDER.NEW", "o-1", "NEW", soon).bytes()
	hour := orderAt(idB, "ORDER.NEW", "o-1", "NEW", hourAhead).bytes()
	day := orderAt(idB, "ORDER.NEW", "o-1", "NEW", dayAhead).bytes()
	farCreated := orderAt(idB, "ORDER.NEW", "o-1", "NEW", "2024-03-01T00:00:00Z").with(func(e *ev) { e.createdAt = "9999-12-31T00:00:00Z" }).bytes()

	newX := orderAt(idA, "ORDER.NEW", "o-1", "NEW", "2024-03-01T00:00:00Z").bytes()
	filledX := orderAt(idA, "ORDER.FILLED", "o-1", "FILLED", "2024-03-02T00:00:00Z").bytes()
	cashX := cashBalance(idA, "g-1", "EUR", "2024-03-02T00:00:00Z").bytes()
	spacedX := []byte(strings.Replace(string(newX), `"type":`, `"type" :`, 1))
	upperID := strings.ToUpper(idA)
	upperX := []byte(strings.Replace(string(newX), idA, upperID, 1))

	posHash1 := position(idB, `"X#B"`, `"C"`, "2024-01-02T03:04:05Z").bytes()
	posHash2 := position(idC, `"X"`, `"B#C"`, "2024-01-02T03:04:05Z").bytes()
	posPct := position(idD, `"X%23B"`, `"C"`, "2024-01-02T03:04:05Z").bytes()
	cashHash1 := cashBalance(idB, "g#EUR", "USD", "2024-01-02T03:04:05Z").bytes()
	cashHash2 := cashBalance(idC, "g", "EUR#USD", "2024-01-02T03:04:05Z").bytes()
	orderHash := orderAt(idB, "ORDER.NEW", "o#1", "NEW", "2024-03-01T00:00:00Z").bytes()
	execHash := ev{id: idC, createdAt: "2024-01-02T03:04:05Z", typ: "EXECUTION.FILLED",
		object: `{"id":"x-1","order_id":"o#1","status":"FILLED","updated_at":"2024-03-01T00:00:01Z"}`, webhookID: webhookID}.bytes()

	lowerTZ := orderAt(idB, "ORDER.NEW", "o-1", "NEW", "2024-01-01t10:00:00z").with(func(e *ev) { e.createdAt = "2024-01-01t10:00:00.5z" }).bytes()
	leapCreated := order(idB).with(func(e *ev) { e.createdAt = "2016-12-31T23:59:60Z" }).bytes()
	beforeLeap := orderAt(idB, "ORDER.PROCESSING", "o-1", "PROCESSING", "2016-12-31T23:59:59.9Z").bytes()
	leap := orderAt(idC, "ORDER.NEW", "o-1", "NEW", "2016-12-31T23:59:60Z").bytes()

	const sameTime = "2024-03-01T00:00:00Z"
	expired := orderAt(idB, "ORDER.EXPIRED", "o-1", "EXPIRED", sameTime).bytes()
	newSame := orderAt(idC, "ORDER.NEW", "o-1", "NEW", sameTime).bytes()
	expiredLater := orderAt(idD, "ORDER.EXPIRED", "o-1", "EXPIRED", "2024-03-01T00:00:01Z").bytes()

	idAndID := []byte(`{"id":"` + idA + `","ID":"` + idB + `","created_at":"2024-01-02T03:04:05Z","type":"ORDER.NEW","Type":"POSITION.UPDATED",` +
		`"object":{"id":"o-1","status":"NEW"},"webhook_id":"` + webhookID + `"}`)
	typeTwice := []byte(`{"id":"` + idB + `","created_at":"2024-01-02T03:04:05Z","type":"ORDER.NEW","type":"POSITION.UPDATED",` +
		`"object":{"id":"o-1","status":"NEW"},"webhook_id":"` + webhookID + `"}`)
	idTwice := []byte(`{"id":"` + idA + `","id":"` + idB + `","created_at":"2024-01-02T03:04:05Z","type":"ORDER.NEW",` +
		`"object":{"id":"o-1","status":"NEW"},"webhook_id":"` + webhookID + `"}`)
	escapedTwice := []byte(`{"\u0069d":"` + idA + `","id":"` + idB + `","created_at":"2024-01-02T03:04:05Z","type":"ORDER.NEW",` +
		`"object":{"id":"o-1","status":"NEW"},"webhook_id":"` + webhookID + `"}`)
	upperType := []byte(`{"id":"` + idB + `","created_at":"2024-01-02T03:04:05Z","TYPE":"ORDER.NEW",` +
		`"object":{"id":"o-1","status":"NEW"},"webhook_id":"` + webhookID + `"}`)
	objectTwice := []byte(`{"id":"` + idB + `","created_at":"2024-01-02T03:04:05Z","type":"ORDER.NEW",` +
		`"object":{"id":"o-1","status":"NEW"},"Object":{"id":"o-2"},"webhook_id":"` + webhookID + `"}`)
	unknownCase := order(idB).with(func(e *ev) { e.object = `{"id":"o-1","status":"NEW","Note":"a","note":"b"}` }).bytes()

	a := orderA
	return withRows([]entry{
		// 1. Far-future ordering times: parked, never pinning the row (events.MaxAhead).
		{name: "order updated_at 9999-12-31 is parked, not applied", body: payload(farNew), status: 200,
			summary: ingest.Summary{Parked: 1}, kept: []keep{ahead(idB, upvest.Orders, farNew, "object.updated_at")}, rows: stateRows{}},
		{name: "far-future order does not freeze its later events", body: payload(farNew, filled, cancelled), status: 200,
			summary: ingest.Summary{Received: 2, Parked: 1, Enqueued: 2},
			kept:    []keep{ahead(idB, upvest.Orders, farNew, "object.updated_at"), received(idC, upvest.Orders, filled), received(idD, upvest.Orders, cancelled)},
			sent:    queues{upvest.Orders: {idC, idD}}, rows: stateRows{orderRow("o-1", idD, "CANCELLED")}},
		{name: "far-future order after real ones leaves the row as it was", before: [][]byte{payload(filled)}, applied: true,
			body: payload(farNew), status: 200, summary: ingest.Summary{Parked: 1},
			kept: []keep{applied(idC, upvest.Orders, filled), ahead(idB, upvest.Orders, farNew, "object.updated_at")},
			rows: stateRows{orderRow("o-1", idC, "FILLED")}},
		{name: "position created_at 9999 (no updated_at) is parked", body: payload(farPosition), status: 200,
			summary: ingest.Summary{Parked: 1}, kept: []keep{ahead(idB, upvest.Holdings, farPosition, "created_at")}, rows: stateRows{}},
		{name: "cash balance created_at 9999 is parked", body: payload(farCash), status: 200,
			summary: ingest.Summary{Parked: 1}, kept: []keep{ahead(idB, upvest.Holdings, farCash, "created_at")}, rows: stateRows{}},
		{name: "execution updated_at 9999 does not pin its order's view", body: payload(farExecution), status: 200,
			summary: ingest.Summary{Parked: 1}, kept: []keep{ahead(idB, upvest.Orders, farExecution, "object.updated_at")}, rows: stateRows{}},
		{name: "an hour ahead is parked", body: payload(hour), status: 200,
			summary: ingest.Summary{Parked: 1}, kept: []keep{ahead(idB, upvest.Orders, hour, "object.updated_at")}, rows: stateRows{}},
		{name: "a day ahead is parked", body: payload(day), status: 200,
			summary: ingest.Summary{Parked: 1}, kept: []keep{ahead(idB, upvest.Orders, day, "object.updated_at")}, rows: stateRows{}},
		{name: "a minute ahead (clock skew) is applied", body: payload(skewed), status: 200, summary: ingest.Summary{Received: 1, Enqueued: 1},
			kept: []keep{received(idB, upvest.Orders, skewed)}, sent: queues{upvest.Orders: {idB}}, rows: stateRows{orderRow("o-1", idB, "NEW")}},
		{name: "created_at 9999 beside a real updated_at is applied (it only breaks ties)", body: payload(farCreated), status: 200,
			summary: ingest.Summary{Received: 1, Enqueued: 1}, kept: []keep{received(idB, upvest.Orders, farCreated)},
			sent: queues{upvest.Orders: {idB}}, rows: stateRows{orderRow("o-1", idB, "NEW")}},

		// 2. One id, other bytes: the ledger's bytes are the only ones applied; the others are kept aside.
		{name: "same id, another order event in one request", body: payload(newX, filledX), status: 200,
			summary: ingest.Summary{Received: 1, Parked: 1, Enqueued: 1},
			kept:    []keep{received(idA, upvest.Orders, newX), conflict(idA, upvest.Orders, filledX)},
			sent:    queues{upvest.Orders: {idA}}, rows: stateRows{orderRow("o-1", idA, "NEW")}},
		{name: "same id, another domain in one request", body: payload(newX, cashX), status: 200,
			summary: ingest.Summary{Received: 1, Parked: 1, Enqueued: 1},
			kept:    []keep{received(idA, upvest.Orders, newX), conflict(idA, upvest.Holdings, cashX)},
			sent:    queues{upvest.Orders: {idA}}, rows: stateRows{orderRow("o-1", idA, "NEW")}},
		{name: "same id, other content while RECEIVED: the recorded bytes are sent again", before: [][]byte{payload(newX)},
			body: payload(filledX), status: 200, summary: ingest.Summary{Refanned: 1, Parked: 1, Enqueued: 1},
			kept: []keep{received(idA, upvest.Orders, newX), conflict(idA, upvest.Orders, filledX)},
			sent: queues{upvest.Orders: {idA}}, rows: stateRows{orderRow("o-1", idA, "NEW")}},
		{name: "same id, another domain while RECEIVED: no second entity", before: [][]byte{payload(newX)},
			body: payload(cashX), status: 200, summary: ingest.Summary{Refanned: 1, Parked: 1, Enqueued: 1},
			kept: []keep{received(idA, upvest.Orders, newX), conflict(idA, upvest.Holdings, cashX)},
			sent: queues{upvest.Orders: {idA}}, rows: stateRows{orderRow("o-1", idA, "NEW")}},
		{name: "same id, other content after it was applied: kept, not dropped", before: [][]byte{payload(newX)}, applied: true,
			body: payload(filledX), status: 200, summary: ingest.Summary{Refanned: 1, Parked: 1, Enqueued: 1},
			kept: []keep{applied(idA, upvest.Orders, newX), conflict(idA, upvest.Orders, filledX)},
			sent: queues{upvest.Orders: {idA}}, rows: stateRows{orderRow("o-1", idA, "NEW")}},
		{name: "a differing redelivery sent again is a duplicate of its conflict record", before: [][]byte{payload(newX), payload(filledX)}, applied: true,
			body: payload(filledX), status: 200, summary: ingest.Summary{Duplicates: 1, Refanned: 1, Enqueued: 1},
			kept: []keep{applied(idA, upvest.Orders, newX), conflict(idA, upvest.Orders, filledX)},
			sent: queues{upvest.Orders: {idA}}, rows: stateRows{orderRow("o-1", idA, "NEW")}},
		{name: "the same bytes after they were applied are sent again, a no-op at the worker", before: [][]byte{payload(newX)}, applied: true,
			body: payload(newX), status: 200, summary: ingest.Summary{Refanned: 1, Enqueued: 1},
			kept: []keep{applied(idA, upvest.Orders, newX)}, sent: queues{upvest.Orders: {idA}},
			rows: stateRows{orderRow("o-1", idA, "NEW")}},
		{name: "a redelivery with other bytes first, then the recorded ones: only the other bytes are a conflict",
			before: [][]byte{payload(newX)}, body: payload(filledX, newX), status: 200,
			summary: ingest.Summary{Refanned: 1, Parked: 1, Enqueued: 1},
			kept:    []keep{received(idA, upvest.Orders, newX), conflict(idA, upvest.Orders, filledX)},
			sent:    queues{upvest.Orders: {idA}}, rows: stateRows{orderRow("o-1", idA, "NEW")}},
		{name: "other bytes first, then the recorded ones, after they were applied", before: [][]byte{payload(newX)}, applied: true,
			body: payload(cashX, newX), status: 200, summary: ingest.Summary{Refanned: 1, Parked: 1, Enqueued: 1},
			kept: []keep{applied(idA, upvest.Orders, newX), conflict(idA, upvest.Holdings, cashX)},
			sent: queues{upvest.Orders: {idA}}, rows: stateRows{orderRow("o-1", idA, "NEW")}},
		{name: "one request mixing new, pending, repeated, parked-before and conflicting events",
			before: [][]byte{payload(newX, hour)}, body: payload(filled, newX, filled, hour, filledX), status: 200,
			summary: ingest.Summary{Received: 1, Refanned: 1, Duplicates: 2, Parked: 1, Enqueued: 2},
			kept: []keep{received(idA, upvest.Orders, newX), ahead(idB, upvest.Orders, hour, "object.updated_at"),
				received(idC, upvest.Orders, filled), conflict(idA, upvest.Orders, filledX)},
			sent: queues{upvest.Orders: {idA, idC}}, rows: stateRows{orderRow("o-1", idC, "FILLED")}},
		{name: "a redelivery with other whitespace is other bytes", before: [][]byte{payload(newX)},
			body: payload(spacedX), status: 200, summary: ingest.Summary{Refanned: 1, Parked: 1, Enqueued: 1},
			kept: []keep{received(idA, upvest.Orders, newX), conflict(idA, upvest.Orders, spacedX)},
			sent: queues{upvest.Orders: {idA}}, rows: stateRows{orderRow("o-1", idA, "NEW")}},

		// UUID case: one event whatever the case of its id.
		{name: "upper-case id is recorded under its lower-case form", body: payload(upperX), status: 200,
			summary: ingest.Summary{Received: 1, Enqueued: 1}, kept: []keep{received(idA, upvest.Orders, upperX)},
			sent: queues{upvest.Orders: {idA}}, rows: stateRows{orderRow("o-1", idA, "NEW")}},
		{name: "upper-case id after the lower-case one was applied: one application", before: [][]byte{payload(newX)}, applied: true,
			body: payload(upperX), status: 200, summary: ingest.Summary{Refanned: 1, Parked: 1, Enqueued: 1},
			kept: []keep{applied(idA, upvest.Orders, newX), conflict(idA, upvest.Orders, upperX)},
			sent: queues{upvest.Orders: {idA}}, rows: stateRows{orderRow("o-1", idA, "NEW")}},
		{name: "both cases of one id in one request", body: payload(newX, upperX), status: 200,
			summary: ingest.Summary{Received: 1, Parked: 1, Enqueued: 1},
			kept:    []keep{received(idA, upvest.Orders, newX), conflict(idA, upvest.Orders, upperX)},
			sent:    queues{upvest.Orders: {idA}}, rows: stateRows{orderRow("o-1", idA, "NEW")}},

		// 3. Repeated or case-variant envelope keys: no one reading, so the body is kept whole.
		notEnvelope("payload twice, the second empty", `{"payload":[`+string(a)+`],"payload":[]}`, `"payload" appears twice`),
		notEnvelope("payload twice, both with events", `{"payload":[`+string(a)+`],"payload":[`+string(orderB)+`]}`, `"payload" appears twice`),
		notEnvelope("payload twice, the name escaped", `{"payload":[`+string(a)+`],"p\u0061yload":[]}`, `"payload" appears twice`),
		notEnvelope("Payload in another case", `{"Payload":[`+string(a)+`]}`, "names are case-sensitive"),
		notEnvelope("payload beside PAYLOAD", `{"payload":[`+string(a)+`],"PAYLOAD":[]}`, "names are case-sensitive"),
		notEnvelope("another top-level name twice", `{"v":1,"payload":[`+string(a)+`],"v":2}`, `"v" appears twice`),
		notEnvelope("a top-level member that is not JSON", `{"x":tru,"payload":[`+string(a)+`]}`, "not valid JSON"),

		// 4. One reading of an event: names are case-sensitive; what reads two ways is parked.
		parkedAlone("id beside ID and type beside Type", idAndID, "names are case-sensitive"),
		parkedAlone("type twice", typeTwice, `"type" appears twice`),
		parkedAlone("id twice", idTwice, `"id" appears twice`),
		parkedAlone("id twice, once escaped", escapedTwice, `"id" appears twice`),
		parkedAlone("TYPE instead of type", upperType, "names are case-sensitive"),
		parkedAlone("Object beside object", objectTwice, "names are case-sensitive"),
		parkedAlone("a name twice inside the object", order(idB).with(func(e *ev) { e.object = `{"id":"o-1","status":"NEW","status":"FILLED"}` }).bytes(), `"status" appears twice`),
		parkedAlone("a name twice deep inside the object", order(idB).with(func(e *ev) { e.object = `{"id":"o-1","status":"NEW","meta":{"a":1,"a":2}}` }).bytes(), `"a" appears twice`),
		ambiguousObject("the object's id beside Id", `{"id":"o-1","Id":"o-2","status":"NEW"}`, "names are case-sensitive"),
		ambiguousObject("updated_at beside UPDATED_AT", `{"id":"o-1","status":"NEW","updated_at":"2024-01-01T00:00:00Z","UPDATED_AT":"9999-01-01T00:00:00Z"}`, "names are case-sensitive"),
		{name: "position instrument uuid beside UUID", body: payload(position(idB, `"acc-1"`, `"ins-1","UUID":"ins-2"`, "2024-01-02T03:04:05Z").bytes()),
			status: 200, summary: ingest.Summary{Parked: 1}, rows: stateRows{},
			kept: []keep{parked(idB, upvest.Holdings, position(idB, `"acc-1"`, `"ins-1","UUID":"ins-2"`, "2024-01-02T03:04:05Z").bytes(), "names are case-sensitive")}},
		{name: "names the pipeline does not read may differ in case", body: payload(unknownCase), status: 200,
			summary: ingest.Summary{Received: 1, Enqueued: 1}, kept: []keep{received(idB, upvest.Orders, unknownCase)},
			sent: queues{upvest.Orders: {idB}}, rows: stateRows{orderRow("o-1", idB, "NEW")}},

		// 5. Composite keys: escaped parts, so different part lists never share a row.
		{name: "positions (X#B, C) and (X, B#C) keep two rows", body: payload(posHash1, posHash2), status: 200,
			summary: ingest.Summary{Received: 2, Enqueued: 2},
			kept:    []keep{received(idB, upvest.Holdings, posHash1), received(idC, upvest.Holdings, posHash2)},
			sent:    queues{upvest.Holdings: {idB, idC}},
			rows:    stateRows{{pk: "POSITION#X%23B#C", eventID: idB}, {pk: "POSITION#X#B%23C", eventID: idC}}},
		{name: "a key part holding the escape character", body: payload(posHash1, posPct), status: 200,
			summary: ingest.Summary{Received: 2, Enqueued: 2},
			kept:    []keep{received(idB, upvest.Holdings, posHash1), received(idD, upvest.Holdings, posPct)},
			sent:    queues{upvest.Holdings: {idB, idD}},
			rows:    stateRows{{pk: "POSITION#X%23B#C", eventID: idB}, {pk: "POSITION#X%2523B#C", eventID: idD}}},
		{name: "cash balances (g#EUR, USD) and (g, EUR#USD) keep two rows", body: payload(cashHash1, cashHash2), status: 200,
			summary: ingest.Summary{Received: 2, Enqueued: 2},
			kept:    []keep{received(idB, upvest.Holdings, cashHash1), received(idC, upvest.Holdings, cashHash2)},
			sent:    queues{upvest.Holdings: {idB, idC}},
			rows:    stateRows{{pk: "CASH_BALANCE#g%23EUR#USD", eventID: idB}, {pk: "CASH_BALANCE#g#EUR%23USD", eventID: idC}}},
		{name: "an order id holding # and its execution's view", body: payload(orderHash, execHash), status: 200,
			summary: ingest.Summary{Received: 2, Enqueued: 2},
			kept:    []keep{received(idB, upvest.Orders, orderHash), received(idC, upvest.Orders, execHash)},
			sent:    queues{upvest.Orders: {idB, idC}},
			rows:    stateRows{orderRow("o#1", idB, "NEW"), {pk: "EXECUTION#x-1", eventID: idC, status: "FILLED"}}},
		{name: "keys without # or % are unchanged", body: payload(positionC), status: 200, summary: ingest.Summary{Received: 1, Enqueued: 1},
			kept: []keep{received(idC, upvest.Holdings, positionC)}, sent: queues{upvest.Holdings: {idC}},
			rows: stateRows{{pk: "POSITION#acc-1#ins-1", eventID: idC}}},

		// 6. The draft follows what the signature covers; the version header is only a hint.
		{name: "draft 06 with Upvest-Signature-Version 15 added on the way", body: payload(orderA), alter: setHeader("Upvest-Signature-Version", "15"),
			status: 200, summary: ingest.Summary{Received: 1, Enqueued: 1}, kept: []keep{received(idA, upvest.Orders, orderA)}, sent: queues{upvest.Orders: {idA}}},
		{name: "draft 15 with Upvest-Signature-Version 6", body: payload(orderA), sign: signing{draft: signature.Draft15},
			alter:  setHeader("Upvest-Signature-Version", "6"),
			status: 200, summary: ingest.Summary{Received: 1, Enqueued: 1}, kept: []keep{received(idA, upvest.Orders, orderA)}, sent: queues{upvest.Orders: {idA}}},
		{name: "draft 06 with a version header nobody knows", body: payload(orderA), alter: setHeader("Upvest-Signature-Version", "v99"),
			status: 200, summary: ingest.Summary{Received: 1, Enqueued: 1}, kept: []keep{received(idA, upvest.Orders, orderA)}, sent: queues{upvest.Orders: {idA}}},

		// Timestamps RFC 3339 allows.
		{name: "lower-case t and z", body: payload(lowerTZ), status: 200, summary: ingest.Summary{Received: 1, Enqueued: 1},
			kept: []keep{received(idB, upvest.Orders, lowerTZ)}, sent: queues{upvest.Orders: {idB}}, rows: stateRows{orderRow("o-1", idB, "NEW")}},
		{name: "a leap second in created_at", body: payload(leapCreated), status: 200, summary: ingest.Summary{Received: 1, Enqueued: 1},
			kept: []keep{received(idB, upvest.Orders, leapCreated)}, sent: queues{upvest.Orders: {idB}}},
		{name: "a leap second orders after the second before it", body: payload(leap, beforeLeap), status: 200,
			summary: ingest.Summary{Received: 2, Enqueued: 2},
			kept:    []keep{received(idC, upvest.Orders, leap), received(idB, upvest.Orders, beforeLeap)},
			sent:    queues{upvest.Orders: {idB, idC}}, rows: stateRows{orderRow("o-1", idC, "NEW")}},

		// Unknown actions rank below every known one at equal ordering times (README, Operations).
		{name: "unknown action then a known one at the same updated_at: the known one holds", body: payload(expired, newSame), status: 200,
			summary: ingest.Summary{Received: 2, Enqueued: 2},
			kept:    []keep{received(idB, upvest.Orders, expired), received(idC, upvest.Orders, newSame)},
			sent:    queues{upvest.Orders: {idB, idC}}, rows: stateRows{orderRow("o-1", idC, "NEW")}},
		{name: "a known action then an unknown one at the same updated_at: the known one holds", body: payload(newSame, expired), status: 200,
			summary: ingest.Summary{Received: 2, Enqueued: 2},
			kept:    []keep{received(idB, upvest.Orders, expired), received(idC, upvest.Orders, newSame)},
			sent:    queues{upvest.Orders: {idB, idC}}, rows: stateRows{orderRow("o-1", idC, "NEW")}},
		{name: "an unknown action with a later updated_at wins", body: payload(newSame, expiredLater), status: 200,
			summary: ingest.Summary{Received: 2, Enqueued: 2},
			kept:    []keep{received(idD, upvest.Orders, expiredLater), received(idC, upvest.Orders, newSame)},
			sent:    queues{upvest.Orders: {idC, idD}}, rows: stateRows{orderRow("o-1", idD, "EXPIRED")}},
	})
}

// README "kept as" rows of these cases.
const (
	rowAhead     = "an event whose ordering time"
	rowConflict  = "an event id recorded before"
	rowAmbiguous = "an event that reads two ways"
)

// withRows names the README row of each case that keeps something aside and names none yet.
func withRows(cases []entry) []entry {
	for i, c := range cases {
		for _, k := range c.kept {
			switch {
			case c.row != "":
			case k.kind == ledger.KindConflict:
				cases[i].row = rowConflict
			case strings.Contains(k.reason, "ahead of the receiver's clock"):
				cases[i].row = rowAhead
			case strings.Contains(k.reason, "names are case-sensitive"):
				cases[i].row = rowAmbiguous
			}
		}
	}
	return cases
}
