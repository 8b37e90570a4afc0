package state_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/shared/local/localaws/awstest"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/schema"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/state"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/state/statetest"
)

// These tests run against DynamoDB Local (make test starts it): conditional
// writes, nested map paths and streams are DynamoDB's behaviour, not ours to fake.

// counting passes writes through and counts the successful ones per row: a
// successful conditional write is exactly a real change of that row.
// counting counts, per row, the writes that changed it and all UpdateItem
// calls (a write whose condition failed costs as much as one that did not).
type counting struct {
	state.DynamoAPI
	mu       sync.Mutex
	writes   map[string]int
	attempts map[string]int
}

func (c *counting) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	out, err := c.DynamoAPI.UpdateItem(ctx, in, opts...)
	pk := in.Key[schema.StatePK].(*types.AttributeValueMemberS).Value
	c.mu.Lock()
	defer c.mu.Unlock()
	c.attempts[pk]++
	if err == nil {
		c.writes[pk]++
	}
	return out, err
}

func (c *counting) attemptsOn(pk string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.attempts[pk]
}

func (c *counting) count(pk string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.writes[pk]
}

// fixture is one provisioned environment with a store per domain.
type fixture struct {
	env    awstest.Environment
	db     *counting
	stores map[events.Domain]*state.Dynamo
}

func newFixture(t *testing.T) *fixture {
	env := awstest.Env(t)
	f := &fixture{env: env, db: &counting{DynamoAPI: env.DynamoDB, writes: map[string]int{}, attempts: map[string]int{}}, stores: map[events.Domain]*state.Dynamo{}}
	for _, d := range events.Domains() {
		f.stores[d] = state.NewDynamo(f.db, env.StateTables[d])
	}
	return f
}

func (f *fixture) apply(t testing.TB, e events.Event) (state.Outcome, events.Route) {
	t.Helper()
	r, err := events.Classify(e)
	if err != nil {
		t.Fatalf("classify %s: %v", e.Type, err)
	}
	o, err := f.stores[r.Domain].Apply(context.Background(), e, r)
	if err != nil {
		t.Fatalf("apply %s %s: %v", e.Type, e.ID, err)
	}
	return o, r
}

// row is a state item as the schema describes it.
type row struct {
	PK             string               `dynamodbav:"pk"`
	Category       string               `dynamodbav:"category"`
	Status         *string              `dynamodbav:"status"`
	Object         string               `dynamodbav:"object"`
	UserID         *string              `dynamodbav:"user_id"`
	AccountID      *string              `dynamodbav:"account_id"`
	AccountGroupID *string              `dynamodbav:"account_group_id"`
	OrderedAt      string               `dynamodbav:"ordered_at"`
	Position       *string              `dynamodbav:"position"`
	EventID        string               `dynamodbav:"event_id"`
	EventType      string               `dynamodbav:"event_type"`
	Version        int                  `dynamodbav:"version"`
	UpdatedAt      string               `dynamodbav:"updated_at"`
	Executions     map[string]viewEntry `dynamodbav:"executions_view"`
}

type viewEntry struct {
	Position  string `dynamodbav:"position"`
	EventID   string `dynamodbav:"event_id"`
	EventType string `dynamodbav:"event_type"`
	Status    string `dynamodbav:"status"`
	Object    string `dynamodbav:"object"`
}

func (f *fixture) row(t testing.TB, d events.Domain, pk string) *row {
	t.Helper()
	item := awstest.GetItem(t, f.env.DynamoDB, f.env.StateTables[d], schema.StatePK, pk)
	if item == nil {
		return nil
	}
	var r row
	if err := attributevalue.UnmarshalMap(item, &r); err != nil {
		t.Fatalf("decode row %s: %v", pk, err)
	}
	return &r
}

// mustHold fails unless the row holds exactly event e.
func mustHold(t testing.TB, r *row, e events.Event, route events.Route) {
	t.Helper()
	switch {
	case r == nil:
		t.Fatalf("no row for %s", route.EntityKey)
	case r.EventID != e.ID || r.EventType != e.Type:
		t.Fatalf("row %s holds %s %s, want %s %s", r.PK, r.EventType, r.EventID, e.Type, e.ID)
	case r.Object != string(e.Object):
		t.Fatalf("row %s object is not the exact bytes of the event's object:\n got %s\nwant %s", r.PK, r.Object, e.Object)
	case r.Position == nil || *r.Position != route.Position:
		t.Fatalf("row %s position %v, want %s", r.PK, r.Position, route.Position)
	case r.Category != route.Category || r.OrderedAt != events.SortableTime(route.OrderedAt):
		t.Fatalf("row %s category %q ordered_at %q, want %q %q", r.PK, r.Category, r.OrderedAt, route.Category, events.SortableTime(route.OrderedAt))
	case route.Status != "" && (r.Status == nil || *r.Status != route.Status):
		t.Fatalf("row %s status %v, want %s", r.PK, r.Status, route.Status)
	}
	for name, want := range map[string]string{"user_id": route.UserID, "account_id": route.AccountID, "account_group_id": route.AccountGroupID} {
		got := map[string]*string{"user_id": r.UserID, "account_id": r.AccountID, "account_group_id": r.AccountGroupID}[name]
		if (want == "") != (got == nil) || (got != nil && *got != want) {
			t.Fatalf("row %s %s = %v, want %q (absent when empty)", r.PK, name, got, want)
		}
	}
}

var (
	base         = statetest.Base
	permutations = statetest.Permutations
	lifecycle    = statetest.Lifecycle
	classify     = statetest.Classify
)

func TestDynamo(t *testing.T) {
	f := newFixture(t)

	// First, while the stream is short.
	t.Run("stream records exactly for real changes", func(t *testing.T) {
		testStreamRecords(t, f)
	})

	t.Run("every ordering of a lifecycle ends in the newest state", func(t *testing.T) {
		tests := []struct {
			category string
			statuses []string
		}{
			// Each row: the events in time order. The permutations also
			// interleave a redelivery (see below).
			{"ORDER", []string{"NEW", "PROCESSING", "FILLED"}},
			{"ORDER", []string{"NEW", "PROCESSING", "CANCELLED"}},
			{"ACCOUNT_TRANSFER", []string{"NEW", "PROCESSING", "PARTIALLY_SETTLED", "PARTIALLY_SETTLED", "SETTLED"}},
			{"ACCOUNT_TRANSFER", []string{"NEW", "PROCESSING", "PARTIALLY_SETTLED", "PARTIALLY_SETTLED", "CANCELLED"}},
		}
		for _, tt := range tests {
			t.Run(fmt.Sprint(tt.category, tt.statuses), func(t *testing.T) {
				deliveries := len(tt.statuses)
				redeliver := deliveries < 4 // 3 events + 1 redelivery: 24 orderings; 5 events: 120
				if redeliver {
					deliveries++
				}
				for _, perm := range permutations(deliveries) {
					evs := lifecycle(t, tt.category, tt.statuses...)
					if redeliver {
						evs = append(evs, evs[1]) // the same event delivered twice
					}
					newest := evs[len(tt.statuses)-1]
					applied := map[string]int{}
					for _, i := range perm {
						if o, _ := f.apply(t, evs[i]); o == state.Applied {
							applied[evs[i].ID]++
						}
					}
					route := classify(t, newest)
					r := f.row(t, route.Domain, route.EntityKey)
					mustHold(t, r, newest, route)
					total := 0
					for id, n := range applied {
						if n > 1 {
							t.Fatalf("order %v: event %s applied %d times", perm, id, n)
						}
						total += n
					}
					if applied[newest.ID] != 1 {
						t.Fatalf("order %v: newest event applied %d times, want once", perm, applied[newest.ID])
					}
					if r.Version != total || f.db.count(route.EntityKey) != total {
						t.Fatalf("order %v: version %d, successful writes %d, applied outcomes %d: want all equal",
							perm, r.Version, f.db.count(route.EntityKey), total)
					}
				}
			})
		}
	})

	t.Run("every LatestWins category applied newest first keeps the newest", func(t *testing.T) {
		for _, c := range events.Categories() {
			if c.Model != events.LatestWins {
				continue
			}
			t.Run(c.Name, func(t *testing.T) {
				types := usableTypes(c)
				ids := statetest.IDs()
				var evs []events.Event
				for i := range 3 {
					typ := types[i%len(types)]
					at := base.Add(time.Duration(i) * time.Hour)
					evs = append(evs, statetest.Event(t, c.Name+"."+typ, at, statetest.Object(c, ids, typ, at)))
				}
				var newestRoute events.Route
				for i := 2; i >= 0; i-- {
					o, r := f.apply(t, evs[i])
					want := state.Stale
					if i == 2 {
						want, newestRoute = state.Applied, r
					}
					if o != want {
						t.Fatalf("event %d of 3 (%s): %s, want %s", i+1, evs[i].Type, o, want)
					}
				}
				r := f.row(t, c.Domain, newestRoute.EntityKey)
				mustHold(t, r, evs[2], newestRoute)
				if r.Version != 1 {
					t.Fatalf("version %d, want 1", r.Version)
				}
			})
		}
	})

	t.Run("equal timestamps are ordered by lifecycle rank", func(t *testing.T) {
		c, _ := events.Lookup("ORDER")
		for _, perm := range permutations(3) {
			ids := statetest.IDs()
			statuses := []string{"NEW", "PROCESSING", "FILLED"}
			evs := make([]events.Event, 3)
			for i, s := range statuses {
				evs[i] = statetest.Event(t, "ORDER."+s, base, statetest.Object(c, ids, s, base))
			}
			for _, i := range perm {
				f.apply(t, evs[i])
			}
			route := classify(t, evs[2])
			mustHold(t, f.row(t, events.Orders, route.EntityKey), evs[2], route)
		}
		// EXECUTION objects have no updated_at: the event's created_at orders them.
		exec := statetest.Sample(t, "EXECUTION.FILLED")
		exec["id"], exec["order_id"] = statetest.UUID(), statetest.UUID()
		settled := maps.Clone(exec)
		settled["status"] = "SETTLED"
		settledEvent := statetest.Event(t, "EXECUTION.SETTLED", base, settled)
		if o, _ := f.apply(t, settledEvent); o != state.Applied {
			t.Fatalf("SETTLED: %s", o)
		}
		if o, _ := f.apply(t, statetest.Event(t, "EXECUTION.FILLED", base, exec)); o != state.Stale {
			t.Fatalf("FILLED at the same time after SETTLED: %s, want stale", o)
		}
	})

	t.Run("a duplicate changes nothing", func(t *testing.T) {
		evs := lifecycle(t, "ORDER", "NEW", "PROCESSING")
		_, route := f.apply(t, evs[0])
		before := f.row(t, events.Orders, route.EntityKey)
		if o, _ := f.apply(t, evs[0]); o != state.Duplicate {
			t.Fatalf("redelivery: %s, want duplicate", o)
		}
		if after := f.row(t, events.Orders, route.EntityKey); !rowsEqual(before, after) {
			t.Fatalf("duplicate changed the row:\nbefore %+v\n after %+v", before, after)
		}
		f.apply(t, evs[1])
		if o, _ := f.apply(t, evs[0]); o != state.Stale {
			t.Fatalf("redelivery of an older event: %s, want stale", o)
		}
		if r := f.row(t, events.Orders, route.EntityKey); r.Version != 2 {
			t.Fatalf("version %d, want 2", r.Version)
		}
	})

	t.Run("AppendOnly keeps the first event", func(t *testing.T) {
		for _, c := range events.Categories() {
			if c.Model != events.AppendOnly {
				continue
			}
			t.Run(c.Name, func(t *testing.T) {
				typ := c.Name + "." + c.Types[0]
				// The first event wins whether the next one is newer or older.
				for _, newerFirst := range []bool{false, true} {
					ids := statetest.IDs()
					older := statetest.Event(t, typ, base, statetest.Object(c, ids, "", base))
					newer := statetest.Event(t, typ, base.Add(time.Hour), statetest.Object(c, ids, "", base.Add(time.Hour)))
					first, next := older, newer
					if newerFirst {
						first, next = newer, older
					}
					o1, route := f.apply(t, first)
					o2, _ := f.apply(t, next)
					o3, _ := f.apply(t, first)
					if o1 != state.Applied || o2 != state.Stale || o3 != state.Duplicate {
						t.Fatalf("newer first %v: outcomes %s, %s, %s; want applied, stale, duplicate", newerFirst, o1, o2, o3)
					}
					r := f.row(t, c.Domain, route.EntityKey)
					mustHold(t, r, first, route)
					if r.Version != 1 {
						t.Fatalf("version %d, want 1", r.Version)
					}
				}
			})
		}
		// The official REPORT sample, as sent.
		report := statetest.Sample(t, "REPORT.CREATED")
		report["id"] = statetest.UUID()
		e := statetest.Event(t, "REPORT.CREATED", base, report)
		o, route := f.apply(t, e)
		if o != state.Applied || route.EntityKey != "REPORT#"+report["id"].(string) {
			t.Fatalf("REPORT sample: %s at %s", o, route.EntityKey)
		}
		mustHold(t, f.row(t, events.Reports, route.EntityKey), e, route)
	})

	t.Run("sparse index attributes follow the newest object", func(t *testing.T) {
		position := statetest.Sample(t, "POSITION.UPDATED")
		account := statetest.UUID()
		position["account_id"] = account
		position["user_id"] = "" // an empty string is not a valid index key: it must not be written
		first := statetest.Event(t, "POSITION.UPDATED", base, position)
		o, route := f.apply(t, first)
		if o != state.Applied {
			t.Fatalf("first: %s", o)
		}
		if got := queryIndex(t, f, events.Holdings, schema.StateByAccountIndex, schema.StateAccountID, account); !slices.Equal(got, []string{route.EntityKey}) {
			t.Fatalf("by_account index lists %v, want %s", got, route.EntityKey)
		}
		// A later object without the account id (keyed by instrument only, say) drops it.
		c, _ := events.Lookup("CASH_BALANCE")
		ids := statetest.IDs()
		withAccount := statetest.Object(c, ids, "", base)
		withAccount["account_id"] = account
		withoutAccount := statetest.Object(c, ids, "", base.Add(time.Minute))
		delete(withoutAccount, "account_id")
		f.apply(t, statetest.Event(t, "CASH_BALANCE.UPDATED", base, withAccount))
		later := statetest.Event(t, "CASH_BALANCE.UPDATED", base.Add(time.Minute), withoutAccount)
		_, cashRoute := f.apply(t, later)
		mustHold(t, f.row(t, events.Holdings, cashRoute.EntityKey), later, cashRoute)
		if got := queryIndex(t, f, events.Holdings, schema.StateByAccountIndex, schema.StateAccountID, account); !slices.Equal(got, []string{route.EntityKey}) {
			t.Fatalf("by_account index lists %v, want only the position %s", got, route.EntityKey)
		}
	})

	t.Run("executions view on the order", func(t *testing.T) {
		testExecutionsView(t, f)
	})

	t.Run("concurrent workers end in the newest state", func(t *testing.T) {
		testConcurrentWorkers(t, f)
	})

}

// usableTypes are the category's types keyed by its default key (a type with
// its own key describes another entity); a category without types gets UPDATED.
func usableTypes(c events.Category) []string {
	var out []string
	for _, typ := range c.Types {
		if _, own := c.TypeKeys[typ]; !own {
			out = append(out, typ)
		}
	}
	if len(out) == 0 {
		out = []string{"UPDATED"}
	}
	return out
}

func rowsEqual(a, b *row) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

func queryIndex(t testing.TB, f *fixture, d events.Domain, index, attr, value string) []string {
	t.Helper()
	out, err := f.env.DynamoDB.Query(context.Background(), &dynamodb.QueryInput{
		TableName:                 aws.String(f.env.StateTables[d]),
		IndexName:                 aws.String(index),
		KeyConditionExpression:    aws.String("#k = :v"),
		ExpressionAttributeNames:  map[string]string{"#k": attr},
		ExpressionAttributeValues: map[string]types.AttributeValue{":v": &types.AttributeValueMemberS{Value: value}},
	})
	if err != nil {
		t.Fatalf("query %s: %v", index, err)
	}
	var pks []string
	for _, item := range out.Items {
		pks = append(pks, item[schema.StatePK].(*types.AttributeValueMemberS).Value)
	}
	return pks
}

func shuffled[T any](in []T, r *rand.Rand) []T {
	out := slices.Clone(in)
	r.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

// indexCost asks DynamoDB for each write's consumed capacity per index.
type indexCost struct {
	state.DynamoAPI
	mu   sync.Mutex
	last map[string]float64 // index name: write units of the last successful write
}

func (c *indexCost) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	in.ReturnConsumedCapacity = types.ReturnConsumedCapacityIndexes
	out, err := c.DynamoAPI.UpdateItem(ctx, in, opts...)
	if err == nil && out.ConsumedCapacity != nil {
		c.mu.Lock()
		c.last = map[string]float64{}
		for name, used := range out.ConsumedCapacity.GlobalSecondaryIndexes {
			c.last[name] = aws.ToFloat64(used.CapacityUnits)
		}
		c.mu.Unlock()
	}
	return out, err
}

// The state indexes are keyed by the id alone: an ordinary update (a newer
// event moving status, object and ordered_at) writes no index entry. With
// ordered_at as the indexes' sort key, the same update cost 2 write units per
// index (a sort-key change is a delete and a put).
func TestUpdateWritesNoIndexEntry(t *testing.T) {
	t.Parallel()
	env := awstest.Env(t)
	db := &indexCost{DynamoAPI: env.DynamoDB}
	store := state.NewDynamo(db, env.StateTables[events.Orders])
	c, _ := events.Lookup("ORDER")
	ids := statetest.IDs()
	apply := func(status string, at time.Time, object map[string]any) {
		t.Helper()
		object["account_group_id"] = ids["account_group_id"]
		e := statetest.Event(t, "ORDER."+status, at, object)
		if o, err := store.Apply(context.Background(), e, classify(t, e)); err != nil || o != state.Applied {
			t.Fatalf("ORDER.%s: %s, %v", status, o, err)
		}
	}
	apply("NEW", base, statetest.Object(c, ids, "NEW", base))
	if want := map[string]float64{schema.StateByUserIndex: 1, schema.StateByAccountIndex: 1, schema.StateByAccountGroupIndex: 1}; !maps.Equal(db.last, want) {
		t.Fatalf("first write: index write units %v, want %v", db.last, want)
	}
	later := base.Add(time.Hour)
	apply("FILLED", later, statetest.Object(c, ids, "FILLED", later))
	if len(db.last) != 0 {
		t.Fatalf("an update that keeps the ids wrote index entries: %v write units", db.last)
	}
	// A changed id moves the entry in that index only.
	moved := statetest.Object(c, ids, "FILLED", later.Add(time.Hour))
	moved["account_id"] = statetest.UUID()
	apply("FILLED", later.Add(time.Hour), moved)
	if want := map[string]float64{schema.StateByAccountIndex: 2}; !maps.Equal(db.last, want) {
		t.Fatalf("account change: index write units %v, want %v", db.last, want)
	}
}
