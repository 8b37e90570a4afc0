package rebuild_test

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/shared/local/localaws"
	"github.com/upvest-webhooks/upvest-webhooks/shared/local/localaws/awstest"
	"github.com/upvest-webhooks/upvest-webhooks/shared/local/localrun/localruntest"
	"github.com/upvest-webhooks/upvest-webhooks/shared/local/webhookclient"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/ledger"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/longrun"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/rebuild"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/schema"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/state"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/state/statetest"
	"github.com/upvest-webhooks/upvest-webhooks/shared/testkit/testclock"
)

// Against DynamoDB Local and the SQS server, with the local run's pipeline
// (ingest, queues, workers) building the live tables.

// scenario is orders with executions (a parent view), in two waves, and a
// position per order in another domain.
type scenario struct {
	first, second []json.RawMessage
	newest        map[string]string            // orders-domain row pk → the event id it must end with
	views         map[string]map[string]string // order pk → execution id → event id in executions_view
}

func newScenario(t *testing.T, orders int) scenario {
	s := scenario{newest: map[string]string{}, views: map[string]map[string]string{}}
	position, _ := events.Lookup("POSITION")
	for range orders {
		o := statetest.NewOrder(t, []string{"NEW", "PROCESSING", "FILLED"}, []string{"FILLED", "SETTLED"})
		x := o.Execs[0]
		s.first = append(s.first, o.Orders["PROCESSING"].Raw, x["FILLED"].Raw, o.Orders["NEW"].Raw)
		s.second = append(s.second, o.Orders["FILLED"].Raw, x["SETTLED"].Raw)
		s.newest[o.PK()] = o.Orders["FILLED"].ID
		s.newest[statetest.Classify(t, x["SETTLED"]).EntityKey] = x["SETTLED"].ID
		s.views[o.PK()] = map[string]string{statetest.Classify(t, x["SETTLED"]).Parent.EntryID: x["SETTLED"].ID}
		p := statetest.Event(t, "POSITION.UPDATED", statetest.Base, statetest.Object(position, statetest.IDs(), "", statetest.Base))
		s.first = append(s.first, p.Raw)
	}
	return s
}

func post(t *testing.T, c *webhookclient.Client, evs []json.RawMessage) {
	t.Helper()
	results, err := c.PostAll(context.Background(), evs, 7, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range results {
		if !r.OK() {
			t.Fatalf("post: status %d %s", r.Status, r.Body)
		}
	}
}

func row(t *testing.T, env awstest.Environment, table, pk string) (state.Row, bool) {
	t.Helper()
	item := awstest.GetItem(t, env.DynamoDB, table, schema.StatePK, pk)
	if item == nil {
		return state.Row{}, false
	}
	r, err := state.DecodeRow(item)
	if err != nil {
		t.Fatal(err)
	}
	return r, true
}

// newestMissing lists the rows of table that do not hold their newest event yet.
func newestMissing(t *testing.T, env awstest.Environment, table string, s scenario) []string {
	var missing []string
	for pk, id := range s.newest {
		r, ok := row(t, env, table, pk)
		if !ok || r.EventID != id {
			missing = append(missing, pk)
			continue
		}
		for entry, eid := range s.views[pk] {
			if r.Views["executions_view"][entry].EventID != eid {
				missing = append(missing, pk+" view "+entry)
			}
		}
	}
	return missing
}

func waitNewest(t *testing.T, env awstest.Environment, table string, s scenario) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		missing := newestMissing(t, env, table, s)
		if len(missing) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("rows not at their newest event: %v", missing)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// scratchTable makes a state table for a rebuild and deletes it after the test.
func scratchTable(t testing.TB, env awstest.Environment, name string) string {
	t.Helper()
	table := env.Names.Prefix + name
	if err := localaws.EnsureStateTable(context.Background(), env.DynamoDB, table); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = env.DynamoDB.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(table)})
	})
	return table
}

func rebuilder(env awstest.Environment, table string) *rebuild.Rebuilder {
	return &rebuild.Rebuilder{
		Ledger: ledger.NewDynamo(env.DynamoDB, env.LedgerTable), DB: env.DynamoDB,
		Table: table, Domain: events.Orders, Segments: 3, PageSize: 7,
	}
}

func mustEqual(t *testing.T, env awstest.Environment, live, built string) rebuild.VerifySummary {
	t.Helper()
	var diffs []rebuild.Difference
	sum, err := rebuild.Verify(context.Background(), env.DynamoDB, live, built, func(d rebuild.Difference) { diffs = append(diffs, d) })
	if err != nil {
		t.Fatal(err)
	}
	if len(diffs) > 0 || sum.Equal != sum.Compared || sum.Compared == 0 {
		t.Fatalf("%s and %s differ: %+v %+v", live, built, sum, diffs)
	}
	return sum
}

func TestRebuildIntoANewTableEqualsThePipelinesLiveTable(t *testing.T) {
	t.Parallel()
	env := awstest.Env(t)
	client := localruntest.Start(t, env, localruntest.Options{Workers: true})
	s := newScenario(t, 12)
	post(t, client, s.second) // newest first: the older ones arrive stale
	post(t, client, s.first)
	post(t, client, s.second[:4]) // redeliveries
	live := env.StateTables[events.Orders]
	waitNewest(t, env, live, s)

	into := scratchTable(t, env, "rebuilt-orders")
	sum, err := rebuilder(env, into).Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if sum.Events != 12*5 || sum.Applied == 0 || sum.Moved != 0 {
		t.Fatalf("summary %+v: want the 60 orders-domain events read and applied", sum)
	}
	if missing := newestMissing(t, env, into, s); len(missing) > 0 {
		t.Fatalf("rebuilt rows not at their newest event: %v", missing)
	}
	v := mustEqual(t, env, live, into)
	if v.Compared != 24 {
		t.Fatalf("compared %d rows, want 12 orders and 12 executions", v.Compared)
	}

	// A second run changes nothing: safe to run twice.
	again, err := rebuilder(env, into).Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if again.Applied != 0 || again.Events != sum.Events {
		t.Fatalf("second run %+v: want every event already there", again)
	}

	// A live row no event supports is reported, not deleted.
	orphan := "ORDER#" + statetest.UUID()
	if _, err := state.NewDynamo(env.DynamoDB, live).Apply(context.Background(), statetest.NewOrder(t, []string{"NEW"}).Orders["NEW"],
		withKey(statetest.Classify(t, statetest.NewOrder(t, []string{"NEW"}).Orders["NEW"]), orphan)); err != nil {
		t.Fatal(err)
	}
	var diffs []rebuild.Difference
	vs, err := rebuild.Verify(context.Background(), env.DynamoDB, live, into, func(d rebuild.Difference) { diffs = append(diffs, d) })
	if err != nil {
		t.Fatal(err)
	}
	if vs.Unsupported != 1 || len(diffs) != 1 || diffs[0].PK != orphan || diffs[0].Kind != rebuild.DiffUnsupported {
		t.Fatalf("verify %+v %+v: want the orphan reported", vs, diffs)
	}
	if _, ok := row(t, env, live, orphan); !ok {
		t.Fatal("the unsupported row was deleted")
	}
}

// recordReceived records e in the ledger as ingest does, RECEIVED, and returns its route.
func recordReceived(t *testing.T, l *ledger.Dynamo, e events.Event) events.Route {
	t.Helper()
	route := statetest.Classify(t, e)
	if _, _, err := l.Claim(context.Background(), ledger.Record{EventID: e.ID, EventType: e.Type, Domain: route.Domain, EntityKey: route.EntityKey, Raw: e.Raw, Status: ledger.Received}); err != nil {
		t.Fatal(err)
	}
	return route
}

// repairEnv is a private environment, the orders table a repair works on,
// and the ledger it reads.
func repairEnv(t *testing.T) (awstest.Environment, string, *ledger.Dynamo) {
	t.Helper()
	env := awstest.Env(t)
	return env, env.StateTables[events.Orders], ledger.NewDynamo(env.DynamoDB, env.LedgerTable)
}

func withKey(r events.Route, pk string) events.Route {
	r.EntityKey = pk
	return r
}

func TestRebuildInPlaceWhileEventsKeepArrivingEndsNewest(t *testing.T) {
	t.Parallel()
	env := awstest.Env(t)
	client := localruntest.Start(t, env, localruntest.Options{Workers: true})
	s := newScenario(t, 10)
	live := env.StateTables[events.Orders]
	post(t, client, s.first)

	// Slow the rebuild down (small pages, 30 write units/s) so that the
	// second wave lands while it runs.
	r := rebuilder(env, live)
	r.PageSize = 3
	r.Limiter = longrun.NewLimiter(30, nil)
	var wg sync.WaitGroup
	var sum rebuild.Summary
	var runErr error
	wg.Go(func() { sum, runErr = r.Run(context.Background()) })
	for _, e := range s.second {
		post(t, client, []json.RawMessage{e})
		time.Sleep(20 * time.Millisecond)
	}
	wg.Wait()
	if runErr != nil {
		t.Fatal(runErr)
	}
	if sum.Events == 0 {
		t.Fatalf("summary %+v: nothing rebuilt", sum)
	}
	waitNewest(t, env, live, s)
	// And what is there equals a rebuild from the whole ledger.
	into := scratchTable(t, env, "rebuilt-after")
	if _, err := rebuilder(env, into).Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	mustEqual(t, env, live, into)
}

// interrupting stops the run (as Ctrl-C does) after a number of pages.
type interrupting struct {
	rebuild.Scanner
	pages  atomic.Int32
	after  int32
	cancel context.CancelFunc
}

func (i *interrupting) ScanEvents(ctx context.Context, q ledger.ScanQuery, from []ledger.Cursor, fn func(context.Context, ledger.ScanPage) error) error {
	return i.Scanner.ScanEvents(ctx, q, from, func(ctx context.Context, p ledger.ScanPage) error {
		if i.pages.Add(1) > i.after {
			i.cancel()
			return ctx.Err()
		}
		return fn(ctx, p)
	})
}

func TestRebuildInterruptedAndResumedEqualsAnUninterruptedOne(t *testing.T) {
	t.Parallel()
	env := awstest.Env(t)
	client := localruntest.Start(t, env, localruntest.Options{Workers: true})
	s := newScenario(t, 10)
	post(t, client, s.first)
	post(t, client, s.second)
	waitNewest(t, env, env.StateTables[events.Orders], s)

	whole := scratchTable(t, env, "whole")
	if _, err := rebuilder(env, whole).Run(context.Background()); err != nil {
		t.Fatal(err)
	}

	resumed := scratchTable(t, env, "resumed")
	cp := &longrun.CheckpointFile{Path: filepath.Join(t.TempDir(), "rebuild.checkpoint.json")}
	ctx, cancel := context.WithCancel(context.Background())
	r := rebuilder(env, resumed)
	r.Checkpoint = cp
	r.Source = "local ledger " + env.LedgerTable
	r.Ledger = &interrupting{Scanner: r.Ledger, after: 4, cancel: cancel}
	first, err := r.Run(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted run: %v, want cancelled", err)
	}
	if first.Events == 0 || first.Events >= 50 {
		t.Fatalf("interrupted run read %d events: want it stopped half-way", first.Events)
	}
	// Another run with the same checkpoint file is refused: into the live
	// table, or from another ledger.
	other := rebuilder(env, env.StateTables[events.Orders])
	other.Checkpoint, other.Source = cp, r.Source
	if _, err := other.Run(context.Background()); !errors.Is(err, longrun.ErrOtherJob) {
		t.Fatalf("in place, with the checkpoint of a run into another table: %v, want it refused", err)
	}
	other = rebuilder(env, resumed)
	other.Checkpoint, other.Source = cp, "deployed ledger "+env.LedgerTable
	if _, err := other.Run(context.Background()); !errors.Is(err, longrun.ErrOtherJob) {
		t.Fatalf("from another ledger: %v, want it refused", err)
	}
	r = rebuilder(env, resumed)
	r.Checkpoint, r.Source = cp, "local ledger "+env.LedgerTable
	second, err := r.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !second.Resumed || second.Events < 50 {
		t.Fatalf("resumed run %+v: want it resumed, counting all 50 events at least once", second)
	}
	mustEqual(t, env, whole, resumed)
	mustEqual(t, env, env.StateTables[events.Orders], resumed)
	if _, _, err := cp.Load("anything", 1); err != nil {
		t.Fatalf("the checkpoint of a finished run was kept: %v", err)
	}
}

func TestRebuildHoldsItsWriteRate(t *testing.T) {
	t.Parallel()
	env := awstest.Env(t)
	client := localruntest.Start(t, env, localruntest.Options{Workers: true})
	s := newScenario(t, 10)
	post(t, client, s.first)
	post(t, client, s.second)
	waitNewest(t, env, env.StateTables[events.Orders], s)

	// A fake clock that moves only when the limiter waits: the rate is the
	// limiter's accounting of DynamoDB's consumed capacity, not the machine's speed.
	const rate = 40.0
	clock := testclock.New(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	r := rebuilder(env, scratchTable(t, env, "rated"))
	r.Limiter = longrun.NewLimiter(rate, clock)
	start := clock.Now()
	sum, err := r.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	elapsed := clock.Now().Sub(start).Seconds()
	if sum.WriteUnits < 50 || elapsed <= 0 {
		t.Fatalf("%.1f write units in %.2f s: too few to measure a rate", sum.WriteUnits, elapsed)
	}
	got := sum.WriteUnits / elapsed
	if got < rate*0.9 || got > rate*1.1 {
		t.Fatalf("%.1f write units in %.2f s = %.1f/s, want %.0f/s ± 10 %%", sum.WriteUnits, elapsed, got, rate)
	}
	if limiterUnits := r.Limiter.Units(); limiterUnits != sum.WriteUnits {
		t.Fatalf("the limiter accounted %.1f units, DynamoDB charged %.1f", limiterUnits, sum.WriteUnits)
	}
}

func TestRepairUnpinsAnEntityThatAFarFutureEventPinned(t *testing.T) {
	t.Parallel()
	env, live, l := repairEnv(t)
	ctx := context.Background()
	store := state.NewDynamo(env.DynamoDB, live)

	farFuture := time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)
	o := statetest.NewOrder(t, []string{"NEW", "FILLED"}, []string{"FILLED", "SETTLED"})
	pinned := o.Orders["NEW"]
	var obj map[string]any
	if err := json.Unmarshal(pinned.Object, &obj); err != nil {
		t.Fatal(err)
	}
	obj["updated_at"] = statetest.Time(farFuture)
	pinned = statetest.Event(t, "ORDER.NEW", statetest.Base, obj)
	execObj := map[string]any{}
	if err := json.Unmarshal(o.Execs[0]["FILLED"].Object, &execObj); err != nil {
		t.Fatal(err)
	}
	pinnedExec := statetest.Event(t, "EXECUTION.FILLED", farFuture, execObj)
	// The pipeline's order: each recorded, then applied; the pinning events first.
	sequence := []events.Event{pinned, pinnedExec, o.Orders["FILLED"], o.Execs[0]["SETTLED"]}
	for _, e := range sequence {
		route := recordReceived(t, l, e)
		if _, err := store.Apply(ctx, e, route); err != nil {
			t.Fatal(err)
		}
	}
	entry := statetest.Classify(t, pinnedExec).Parent.EntryID
	before, _ := row(t, env, live, o.PK())
	if before.EventID != pinned.ID || before.Views["executions_view"][entry].EventID != pinnedExec.ID {
		t.Fatalf("setup: row holds %s / %v, want it pinned", before.EventID, before.Views)
	}

	reps, err := rebuilder(env, live).RepairEntities(ctx, env.DynamoDB, []string{o.PK(), "ORDER#no-such-order"})
	if err != nil {
		t.Fatal(err)
	}
	after, _ := row(t, env, live, o.PK())
	if after.EventID != o.Orders["FILLED"].ID || after.Views["executions_view"][entry].EventID != o.Execs[0]["SETTLED"].ID {
		t.Fatalf("after repair the row holds %s / %+v, want ORDER.FILLED and EXECUTION.SETTLED", after.EventID, after.Views)
	}
	if rep := reps[0]; !rep.Reset || rep.Before != pinned.ID || rep.After != o.Orders["FILLED"].ID || len(rep.FarFuture) != 2 {
		t.Fatalf("report %+v", rep)
	}
	if rep := reps[1]; rep.Reset || rep.Note == "" {
		t.Fatalf("a row without events: %+v, want it left alone with a note", rep)
	}
	// The row moves on again with live traffic: a newer real event applies.
	newer := o.Orders["FILLED"]
	var newerObj map[string]any
	_ = json.Unmarshal(newer.Object, &newerObj)
	newerObj["status"], newerObj["updated_at"] = "CANCELLED", statetest.Time(statetest.Base.Add(time.Hour))
	cancelled := statetest.Event(t, "ORDER.CANCELLED", statetest.Base.Add(time.Hour), newerObj)
	if out, err := store.Apply(ctx, cancelled, statetest.Classify(t, cancelled)); err != nil || out != state.Applied {
		t.Fatalf("a later event after the repair: %s %v, want applied", out, err)
	}
}

// An ORDER row that holds only its executions' view (the order's own events
// never came) keeps nothing after a repair that no event supports: what was
// written into it by hand or by a bug is removed, the view is re-derived.
func TestRepairOfARowWithoutItsOwnEventsKeepsOnlyWhatEventsSupport(t *testing.T) {
	t.Parallel()
	env, live, l := repairEnv(t)
	ctx := context.Background()
	o := statetest.NewOrder(t, nil, []string{"FILLED"})
	exec := o.Execs[0]["FILLED"]
	route := recordReceived(t, l, exec)
	if _, err := state.NewDynamo(env.DynamoDB, live).Apply(ctx, exec, route); err != nil {
		t.Fatal(err)
	}
	_, err := env.DynamoDB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(live), Key: map[string]types.AttributeValue{schema.StatePK: &types.AttributeValueMemberS{Value: o.PK()}},
		UpdateExpression:         aws.String("SET #status = :s, #object = :o, #event = :e"),
		ExpressionAttributeNames: map[string]string{"#status": schema.StateStatus, "#object": schema.StateObject, "#event": schema.StateEventID},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":s": &types.AttributeValueMemberS{Value: "BROKEN"}, ":o": &types.AttributeValueMemberS{Value: "{}"}, ":e": &types.AttributeValueMemberS{Value: "not-an-event"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}

	rep, err := rebuilder(env, live).RepairEntity(ctx, env.DynamoDB, o.PK())
	if err != nil {
		t.Fatal(err)
	}
	after, _ := row(t, env, live, o.PK())
	if after.Status != "" || after.Object != "" || after.EventID != "" || after.Position != "" {
		t.Fatalf("after repair the row keeps status %q, object %q, event %q, position %q: no event supports them", after.Status, after.Object, after.EventID, after.Position)
	}
	if got := after.Views["executions_view"][route.Parent.EntryID].EventID; got != exec.ID {
		t.Fatalf("after repair the view holds %q, want the execution %s", got, exec.ID)
	}
	if !rep.Reset || rep.Applied != 1 || rep.Before != "not-an-event" || rep.After != "" {
		t.Fatalf("report %+v", rep)
	}
}

func TestRepairRefusesARowThatChangedSinceItWasRead(t *testing.T) {
	t.Parallel()
	env, live, l := repairEnv(t)
	ctx := context.Background()
	o := statetest.NewOrder(t, []string{"NEW", "FILLED"})
	for _, e := range []events.Event{o.Orders["NEW"], o.Orders["FILLED"]} {
		recordReceived(t, l, e)
	}
	store := state.NewDynamo(env.DynamoDB, live)
	if _, err := store.Apply(ctx, o.Orders["NEW"], statetest.Classify(t, o.Orders["NEW"])); err != nil {
		t.Fatal(err)
	}
	// A worker writes the row between the repair's read and its reset.
	racing := &afterGet{RowAPI: env.DynamoDB, once: func() {
		if _, err := store.Apply(ctx, o.Orders["FILLED"], statetest.Classify(t, o.Orders["FILLED"])); err != nil {
			t.Error(err)
		}
	}}
	_, err := rebuilder(env, live).RepairEntity(ctx, racing, o.PK())
	if !errors.Is(err, rebuild.ErrRowChanged) {
		t.Fatalf("repair of a row that changed meanwhile: %v, want ErrRowChanged", err)
	}
	if r, _ := row(t, env, live, o.PK()); r.EventID != o.Orders["FILLED"].ID || r.Position == "" {
		t.Fatalf("the worker's write was overwritten: %+v", r)
	}
}

type afterGet struct {
	rebuild.RowAPI
	done bool
	once func()
}

func (a *afterGet) GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	out, err := a.RowAPI.GetItem(ctx, in, opts...)
	if !a.done {
		a.done = true
		a.once()
	}
	return out, err
}

func TestRebuildSinceAppliesOnlyWhatCameAfter(t *testing.T) {
	t.Parallel()
	env := awstest.Env(t)
	ctx := context.Background()
	var now time.Time
	l := ledger.NewDynamo(env.DynamoDB, env.LedgerTable, ledger.WithClock(func() time.Time { return now }))
	restoredAt := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	before, after := statetest.NewOrder(t, []string{"NEW"}), statetest.NewOrder(t, []string{"NEW", "FILLED"})
	for i, e := range []events.Event{before.Orders["NEW"], after.Orders["NEW"], after.Orders["FILLED"]} {
		now = restoredAt.Add(time.Duration(2*i-1) * time.Minute) // -1, +1, +3 minutes
		recordReceived(t, l, e)
	}
	into := scratchTable(t, env, "since")
	r := rebuilder(env, into)
	r.Since = restoredAt
	sum, err := r.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Events != 2 {
		t.Fatalf("%d events applied, want the 2 received after the restore point", sum.Events)
	}
	if _, ok := row(t, env, into, before.PK()); ok {
		t.Fatal("an event from before -since was applied")
	}
	if got, _ := row(t, env, into, after.PK()); got.EventID != after.Orders["FILLED"].ID {
		t.Fatalf("row after -since holds %s, want ORDER.FILLED", got.EventID)
	}
}

// afterScan applies a live event once the repair's ledger Scan is done: the
// pipeline does not stop for a repair, and a Scan of a large ledger takes minutes.
type afterScan struct {
	rebuild.Scanner
	t    *testing.T
	live func()
}

func (a afterScan) ScanEvents(ctx context.Context, q ledger.ScanQuery, from []ledger.Cursor, fn func(context.Context, ledger.ScanPage) error) error {
	if !q.ConsistentRead {
		a.t.Error("the repair's Scan is eventually consistent: it may miss the event the row holds")
	}
	err := a.Scanner.ScanEvents(ctx, q, from, fn)
	a.live()
	return err
}

// An event recorded and applied while the repair scans is in no list the
// repair holds: clearing the row would move it back past that event.
func TestRepairRefusesARowThatALiveEventMovedDuringItsScan(t *testing.T) {
	t.Parallel()
	env, live, l := repairEnv(t)
	ctx := context.Background()
	store := state.NewDynamo(env.DynamoDB, live)
	o := statetest.NewOrder(t, []string{"NEW", "PROCESSING", "FILLED"})
	for _, status := range []string{"NEW", "PROCESSING"} {
		e := o.Orders[status]
		if _, err := store.Apply(ctx, e, recordReceived(t, l, e)); err != nil {
			t.Fatal(err)
		}
	}
	filled := o.Orders["FILLED"]
	r := rebuilder(env, live)
	r.Ledger = afterScan{Scanner: l, t: t, live: func() {
		if out, err := store.Apply(ctx, filled, recordReceived(t, l, filled)); err != nil || out != state.Applied {
			t.Errorf("the live event: %s %v, want applied", out, err)
		}
	}}
	_, err := r.RepairEntity(ctx, env.DynamoDB, o.PK())
	if !errors.Is(err, rebuild.ErrRowChanged) {
		t.Fatalf("repair of a row a live event moved during the Scan: %v, want ErrRowChanged", err)
	}
	if after, _ := row(t, env, live, o.PK()); after.EventID != filled.ID || after.Position == "" {
		t.Fatalf("the row holds %s (position %q), want the live ORDER.FILLED", after.EventType, after.Position)
	}
}

// An event parked as ahead of the clock at receipt and replayed once its time
// came was applied by the pipeline: a rebuild keeps it, and a repair does not
// move its row back past it.
func TestRebuildKeepsAnAheadEventReplayedOnceItsTimeCame(t *testing.T) {
	t.Parallel()
	env := awstest.Env(t)
	ctx := context.Background()
	live := env.StateTables[events.Orders]
	clock := testclock.New(time.Now().UTC().Add(-20 * time.Minute))
	l := ledger.NewDynamo(env.DynamoDB, env.LedgerTable, ledger.WithClock(clock.Now))
	store := state.NewDynamo(env.DynamoDB, live)

	order, _ := events.Lookup("ORDER")
	ids := statetest.IDs()
	receivedAt := clock.Now()
	created := statetest.Event(t, "ORDER.NEW", receivedAt.Add(-time.Minute), statetest.Object(order, ids, "NEW", receivedAt.Add(-time.Minute)))
	if _, err := store.Apply(ctx, created, recordReceived(t, l, created)); err != nil {
		t.Fatal(err)
	}
	// Upvest's clock ran ten minutes ahead: ingest parks the FILLED at receipt.
	fillAt := receivedAt.Add(10 * time.Minute)
	filled := statetest.Event(t, "ORDER.FILLED", fillAt, statetest.Object(order, ids, "FILLED", fillAt))
	_, route, aheadErr := events.ClassifyAt(filled.Raw, receivedAt)
	if aheadErr == nil {
		t.Fatal("setup: the FILLED is not ahead at its receipt")
	}
	if _, _, err := l.Claim(ctx, ledger.Record{EventID: filled.ID, EventType: filled.Type, Domain: route.Domain,
		EntityKey: route.EntityKey, Raw: filled.Raw, Status: ledger.Parked, Reason: aheadErr.Error()}); err != nil {
		t.Fatal(err)
	}
	// Twenty minutes on, `ops replay` reopens it and the worker applies it.
	clock.Advance(20 * time.Minute)
	if err := l.Reopen(ctx, filled.ID, route.Domain, route.EntityKey); err != nil {
		t.Fatal(err)
	}
	_, route, err := events.ClassifyAt(filled.Raw, clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if out, err := store.Apply(ctx, filled, route); err != nil || out != state.Applied {
		t.Fatalf("the worker: %s %v, want applied", out, err)
	}

	into := scratchTable(t, env, "ahead-replayed")
	r := rebuilder(env, into)
	sum, err := r.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if built, _ := row(t, env, into, route.EntityKey); built.EventID != filled.ID || sum.FarFuture != 0 {
		t.Fatalf("rebuilt row holds %s, %d left out as far-future; want the replayed ORDER.FILLED kept", built.EventType, sum.FarFuture)
	}
	r.Table = live
	rep, err := r.RepairEntity(ctx, env.DynamoDB, route.EntityKey)
	if err != nil {
		t.Fatal(err)
	}
	if after, _ := row(t, env, live, route.EntityKey); after.EventID != filled.ID || len(rep.FarFuture) != 0 {
		t.Fatalf("after repair the row holds %s (far-future %v), want the replayed ORDER.FILLED", after.EventType, rep.FarFuture)
	}
}
