package worker_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/shared/local/localaws/awstest"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/config"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/ledger"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/message"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/observability"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/ops"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/schema"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/state"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/state/statetest"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/worker"
)

// The worker with the real state and ledger adapters on DynamoDB Local.

type rig struct {
	env     awstest.Environment
	ledger  *ledger.Dynamo
	logs    bytes.Buffer
	metrics bytes.Buffer
	worker  *worker.Worker
}

func newRig(t *testing.T, stateTable string) *rig {
	r := &rig{env: awstest.Env(t)}
	if stateTable == "" {
		stateTable = r.env.StateTables[events.Orders]
	}
	r.ledger = ledger.NewDynamo(r.env.DynamoDB, r.env.LedgerTable)
	r.worker = worker.New(events.Orders, state.NewDynamo(r.env.DynamoDB, stateTable), r.ledger,
		slog.New(slog.NewJSONHandler(&r.logs, nil)), observability.NewMetrics(&r.metrics, "worker-orders"))
	return r
}

// enqueue records the event in the ledger as ingest does and returns its
// message; large events travel as a claim check.
func (r *rig) enqueue(t *testing.T, e events.Event, claimCheck bool) lambdaevents.SQSMessage {
	t.Helper()
	rec := ledger.Record{EventID: e.ID, EventType: e.Type, Raw: e.Raw, Status: ledger.Received}
	if route, err := events.Classify(e); err == nil {
		rec.Domain, rec.EntityKey = route.Domain, route.EntityKey
	}
	if _, _, err := r.ledger.Claim(context.Background(), rec); err != nil {
		t.Fatalf("ledger claim: %v", err)
	}
	if err := r.ledger.MarkEnqueued(context.Background(), e.ID); err != nil {
		t.Fatalf("ledger enqueue: %v", err)
	}
	attrs := map[string]lambdaevents.SQSMessageAttribute{
		message.AttrEventID:   strAttr(e.ID),
		message.AttrEventType: strAttr(e.Type),
		message.AttrDomain:    strAttr("orders"),
	}
	body := string(e.Raw)
	if claimCheck {
		body = fmt.Sprintf(`{"id":%q}`, e.ID)
		attrs[message.AttrBodyRef] = strAttr(message.BodyInLedger)
	}
	return lambdaevents.SQSMessage{MessageId: statetest.UUID(), Body: body, MessageAttributes: attrs}
}

func strAttr(v string) lambdaevents.SQSMessageAttribute {
	return lambdaevents.SQSMessageAttribute{StringValue: &v, DataType: "String"}
}

func (r *rig) handle(t *testing.T, msgs ...lambdaevents.SQSMessage) []string {
	t.Helper()
	resp, err := r.worker.Handle(context.Background(), lambdaevents.SQSEvent{Records: msgs})
	if err != nil {
		t.Fatalf("Handle: %v", err)
	}
	var failed []string
	for _, f := range resp.BatchItemFailures {
		failed = append(failed, f.ItemIdentifier)
	}
	return failed
}

func (r *rig) ledgerStatus(t *testing.T, id string) (ledger.Status, string) {
	t.Helper()
	item := awstest.GetItem(t, r.env.DynamoDB, r.env.LedgerTable, schema.LedgerPK, id)
	return ledger.Status(str(item, schema.LedgerStatus)), str(item, schema.LedgerReason)
}

func str(item map[string]types.AttributeValue, name string) string {
	if s, ok := item[name].(*types.AttributeValueMemberS); ok {
		return s.Value
	}
	return ""
}

var base = time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)

func orderEvents(t *testing.T, orderID string, statuses ...string) []events.Event {
	object := statetest.Sample(t, "ORDER.NEW")
	object["id"] = orderID
	out := make([]events.Event, len(statuses))
	for i, s := range statuses {
		at := base.Add(time.Duration(i) * time.Minute)
		o := map[string]any{}
		for k, v := range object {
			o[k] = v
		}
		o["status"], o["updated_at"] = s, statetest.Time(at)
		out[i] = statetest.Event(t, "ORDER."+s, at, o)
	}
	return out
}

func TestWorkerOnDynamoDB(t *testing.T) {
	r := newRig(t, "")
	orderID := statetest.UUID()
	order := orderEvents(t, orderID, "NEW", "PROCESSING", "FILLED")
	execObject := statetest.Sample(t, "EXECUTION.FILLED")
	execObject["id"], execObject["order_id"] = statetest.UUID(), orderID
	exec := statetest.Event(t, "EXECUTION.FILLED", base, execObject)
	user := statetest.Event(t, "USER.CREATED", base, map[string]any{"id": statetest.UUID()})
	keyless := statetest.Event(t, "ORDER.NEW", base, map[string]any{"status": "NEW"})

	filled, execMsg := r.enqueue(t, order[2], false), r.enqueue(t, exec, true)
	userMsg, keylessMsg := r.enqueue(t, user, false), r.enqueue(t, keyless, false)
	newMsg, processingMsg := r.enqueue(t, order[0], false), r.enqueue(t, order[1], false)

	if failed := r.handle(t, filled, execMsg, userMsg, keylessMsg); len(failed) != 0 {
		t.Fatalf("first batch failures %v", failed)
	}
	// Older events, one delivered twice, and a redelivery of an applied one.
	if failed := r.handle(t, newMsg, processingMsg, newMsg, filled); len(failed) != 0 {
		t.Fatalf("second batch failures %v", failed)
	}

	// The outcome as ops inspect derives it from the ledger record and the
	// state row; the ledger keeps ENQUEUED for everything the worker settled.
	want := map[string]ops.Outcome{
		order[2].ID: ops.OutcomeApplied, exec.ID: ops.OutcomeApplied,
		order[0].ID: ops.OutcomeSettled, order[1].ID: ops.OutcomeSettled,
		user.ID: ops.OutcomeParked, keyless.ID: ops.OutcomeParked,
	}
	inspector := &ops.Inspector{Ledger: r.ledger, DB: r.env.DynamoDB, Resources: config.Ops{LedgerTable: r.env.LedgerTable, StateTables: r.env.StateTables}}
	for id, outcome := range want {
		rep, err := inspector.Outcome(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Outcome != outcome {
			t.Errorf("outcome of %s = %q, want %q", id, rep.Outcome, outcome)
		}
		if outcome != ops.OutcomeParked && rep.Record.Status != ledger.Enqueued {
			t.Errorf("ledger status of %s = %q, want ENQUEUED: the worker writes no settled outcome", id, rep.Record.Status)
		}
	}
	if rep, _ := inspector.Outcome(context.Background(), order[0].ID); rep.Row == nil || rep.Row.EventID != order[2].ID {
		t.Errorf("the stale NEW's row does not name the newer FILLED: %+v", rep.Row)
	}
	if _, reason := r.ledgerStatus(t, user.ID); !strings.Contains(reason, "domain users") {
		t.Errorf("misrouted event parked with reason %q", reason)
	}

	item := awstest.GetItem(t, r.env.DynamoDB, r.env.StateTables[events.Orders], schema.StatePK, "ORDER#"+orderID)
	if str(item, schema.StateEventID) != order[2].ID || str(item, schema.StateStatus) != "FILLED" {
		t.Fatalf("order row holds %s %s, want the FILLED event %s", str(item, schema.StateEventType), str(item, schema.StateEventID), order[2].ID)
	}
	view, ok := item["executions_view"].(*types.AttributeValueMemberM)
	if !ok || view.Value[execObject["id"].(string)] == nil {
		t.Fatalf("order row lacks the claim-checked execution in its view: %v", item["executions_view"])
	}
	if v := item[schema.StateVersion].(*types.AttributeValueMemberN).Value; v != "2" {
		t.Fatalf("order version %s, want 2 (FILLED and the execution)", v)
	}

	// Two batches, one EMF line each: 2 applied, 3 stale (NEW twice, PROCESSING), 1 duplicate, 2 parked.
	totals := map[string]float64{}
	for _, line := range strings.Split(strings.TrimSpace(r.metrics.String()), "\n") {
		var doc map[string]any
		if err := json.Unmarshal([]byte(line), &doc); err != nil {
			t.Fatalf("EMF line %q: %v", line, err)
		}
		for name, v := range doc {
			if n, ok := v.(float64); ok {
				totals[name] += n
			}
		}
	}
	wantTotals := map[string]float64{observability.MetricApplied: 2, observability.MetricSkippedStale: 3, observability.MetricWorkerDuplicate: 1, observability.MetricParked: 2}
	for name, n := range wantTotals {
		if totals[name] != n {
			t.Errorf("metric %s = %v, want %v (EMF:\n%s)", name, totals[name], n, r.metrics.String())
		}
	}
}

func TestWorkerRetriesWhatDynamoDBRejects(t *testing.T) {
	r := newRig(t, "no-such-table") // every state write fails with ResourceNotFound
	evs := orderEvents(t, statetest.UUID(), "NEW", "FILLED")
	a, b := r.enqueue(t, evs[0], false), r.enqueue(t, evs[1], true)
	user := statetest.Event(t, "USER.CREATED", base, map[string]any{"id": statetest.UUID()})
	parked := r.enqueue(t, user, false)

	failed := r.handle(t, a, parked, b)
	if want := []string{a.MessageId, b.MessageId}; !slices.Equal(failed, want) {
		t.Fatalf("failures %v, want %v: both state writes failed, the misrouted event is parked", failed, want)
	}
	for _, e := range evs {
		if got, _ := r.ledgerStatus(t, e.ID); got != ledger.Enqueued {
			t.Errorf("ledger status of a failed event = %q, want it left ENQUEUED", got)
		}
	}
	if got, _ := r.ledgerStatus(t, user.ID); got != ledger.Parked {
		t.Errorf("misrouted event %q, want PARKED", got)
	}
}

// TestALargeExecutionDoesNotFreezeItsOrder: an execution whose object is
// large (here 220 KB, under DynamoDB's 400 KB per item) was copied whole into
// its order's executions_view, so the order row carried it besides its own
// object; the ORDER.FILLED that lists the execution (as an order's
// executions field does) then no longer fitted, was refused by DynamoDB and
// parked, and the order stayed NEW for good. A view entry keeps an object
// only up to state.MaxViewObjectBytes; the execution's own row keeps it whole.
func TestALargeExecutionDoesNotFreezeItsOrder(t *testing.T) {
	r := newRig(t, "")
	orderID := statetest.UUID()
	newOrder := orderEvents(t, orderID, "NEW")[0]
	execObject := statetest.Sample(t, "EXECUTION.FILLED")
	execID := statetest.UUID()
	execObject["id"], execObject["order_id"] = execID, orderID
	execObject["note"] = strings.Repeat("x", 220*1024)
	exec := statetest.Event(t, "EXECUTION.FILLED", base.Add(30*time.Second), execObject)
	filledObject := statetest.Sample(t, "ORDER.NEW")
	filledObject["id"], filledObject["status"], filledObject["updated_at"] = orderID, "FILLED", statetest.Time(base.Add(time.Minute))
	filledObject["executions"] = []any{execObject}
	filled := statetest.Event(t, "ORDER.FILLED", base.Add(time.Minute), filledObject)

	if failed := r.handle(t, r.enqueue(t, newOrder, false), r.enqueue(t, exec, true)); len(failed) != 0 {
		t.Fatalf("failures %v", failed)
	}
	if failed := r.handle(t, r.enqueue(t, filled, true)); len(failed) != 0 {
		t.Fatalf("failures %v", failed)
	}
	for _, e := range []events.Event{exec, filled} {
		if status, reason := r.ledgerStatus(t, e.ID); status == ledger.Parked {
			t.Fatalf("%s parked: %s", e.Type, reason)
		}
	}
	order := awstest.GetItem(t, r.env.DynamoDB, r.env.StateTables[events.Orders], schema.StatePK, "ORDER#"+orderID)
	if str(order, schema.StateEventID) != filled.ID || str(order, schema.StateStatus) != "FILLED" {
		t.Fatalf("order row holds %s %s, want the FILLED event %s", str(order, schema.StateEventType), str(order, schema.StateStatus), filled.ID)
	}
	row, err := state.DecodeRow(order)
	if err != nil {
		t.Fatal(err)
	}
	entry, ok := row.Views["executions_view"][execID]
	if !ok || entry.EventID != exec.ID || entry.Status != "FILLED" || entry.Object != "" {
		t.Fatalf("view entry %+v (present %v), want the execution's event and status without its object", entry, ok)
	}
	execRow := awstest.GetItem(t, r.env.DynamoDB, r.env.StateTables[events.Orders], schema.StatePK, "EXECUTION#"+execID)
	if str(execRow, schema.StateObject) != exec.CompactObject() {
		t.Fatalf("the execution's own row lacks its whole object")
	}
}
