package statetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/state"
)

// Subject is a store under the contract: Store applies events of every
// domain, Row reads a row back (ok false when there is none).
type Subject struct {
	Store state.Store
	Row   func(t testing.TB, d events.Domain, pk string) (row state.Row, ok bool)
}

// Factory returns a fresh, empty subject.
type Factory func(t *testing.T) Subject

// ByDomain is a Store that hands each event to its domain's store, as the
// deployment does with one worker and table per domain.
type ByDomain map[events.Domain]state.Store

// Apply implements state.Store.
func (s ByDomain) Apply(ctx context.Context, e events.Event, r events.Route) (state.Outcome, error) {
	store, ok := s[r.Domain]
	if !ok {
		return "", fmt.Errorf("no store for domain %q", r.Domain)
	}
	return store.Apply(ctx, e, r)
}

// RunContract holds a state store to the behaviour the workers rely on (see
// package state). Each case gets a fresh subject.
func RunContract(t *testing.T, newSubject Factory) {
	cases := []struct {
		name string
		run  func(t *testing.T, s Subject)
	}{
		{"latest wins in every order of a lifecycle", latestWinsInEveryOrder},
		{"an equal position is a duplicate, an older one stale", duplicateAndStale},
		{"equal timestamps are ordered by lifecycle rank", equalTimestamps},
		{"append-only keeps the first event", appendOnlyKeepsFirst},
		{"executions view keeps the newest event per execution", executionsView},
		{"concurrent appliers end in the newest state", concurrentAppliers},
		{"keys are bounded by events.Classify", boundedKeys},
		{"objects are stored compacted, in the view too", compactedObjects},
		{"a view entry copies an object only up to MaxViewObjectBytes", boundedViewObjects},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.run(t, newSubject(t))
		})
	}
}

// Base is the time the contract's events start from.
var Base = time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)

// Permutations returns every ordering of 0..n-1.
func Permutations(n int) [][]int {
	if n == 0 {
		return [][]int{{}}
	}
	var out [][]int
	for _, p := range Permutations(n - 1) {
		for i := 0; i <= len(p); i++ {
			out = append(out, slices.Insert(slices.Clone(p), i, n-1))
		}
	}
	return out
}

// Lifecycle returns one event per status of one new entity, updated_at one
// minute apart in the order given (a status may repeat: a later update in it).
func Lifecycle(t testing.TB, category string, statuses ...string) []events.Event {
	c, _ := events.Lookup(category)
	ids := IDs()
	out := make([]events.Event, len(statuses))
	for i, s := range statuses {
		at := Base.Add(time.Duration(i) * time.Minute)
		out[i] = Event(t, category+"."+s, at, Object(c, ids, s, at))
	}
	return out
}

// OrderWithExecutions is one order's events, from the official samples, and
// its executions' events; execution i's events are created i seconds apart.
type OrderWithExecutions struct {
	OrderID string
	Orders  map[string]events.Event   // by status
	Execs   []map[string]events.Event // per execution, by status
}

// NewOrder returns an order with the given statuses and one execution per execStatuses.
func NewOrder(t testing.TB, statuses []string, execStatuses ...[]string) OrderWithExecutions {
	o := OrderWithExecutions{OrderID: UUID(), Orders: map[string]events.Event{}}
	object := Sample(t, "ORDER.NEW")
	object["id"] = o.OrderID
	for i, s := range statuses {
		at := Base.Add(time.Duration(i) * time.Minute)
		obj := maps.Clone(object)
		obj["status"], obj["updated_at"] = s, Time(at)
		o.Orders[s] = Event(t, "ORDER."+s, at, obj)
	}
	for _, ss := range execStatuses {
		exec := Sample(t, "EXECUTION.FILLED")
		exec["id"], exec["order_id"] = UUID(), o.OrderID
		byStatus := map[string]events.Event{}
		for i, s := range ss {
			obj := maps.Clone(exec)
			obj["status"] = s
			byStatus[s] = Event(t, "EXECUTION."+s, Base.Add(time.Duration(i)*time.Second), obj)
		}
		o.Execs = append(o.Execs, byStatus)
	}
	return o
}

// PK is the order's state row key.
func (o OrderWithExecutions) PK() string { return "ORDER#" + o.OrderID }

// Classify routes e or fails the test.
func Classify(t testing.TB, e events.Event) events.Route {
	t.Helper()
	r, err := events.Classify(e)
	if err != nil {
		t.Fatalf("classify %s: %v", e.Type, err)
	}
	return r
}

func apply(t testing.TB, s Subject, e events.Event) state.Outcome {
	t.Helper()
	o, err := s.Store.Apply(context.Background(), e, Classify(t, e))
	if err != nil {
		t.Fatalf("apply %s %s: %v", e.Type, e.ID, err)
	}
	return o
}

func mustRow(t testing.TB, s Subject, d events.Domain, pk string) state.Row {
	t.Helper()
	r, ok := s.Row(t, d, pk)
	if !ok {
		t.Fatalf("no row %s", pk)
	}
	return r
}

// MustHold fails unless the row holds exactly event e, routed as r.
func MustHold(t testing.TB, row state.Row, e events.Event, r events.Route) {
	t.Helper()
	got := []string{row.PK, row.EventID, row.EventType, row.Object, row.Position, row.Category, row.OrderedAt, row.Status, row.UserID, row.AccountID, row.AccountGroupID}
	want := []string{r.EntityKey, e.ID, e.Type, e.CompactObject(), r.Position, r.Category, events.SortableTime(r.OrderedAt), r.Status, r.UserID, r.AccountID, r.AccountGroupID}
	names := []string{"pk", "event_id", "event_type", "object", "position", "category", "ordered_at", "status", "user_id", "account_id", "account_group_id"}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("row %.80s: %s = %.80q, want %.80q", row.PK, names[i], got[i], want[i])
		}
	}
}

// MustHaveEntry fails unless the row's view holds event e for its entity.
func MustHaveEntry(t testing.TB, row state.Row, e events.Event) {
	t.Helper()
	r := Classify(t, e)
	got, ok := row.Views[r.Parent.Attribute][r.Parent.EntryID]
	want := state.ViewEntry{Position: r.Position, EventID: e.ID, EventType: e.Type, Status: r.Status, Object: e.CompactObject()}
	if !ok || got != want {
		t.Fatalf("view %s of %s entry %s = %+v (present %v), want %+v", r.Parent.Attribute, row.PK, r.Parent.EntryID, got, ok, want)
	}
}

func latestWinsInEveryOrder(t *testing.T, s Subject) {
	for _, perm := range Permutations(4) {
		evs := Lifecycle(t, "ORDER", "NEW", "PROCESSING", "FILLED")
		evs = append(evs, evs[1]) // a redelivery
		applied := map[string]int{}
		total := 0
		for _, i := range perm {
			if apply(t, s, evs[i]) == state.Applied {
				applied[evs[i].ID]++
				total++
			}
		}
		newest := evs[2]
		route := Classify(t, newest)
		row := mustRow(t, s, route.Domain, route.EntityKey)
		MustHold(t, row, newest, route)
		if applied[newest.ID] != 1 || applied[evs[1].ID] > 1 {
			t.Fatalf("order %v: applied %v; the newest once, none twice", perm, applied)
		}
		if row.Version != int64(total) {
			t.Fatalf("order %v: version %d, %d applied", perm, row.Version, total)
		}
	}
}

func duplicateAndStale(t *testing.T, s Subject) {
	evs := Lifecycle(t, "ACCOUNT_TRANSFER", "NEW", "PROCESSING")
	route := Classify(t, evs[0])
	if o := apply(t, s, evs[0]); o != state.Applied {
		t.Fatalf("first: %s", o)
	}
	before := mustRow(t, s, route.Domain, route.EntityKey)
	if o := apply(t, s, evs[0]); o != state.Duplicate {
		t.Fatalf("redelivery: %s, want duplicate", o)
	}
	if after := mustRow(t, s, route.Domain, route.EntityKey); after.Version != before.Version || after.EventID != before.EventID {
		t.Fatalf("a duplicate changed the row: %+v -> %+v", before, after)
	}
	apply(t, s, evs[1])
	if o := apply(t, s, evs[0]); o != state.Stale {
		t.Fatalf("older event: %s, want stale", o)
	}
	row := mustRow(t, s, route.Domain, route.EntityKey)
	MustHold(t, row, evs[1], Classify(t, evs[1]))
	if row.Version != 2 {
		t.Fatalf("version %d, want 2", row.Version)
	}
}

func equalTimestamps(t *testing.T, s Subject) {
	c, _ := events.Lookup("ORDER")
	for _, perm := range Permutations(3) {
		ids := IDs()
		var evs []events.Event
		for _, status := range []string{"NEW", "PROCESSING", "FILLED"} {
			evs = append(evs, Event(t, "ORDER."+status, Base, Object(c, ids, status, Base)))
		}
		for _, i := range perm {
			apply(t, s, evs[i])
		}
		route := Classify(t, evs[2])
		MustHold(t, mustRow(t, s, route.Domain, route.EntityKey), evs[2], route)
	}
}

func appendOnlyKeepsFirst(t *testing.T, s Subject) {
	for _, c := range events.Categories() {
		if c.Model != events.AppendOnly {
			continue
		}
		typ := c.Name + "." + c.Types[0]
		for _, newerFirst := range []bool{false, true} {
			ids := IDs()
			first := Event(t, typ, Base, Object(c, ids, "", Base))
			next := Event(t, typ, Base.Add(time.Hour), Object(c, ids, "", Base.Add(time.Hour)))
			if newerFirst {
				first, next = next, first
			}
			got := []state.Outcome{apply(t, s, first), apply(t, s, next), apply(t, s, first)}
			if want := []state.Outcome{state.Applied, state.Stale, state.Duplicate}; !slices.Equal(got, want) {
				t.Fatalf("%s, newer first %v: %v, want %v", c.Name, newerFirst, got, want)
			}
			route := Classify(t, first)
			row := mustRow(t, s, route.Domain, route.EntityKey)
			MustHold(t, row, first, route)
			if row.Version != 1 {
				t.Fatalf("%s: version %d, want 1", c.Name, row.Version)
			}
		}
	}
}

// compactedObjects: a row and a view entry hold the object without the
// whitespace between tokens (Upvest's samples are indented), and with
// everything else as sent: key order, number text, escapes, spaces in strings.
func compactedObjects(t *testing.T, s Subject) {
	orderID, execID := UUID(), UUID()
	indented := func(typ, object string) events.Event {
		raw := fmt.Sprintf("{\n  \"id\": %q,\n  \"created_at\": \"2024-05-01T10:00:00Z\",\n  \"type\": %q,\n  \"object\": %s,\n  \"webhook_id\": %q\n}", UUID(), typ, object, UUID())
		e, err := events.ParseEvent([]byte(raw))
		if err != nil {
			t.Fatalf("parse %s: %v", typ, err)
		}
		return e
	}
	order := indented("ORDER.NEW", "{\n    \"id\": \""+orderID+"\",\n    \"status\": \"NEW\",\n    \"updated_at\": \"2024-05-01T10:00:00Z\",\n"+
		"    \"quantity\": 0.50,\n    \"note\": \"two  spaces,\\ta tab \\u00e9\",\n    \"executions\": [ ]\n  }")
	exec := indented("EXECUTION.FILLED", "{\n    \"id\": \""+execID+"\",\t\"order_id\": \""+orderID+"\",\r\n    \"status\": \"FILLED\"\n  }")
	for _, e := range []events.Event{order, exec} {
		if out := apply(t, s, e); out != state.Applied {
			t.Fatalf("%s: %s", e.Type, out)
		}
	}
	row := mustRow(t, s, events.Orders, "ORDER#"+orderID)
	wantOrder := `{"id":"` + orderID + `","status":"NEW","updated_at":"2024-05-01T10:00:00Z","quantity":0.50,"note":"two  spaces,\ta tab \u00e9","executions":[]}`
	if row.Object != wantOrder {
		t.Errorf("order object = %s\nwant            %s", row.Object, wantOrder)
	}
	wantExec := `{"id":"` + execID + `","order_id":"` + orderID + `","status":"FILLED"}`
	if got := row.Views["executions_view"][execID].Object; got != wantExec {
		t.Errorf("view entry object = %s\nwant                 %s", got, wantExec)
	}
	if got := mustRow(t, s, events.Orders, "EXECUTION#"+execID).Object; got != wantExec {
		t.Errorf("execution object = %s\nwant                %s", got, wantExec)
	}
}

func executionsView(t *testing.T, s Subject) {
	// An execution before its order makes a row holding only the view.
	o := NewOrder(t, []string{"NEW", "FILLED"}, []string{"FILLED", "SETTLED"}, []string{"FILLED"})
	if out := apply(t, s, o.Execs[0]["SETTLED"]); out != state.Applied {
		t.Fatalf("execution before its order: %s", out)
	}
	row := mustRow(t, s, events.Orders, o.PK())
	if row.Position != "" || row.Status != "" || row.Category != "ORDER" || row.Version != 1 {
		t.Fatalf("row made by the view = %+v, want only the view (category ORDER, version 1)", row)
	}
	MustHaveEntry(t, row, o.Execs[0]["SETTLED"])
	// The order still applies and keeps the view.
	if out := apply(t, s, o.Orders["NEW"]); out != state.Applied {
		t.Fatalf("ORDER.NEW after its execution: %s", out)
	}
	// An older event of the execution is stale, the same one a duplicate.
	if out := apply(t, s, o.Execs[0]["FILLED"]); out != state.Stale {
		t.Fatalf("older execution event: %s, want stale", out)
	}
	if out := apply(t, s, o.Execs[0]["SETTLED"]); out != state.Duplicate {
		t.Fatalf("redelivered execution event: %s, want duplicate", out)
	}
	row = mustRow(t, s, events.Orders, o.PK())
	MustHold(t, row, o.Orders["NEW"], Classify(t, o.Orders["NEW"]))
	MustHaveEntry(t, row, o.Execs[0]["SETTLED"])
	if row.Version != 2 {
		t.Fatalf("order version %d, want 2", row.Version)
	}

	// Every ordering of an order and its executions ends the same.
	for _, perm := range Permutations(5) {
		o := NewOrder(t, []string{"NEW", "FILLED"}, []string{"FILLED", "SETTLED"}, []string{"FILLED"})
		evs := []events.Event{o.Orders["NEW"], o.Orders["FILLED"], o.Execs[0]["FILLED"], o.Execs[0]["SETTLED"], o.Execs[1]["FILLED"]}
		applied := 0
		for _, i := range perm {
			if apply(t, s, evs[i]) == state.Applied && evs[i].Type[0] == 'O' {
				applied++
			}
		}
		row := mustRow(t, s, events.Orders, o.PK())
		MustHold(t, row, o.Orders["FILLED"], Classify(t, o.Orders["FILLED"]))
		MustHaveEntry(t, row, o.Execs[0]["SETTLED"])
		MustHaveEntry(t, row, o.Execs[1]["FILLED"])
		if n := len(row.Views["executions_view"]); n != 2 {
			t.Fatalf("order %v: view has %d entries, want 2", perm, n)
		}
	}
}

func concurrentAppliers(t *testing.T, s Subject) {
	const workers = 8
	for round := range 3 {
		transfer := Lifecycle(t, "ACCOUNT_TRANSFER", "NEW", "PROCESSING", "PARTIALLY_SETTLED", "PARTIALLY_SETTLED", "SETTLED")
		o := NewOrder(t, []string{"NEW", "PROCESSING", "FILLED"}, []string{"FILLED", "SETTLED"}, []string{"FILLED"}, []string{"FILLED", "CANCELLED"})
		evs := slices.Clone(transfer)
		for _, e := range o.Orders {
			evs = append(evs, e)
		}
		for _, x := range o.Execs {
			for _, e := range x {
				evs = append(evs, e)
			}
		}
		var mu sync.Mutex
		var errs []error
		var transferApplied int64
		var wg sync.WaitGroup
		for w := range workers {
			order := slices.Clone(evs)
			rand.New(rand.NewPCG(uint64(round), uint64(w))).Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
			wg.Go(func() {
				for _, e := range order {
					r, err := events.Classify(e)
					var out state.Outcome
					if err == nil {
						out, err = s.Store.Apply(context.Background(), e, r)
					}
					mu.Lock()
					if err != nil {
						errs = append(errs, err)
					} else if out == state.Applied && strings.HasPrefix(e.Type, "ACCOUNT_TRANSFER.") {
						transferApplied++
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		route := Classify(t, transfer[4])
		row := mustRow(t, s, route.Domain, route.EntityKey)
		MustHold(t, row, transfer[4], route)
		if row.Version != transferApplied {
			t.Fatalf("round %d: transfer version %d, %d applied", round, row.Version, transferApplied)
		}
		orderRow := mustRow(t, s, events.Orders, o.PK())
		MustHold(t, orderRow, o.Orders["FILLED"], Classify(t, o.Orders["FILLED"]))
		MustHaveEntry(t, orderRow, o.Execs[0]["SETTLED"])
		MustHaveEntry(t, orderRow, o.Execs[1]["FILLED"])
		MustHaveEntry(t, orderRow, o.Execs[2]["CANCELLED"])
	}
}

func boundedKeys(t *testing.T, s Subject) {
	long := strings.Repeat("x", 3*events.MaxKeyBytes) // past DynamoDB's 2048-byte key limit
	c, _ := events.Lookup("ORDER")
	ids := IDs()
	ids["id"], ids["account_id"] = long, long+"a"
	order := Event(t, "ORDER.NEW", Base, Object(c, ids, "NEW", Base))
	exec := Sample(t, "EXECUTION.FILLED")
	exec["id"], exec["order_id"] = long+"e", long
	execution := Event(t, "EXECUTION.FILLED", Base, exec)
	for _, e := range []events.Event{order, execution} {
		if out := apply(t, s, e); out != state.Applied {
			t.Fatalf("%s with long ids: %s", e.Type, out)
		}
	}
	route := Classify(t, order)
	if len(route.EntityKey) > events.MaxKeyBytes || len(route.AccountID) > events.MaxKeyBytes {
		t.Fatalf("route keys not bounded: %d, %d bytes", len(route.EntityKey), len(route.AccountID))
	}
	row := mustRow(t, s, events.Orders, route.EntityKey)
	MustHold(t, row, order, route)
	MustHaveEntry(t, row, execution)
}

func boundedViewObjects(t *testing.T, s Subject) {
	o := NewOrder(t, []string{"NEW"}, []string{"FILLED"}, []string{"FILLED"})
	small, large := o.Execs[0]["FILLED"], o.Execs[1]["FILLED"]
	var object map[string]any
	if err := json.Unmarshal(large.Object, &object); err != nil {
		t.Fatal(err)
	}
	object["note"] = strings.Repeat("x", state.MaxViewObjectBytes)
	large = Event(t, large.Type, Base, object)
	for _, e := range []events.Event{o.Orders["NEW"], small, large} {
		if out := apply(t, s, e); out != state.Applied {
			t.Fatalf("%s: %s", e.Type, out)
		}
	}
	row := mustRow(t, s, events.Orders, o.PK())
	MustHaveEntry(t, row, small)
	r := Classify(t, large)
	want := state.ViewEntry{Position: r.Position, EventID: large.ID, EventType: large.Type, Status: r.Status}
	if got := row.Views[r.Parent.Attribute][r.Parent.EntryID]; got != want {
		t.Fatalf("entry of a large execution = %.200v, want %+v: its object stays on its own row only", got, want)
	}
	MustHold(t, mustRow(t, s, events.Orders, r.EntityKey), large, r)
}
