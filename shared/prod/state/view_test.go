package state_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	streamtypes "github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"

	"github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/shared/local/localaws/awstest"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/schema"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/state"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/state/statetest"
)

// mustHaveEntry fails unless the order row's view holds event e for its execution.
func mustHaveEntry(t testing.TB, r *row, e events.Event) {
	t.Helper()
	route := classify(t, e)
	got, ok := r.Executions[route.Parent.EntryID]
	switch {
	case !ok:
		t.Fatalf("view of %s lacks execution %s: %+v", r.PK, route.Parent.EntryID, r.Executions)
	case got.EventID != e.ID || got.EventType != e.Type || got.Status != route.Status || got.Position != route.Position:
		t.Fatalf("view entry %s = %+v, want event %s %s status %s", route.Parent.EntryID, got, e.Type, e.ID, route.Status)
	case got.Object != e.CompactObject():
		t.Fatalf("view entry %s object is not the event's object, compacted", route.Parent.EntryID)
	}
}

func testExecutionsView(t *testing.T, f *fixture) {
	t.Run("execution after its order", func(t *testing.T) {
		o := statetest.NewOrder(t, []string{"NEW"}, []string{"FILLED"})
		f.apply(t, o.Orders["NEW"])
		before := f.db.attemptsOn(o.PK())
		if out, _ := f.apply(t, o.Execs[0]["FILLED"]); out != state.Applied {
			t.Fatalf("execution: %s", out)
		}
		if n := f.db.attemptsOn(o.PK()) - before; n != 1 {
			t.Fatalf("the execution's view took %d writes on its order's row, want 1: a new execution creates the map first", n)
		}
		r := f.row(t, events.Orders, o.PK())
		mustHold(t, r, o.Orders["NEW"], classify(t, o.Orders["NEW"]))
		mustHaveEntry(t, r, o.Execs[0]["FILLED"])
		if r.Version != 2 {
			t.Fatalf("order version %d, want 2", r.Version)
		}
		execRoute := classify(t, o.Execs[0]["FILLED"])
		mustHold(t, f.row(t, events.Orders, execRoute.EntityKey), o.Execs[0]["FILLED"], execRoute)
	})

	t.Run("execution before its order", func(t *testing.T) {
		o := statetest.NewOrder(t, []string{"NEW", "FILLED"}, []string{"FILLED"})
		f.apply(t, o.Execs[0]["FILLED"])
		if n := f.db.attemptsOn(o.PK()); n != 1 {
			t.Fatalf("the view took %d writes on a missing order row, want 1 (a new execution creates the map first)", n)
		}
		r := f.row(t, events.Orders, o.PK())
		if r == nil || r.Position != nil || r.Status != nil || r.Category != "ORDER" || r.Version != 1 {
			t.Fatalf("order row made by the execution = %+v, want only the view (category ORDER, version 1)", r)
		}
		mustHaveEntry(t, r, o.Execs[0]["FILLED"])
		for _, s := range []string{"NEW", "FILLED"} {
			if out, _ := f.apply(t, o.Orders[s]); out != state.Applied {
				t.Fatalf("ORDER.%s after the execution: %s, want applied", s, out)
			}
			r = f.row(t, events.Orders, o.PK())
			mustHold(t, r, o.Orders[s], classify(t, o.Orders[s]))
			mustHaveEntry(t, r, o.Execs[0]["FILLED"]) // the order's own write keeps the view
		}
		if r.Version != 3 {
			t.Fatalf("order version %d, want 3", r.Version)
		}
	})

	// Which write comes first is a guess from the event's own row; a wrong
	// guess costs one write more and never a wrong row.
	t.Run("writes per view change", func(t *testing.T) {
		o := statetest.NewOrder(t, []string{"NEW"}, []string{"FILLED", "SETTLED"}, []string{"FILLED"})
		f.apply(t, o.Orders["NEW"])
		for _, step := range []struct {
			what   string
			event  events.Event
			writes int
		}{
			{"the first execution's first event creates the map", o.Execs[0]["FILLED"], 1},
			{"its next event writes into the map", o.Execs[0]["SETTLED"], 1},
			{"a second execution's first event guesses wrong, then writes into the map", o.Execs[1]["FILLED"], 2},
			{"a redelivered event is rejected by the entry's position", o.Execs[1]["FILLED"], 1},
		} {
			before := f.db.attemptsOn(o.PK())
			f.apply(t, step.event)
			if n := f.db.attemptsOn(o.PK()) - before; n != step.writes {
				t.Errorf("%s: %d writes on the order row, want %d", step.what, n, step.writes)
			}
		}
		r := f.row(t, events.Orders, o.PK())
		mustHaveEntry(t, r, o.Execs[0]["SETTLED"])
		mustHaveEntry(t, r, o.Execs[1]["FILLED"])
		if r.Version != 4 {
			t.Errorf("order version %d, want 4 (NEW and three view changes)", r.Version)
		}
	})

	t.Run("an entry only moves forward", func(t *testing.T) {
		o := statetest.NewOrder(t, []string{"NEW"}, []string{"FILLED", "SETTLED"})
		f.apply(t, o.Orders["NEW"])
		f.apply(t, o.Execs[0]["SETTLED"])
		before := f.row(t, events.Orders, o.PK())
		if out, _ := f.apply(t, o.Execs[0]["FILLED"]); out != state.Stale {
			t.Fatalf("older execution event: %s, want stale", out)
		}
		if out, _ := f.apply(t, o.Execs[0]["SETTLED"]); out != state.Duplicate {
			t.Fatalf("redelivered execution event: %s, want duplicate", out)
		}
		after := f.row(t, events.Orders, o.PK())
		mustHaveEntry(t, after, o.Execs[0]["SETTLED"])
		if !rowsEqual(before, after) {
			t.Fatalf("stale and duplicate execution events changed the order row")
		}
	})

	t.Run("every ordering of an order and its executions", func(t *testing.T) {
		for _, perm := range permutations(5) {
			o := statetest.NewOrder(t, []string{"NEW", "FILLED"}, []string{"FILLED", "SETTLED"}, []string{"FILLED"})
			evs := []events.Event{o.Orders["NEW"], o.Orders["FILLED"], o.Execs[0]["FILLED"], o.Execs[0]["SETTLED"], o.Execs[1]["FILLED"]}
			for _, i := range perm {
				f.apply(t, evs[i])
			}
			r := f.row(t, events.Orders, o.PK())
			mustHold(t, r, o.Orders["FILLED"], classify(t, o.Orders["FILLED"]))
			mustHaveEntry(t, r, o.Execs[0]["SETTLED"])
			mustHaveEntry(t, r, o.Execs[1]["FILLED"])
			if len(r.Executions) != 2 {
				t.Fatalf("order %v: view has %d entries, want 2", perm, len(r.Executions))
			}
			if r.Version != f.db.count(o.PK()) {
				t.Fatalf("order %v: version %d, successful writes %d", perm, r.Version, f.db.count(o.PK()))
			}
		}
	})

	for _, viewExists := range []bool{false, true} {
		t.Run(fmt.Sprint("a retry finishes an event whose view write failed, view exists ", viewExists), func(t *testing.T) {
			o := statetest.NewOrder(t, []string{"NEW"}, []string{"FILLED"}, []string{"FILLED"})
			entriesBefore := 0
			if viewExists {
				f.apply(t, o.Execs[1]["FILLED"]) // the failed write is then the entry write, not the map's creation
				entriesBefore = 1
			}
			exec := o.Execs[0]["FILLED"]
			route := classify(t, exec)
			failing := &hooked{DynamoAPI: f.env.DynamoDB, before: func(in *dynamodb.UpdateItemInput) error {
				if pkOf(in) == o.PK() {
					return errors.New("injected: connection reset")
				}
				return nil
			}}
			if _, err := state.NewDynamo(failing, f.env.StateTables[events.Orders]).Apply(context.Background(), exec, route); err == nil {
				t.Fatal("Apply hid the failed view write")
			}
			if r := f.row(t, events.Orders, o.PK()); r != nil && len(r.Executions) != entriesBefore {
				t.Fatalf("view written although its write failed: %+v", r.Executions)
			}
			if out, _ := f.apply(t, exec); out != state.Applied {
				t.Fatalf("retry: %s, want applied (own row duplicate, view written)", out)
			}
			mustHaveEntry(t, f.row(t, events.Orders, o.PK()), exec)
			if out, _ := f.apply(t, exec); out != state.Duplicate {
				t.Fatalf("second retry: %s, want duplicate", out)
			}
		})
	}

	t.Run("two executions racing to create the view both land", func(t *testing.T) {
		o := statetest.NewOrder(t, nil, []string{"FILLED"}, []string{"FILLED"})
		first, second := o.Execs[0]["FILLED"], o.Execs[1]["FILLED"]
		plain := state.NewDynamo(f.env.DynamoDB, f.env.StateTables[events.Orders])
		var once sync.Once
		racing := &hooked{DynamoAPI: f.env.DynamoDB, before: func(in *dynamodb.UpdateItemInput) error {
			// Just before the first execution creates the map, the second one does.
			if pkOf(in) == o.PK() && aws.ToString(in.ConditionExpression) == "attribute_not_exists(#view)" {
				var err error
				once.Do(func() { _, err = plain.Apply(context.Background(), second, classify(t, second)) })
				return err
			}
			return nil
		}}
		out, err := state.NewDynamo(racing, f.env.StateTables[events.Orders]).Apply(context.Background(), first, classify(t, first))
		if err != nil || out != state.Applied {
			t.Fatalf("Apply = %s, %v; want applied", out, err)
		}
		r := f.row(t, events.Orders, o.PK())
		mustHaveEntry(t, r, first)
		mustHaveEntry(t, r, second)
		if r.Version != 2 {
			t.Fatalf("order version %d, want 2", r.Version)
		}
	})
}

// hooked runs before() ahead of each write; an error from it replaces the write.
type hooked struct {
	state.DynamoAPI
	before func(in *dynamodb.UpdateItemInput) error
}

func (h *hooked) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	if err := h.before(in); err != nil {
		return nil, err
	}
	return h.DynamoAPI.UpdateItem(ctx, in, opts...)
}

func pkOf(in *dynamodb.UpdateItemInput) string {
	return in.Key[schema.StatePK].(*types.AttributeValueMemberS).Value
}

// applyConcurrently runs one goroutine per worker, each applying every event
// in its own shuffled order, and returns how many applies changed the state.
func applyConcurrently(t *testing.T, f *fixture, workers int, evs []events.Event, seed uint64) int {
	t.Helper()
	var mu sync.Mutex
	applied := 0
	var errs []error
	var wg sync.WaitGroup
	for w := range workers {
		order := shuffled(evs, rand.New(rand.NewPCG(seed, uint64(w))))
		wg.Go(func() {
			for _, e := range order {
				r, err := events.Classify(e)
				if err == nil {
					var o state.Outcome
					o, err = f.stores[r.Domain].Apply(context.Background(), e, r)
					if o == state.Applied {
						mu.Lock()
						applied++
						mu.Unlock()
					}
				}
				if err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("concurrent apply: %v", err)
	}
	return applied
}

func testConcurrentWorkers(t *testing.T, f *fixture) {
	const workers = 8
	for round := range 5 {
		t.Run(fmt.Sprint("account transfer, round ", round), func(t *testing.T) {
			evs := lifecycle(t, "ACCOUNT_TRANSFER", "NEW", "PROCESSING", "PARTIALLY_SETTLED", "PARTIALLY_SETTLED", "SETTLED")
			applied := applyConcurrently(t, f, workers, evs, uint64(round))
			route := classify(t, evs[4])
			r := f.row(t, events.Transfers, route.EntityKey)
			mustHold(t, r, evs[4], route)
			if r.Version != applied || f.db.count(route.EntityKey) != applied {
				t.Fatalf("version %d, successful writes %d, applied outcomes %d: want all equal", r.Version, f.db.count(route.EntityKey), applied)
			}
		})
		t.Run(fmt.Sprint("order and executions, round ", round), func(t *testing.T) {
			o := statetest.NewOrder(t, []string{"NEW", "PROCESSING", "FILLED"}, []string{"FILLED", "SETTLED"}, []string{"FILLED"}, []string{"FILLED", "CANCELLED"})
			var evs []events.Event
			for _, e := range o.Orders {
				evs = append(evs, e)
			}
			for _, x := range o.Execs {
				for _, e := range x {
					evs = append(evs, e)
				}
			}
			applyConcurrently(t, f, workers, evs, uint64(round))
			r := f.row(t, events.Orders, o.PK())
			mustHold(t, r, o.Orders["FILLED"], classify(t, o.Orders["FILLED"]))
			mustHaveEntry(t, r, o.Execs[0]["SETTLED"])
			mustHaveEntry(t, r, o.Execs[1]["FILLED"])
			mustHaveEntry(t, r, o.Execs[2]["CANCELLED"])
			if r.Version != f.db.count(o.PK()) {
				t.Fatalf("order version %d, successful writes %d: want equal", r.Version, f.db.count(o.PK()))
			}
		})
	}
}

func testStreamRecords(t *testing.T, f *fixture) {
	// One order's lifecycle with stale and duplicate deliveries.
	life := lifecycle(t, "ORDER", "NEW", "PROCESSING", "FILLED")
	lifePK := classify(t, life[0]).EntityKey
	applied := 0
	for _, i := range []int{0, 0, 1, 2, 1, 2, 0} {
		if o, _ := f.apply(t, life[i]); o == state.Applied {
			applied++
		}
	}
	if applied != 3 {
		t.Fatalf("%d applied, want 3", applied)
	}

	// An execution before its order, redeliveries, a second execution.
	o := statetest.NewOrder(t, []string{"NEW"}, []string{"FILLED", "SETTLED"}, []string{"FILLED"})
	e1, e2 := o.Execs[0], o.Execs[1]
	for _, e := range []events.Event{e1["FILLED"], e1["FILLED"], o.Orders["NEW"], e2["FILLED"], e1["SETTLED"], e1["FILLED"], o.Orders["NEW"]} {
		f.apply(t, e)
	}
	exec1PK, exec2PK := classify(t, e1["FILLED"]).EntityKey, classify(t, e2["FILLED"]).EntityKey

	// Writes that change nothing: what an "ensure the map exists" write does
	// when the map is there, and setting an attribute to its own value.
	table := f.env.StateTables[events.Orders]
	for _, noop := range []struct{ expr, value string }{
		{"SET #a = if_not_exists(#a, :v)", "category"},
		{"SET #a = :v", "ORDER"},
	} {
		var v types.AttributeValue = &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{}}
		name := "executions_view"
		if noop.value == "ORDER" {
			v, name = &types.AttributeValueMemberS{Value: "ORDER"}, schema.StateCategory
		}
		_, err := f.env.DynamoDB.UpdateItem(context.Background(), &dynamodb.UpdateItemInput{
			TableName: aws.String(table), Key: map[string]types.AttributeValue{schema.StatePK: &types.AttributeValueMemberS{Value: o.PK()}},
			UpdateExpression: aws.String(noop.expr), ExpressionAttributeNames: map[string]string{"#a": name},
			ExpressionAttributeValues: map[string]types.AttributeValue{":v": v},
		})
		if err != nil {
			t.Fatalf("no-op write %q: %v", noop.expr, err)
		}
	}

	// A sentinel written last: once its record is read, everything before it is.
	sentinel := lifecycle(t, "ORDER", "NEW")[0]
	f.apply(t, sentinel)
	sentinelPK := classify(t, sentinel).EntityKey

	var records []streamtypes.Record
	for attempt := 0; ; attempt++ {
		records = awstest.StreamRecords(t, f.env.Streams, f.env.StateStreamARNs[events.Orders], 1, 30*time.Second)
		if countFor(records, sentinelPK) > 0 {
			break
		}
		if attempt == 50 {
			t.Fatalf("the sentinel's record never appeared in the stream")
		}
		time.Sleep(100 * time.Millisecond)
	}

	want := map[string]int{
		lifePK:  applied,
		o.PK():  4, // view created holding e1, ORDER.NEW, e2 entry, e1 SETTLED entry; no-ops add nothing
		exec1PK: 2, exec2PK: 1, sentinelPK: 1,
	}
	for pk, n := range want {
		if got := countFor(records, pk); got != n || got != f.db.count(pk) {
			t.Errorf("%s: %d stream records, %d successful writes, want %d", pk, got, f.db.count(pk), n)
		}
	}
	// No record ever shows an order with an empty view.
	for _, rec := range records {
		if rec.Dynamodb == nil || keyOf(rec) != o.PK() {
			continue
		}
		view, ok := rec.Dynamodb.NewImage["executions_view"].(*streamtypes.AttributeValueMemberM)
		if !ok || len(view.Value) == 0 {
			t.Errorf("stream record %s %s shows the order without executions", rec.EventName, aws.ToString(rec.Dynamodb.SequenceNumber))
		}
	}
}

func keyOf(rec streamtypes.Record) string {
	if rec.Dynamodb == nil {
		return ""
	}
	if s, ok := rec.Dynamodb.Keys[schema.StatePK].(*streamtypes.AttributeValueMemberS); ok {
		return s.Value
	}
	return ""
}

func countFor(records []streamtypes.Record, pk string) int {
	n := 0
	for _, rec := range records {
		if keyOf(rec) == pk {
			n++
		}
	}
	return n
}
