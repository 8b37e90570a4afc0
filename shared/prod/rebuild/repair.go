package rebuild

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/ledger"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/replay"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/schema"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/state"
)

// RowAPI is what a repair needs of the state table's client.
type RowAPI interface {
	state.DynamoAPI
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
}

// Repair is the re-derivation of one entity's row.
type Repair struct {
	PK        string   `json:"pk"`
	Events    int      `json:"events"`             // the entity's events (own and child view entries) in the ledger
	FarFuture []string `json:"skipped_far_future"` // ids left out as implausible
	Reset     bool     `json:"reset"`              // the row's position and views were cleared to re-apply
	Applied   int      `json:"applied"`            // events that changed the row again
	Before    string   `json:"before_event_id"`    // the row's event before the repair
	After     string   `json:"after_event_id"`     // and after
	Note      string   `json:"note,omitempty"`
}

// ErrRowChanged means the row changed between the repair's read and its
// write: live traffic moved it. Run the repair again.
var ErrRowChanged = errors.New("the row changed while it was being repaired; run the repair again")

// RepairEntity re-derives one row of the domain from its events in the
// ledger, leaving out events whose ordering time is implausibly far in the
// future (Implausible), and overwrites a row such an event pinned:
//
//  1. Read the row.
//  2. Scan the domain's events, strongly consistent; keep the entity's own and
//     those that write a view entry on it (an ORDER's executions). Every event
//     the row held at 1 was in the ledger before it was applied, so the Scan
//     sees it.
//  3. Clear the row's position and views, conditional on its version being
//     the one read at 1: an event applied at any time since, during the Scan
//     included, may be one the Scan missed, and clearing would lose it.
//  4. Apply the kept events with the workers' state code, newest first, so the
//     newest plausible event is written once and the others are stale.
//
// Between 3 and 4 the row keeps its object without a position; a live event
// landing then is applied, and 4 is only-if-newer, so the row ends newest.
func (r *Rebuilder) RepairEntity(ctx context.Context, db RowAPI, pk string) (Repair, error) {
	reps, err := r.RepairEntities(ctx, db, []string{pk})
	if len(reps) == 0 {
		return Repair{PK: pk}, err
	}
	return reps[0], err
}

// RepairEntities repairs several rows with one Scan of the ledger (memory:
// the events of these rows), one after the other; it stops at the first
// error, with the reports so far.
func (r *Rebuilder) RepairEntities(ctx context.Context, db RowAPI, pks []string) ([]Repair, error) {
	type found struct {
		e     events.Event
		route events.Route
	}
	type entity struct {
		rep        Repair
		own, child []found
	}
	byPK := map[string]*entity{}
	for _, pk := range pks {
		byPK[pk] = &entity{rep: Repair{PK: pk}}
	}
	type read struct {
		row    state.Row
		exists bool
	}
	before := map[string]read{}
	for _, pk := range pks {
		row, exists, err := readRow(ctx, db, r.Table, pk)
		if err != nil {
			return nil, err
		}
		before[pk] = read{row, exists}
	}
	var mu sync.Mutex
	q := ledger.ScanQuery{Segments: max(r.Segments, 1), WithBody: true, PageSize: r.PageSize, TypePrefixes: domainPrefixes(r.Domain), ConsistentRead: true}
	err := r.Ledger.ScanEvents(ctx, q, nil, func(ctx context.Context, p ledger.ScanPage) error {
		for _, s := range p.Records {
			if replay.RoutedDomain(s.EventType) != r.Domain || s.Status == ledger.Parked {
				continue
			}
			e, route, err := events.ClassifyRaw(s.Raw)
			if err != nil || route.Domain != r.Domain {
				continue
			}
			for _, pk := range []string{route.EntityKey, parentOf(route)} {
				ent := byPK[pk]
				if pk == "" || ent == nil {
					continue
				}
				mu.Lock()
				ent.rep.Events++
				switch {
				case Implausible(route.OrderedAt, s):
					ent.rep.FarFuture = append(ent.rep.FarFuture, s.EventID)
				case pk == route.EntityKey:
					ent.own = append(ent.own, found{e, route})
				default:
					ent.child = append(ent.child, found{e, route})
				}
				mu.Unlock()
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	var reps []Repair
	for _, pk := range pks {
		ent := byPK[pk]
		rep := &ent.rep
		slices.Sort(rep.FarFuture)
		row, exists := before[pk].row, before[pk].exists
		rep.Before = row.EventID
		if len(ent.own)+len(ent.child) == 0 {
			rep.After = row.EventID
			rep.Note = "no plausible event of this entity in the ledger: the row is left as it is"
			reps = append(reps, *rep)
			continue
		}
		if err := ctx.Err(); err != nil { // stopped (Ctrl-C): the rows not reached are untouched
			return reps, err
		}
		if exists {
			if err := resetRow(ctx, db, r.Table, row, len(ent.own) > 0); err != nil {
				return reps, err
			}
			rep.Reset = true
		}
		// Once reset, the row is re-derived even if the run is stopped now:
		// a Ctrl-C here would leave it without its position and views.
		ctx := context.WithoutCancel(ctx)
		store := state.NewDynamo(db, r.Table)
		newestFirst := func(a, b found) int { return strings.Compare(b.route.Position, a.route.Position) }
		slices.SortFunc(ent.own, newestFirst)
		slices.SortFunc(ent.child, newestFirst)
		for _, f := range append(ent.own, ent.child...) {
			out, err := store.Apply(ctx, f.e, f.route)
			if err != nil {
				return reps, fmt.Errorf("repair %s: %w", pk, err)
			}
			if out == state.Applied {
				rep.Applied++
			}
		}
		after, _, err := readRow(ctx, db, r.Table, pk)
		if err != nil {
			return reps, err
		}
		rep.After = after.EventID
		reps = append(reps, *rep)
	}
	return reps, nil
}

func parentOf(r events.Route) string {
	if r.Parent == nil {
		return ""
	}
	return r.Parent.EntityKey
}

func readRow(ctx context.Context, db RowAPI, table, pk string) (state.Row, bool, error) {
	out, err := db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(table), ConsistentRead: aws.Bool(true),
		Key: map[string]types.AttributeValue{schema.StatePK: &types.AttributeValueMemberS{Value: pk}},
	})
	if err != nil {
		return state.Row{}, false, fmt.Errorf("read row %s: %w", pk, err)
	}
	if len(out.Item) == 0 {
		return state.Row{}, false, nil
	}
	row, err := state.DecodeRow(out.Item)
	if err != nil {
		return state.Row{}, false, fmt.Errorf("read row %s: %w", pk, err)
	}
	return row, true, nil
}

// ownAttributes are what a row takes from its own newest event; the
// category, version and update time stay.
var ownAttributes = []string{
	schema.StateStatus, schema.StateObject, schema.StateUserID, schema.StateAccountID, schema.StateAccountGroupID,
	schema.StateOrderedAt, schema.StateEventID, schema.StateEventType,
}

// resetRow clears a row's position and views, if its version is still the
// one read. It counts as a change (version +1), as every write of a row does.
// When the entity has an event of its own to apply, that write sets every
// attribute its event gives, so the row keeps its object meanwhile; when it
// has none (an ORDER row holding only its executions' view), what an event
// gave the row is removed too, so nothing survives that no event supports.
func resetRow(ctx context.Context, db RowAPI, table string, row state.Row, ownEvents bool) error {
	names := map[string]string{"#position": schema.StatePosition, "#version": schema.StateVersion, "#updated": schema.StateUpdatedAt}
	remove := []string{"#position"}
	for i, attr := range state.ViewAttributes {
		ph := fmt.Sprintf("#view%d", i)
		names[ph] = attr
		remove = append(remove, ph)
	}
	if !ownEvents {
		for i, attr := range ownAttributes {
			ph := fmt.Sprintf("#own%d", i)
			names[ph] = attr
			remove = append(remove, ph)
		}
	}
	_, err := db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                aws.String(table),
		Key:                      map[string]types.AttributeValue{schema.StatePK: &types.AttributeValueMemberS{Value: row.PK}},
		UpdateExpression:         aws.String("SET #version = #version + :one, #updated = :now REMOVE " + strings.Join(remove, ", ")),
		ConditionExpression:      aws.String("#version = :read"),
		ExpressionAttributeNames: names,
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":one":  &types.AttributeValueMemberN{Value: "1"},
			":read": &types.AttributeValueMemberN{Value: fmt.Sprint(row.Version)},
			":now":  &types.AttributeValueMemberS{Value: events.SortableTime(timeNow())},
		},
	})
	var failed *types.ConditionalCheckFailedException
	if errors.As(err, &failed) {
		return fmt.Errorf("%w (%s)", ErrRowChanged, row.PK)
	}
	if err != nil {
		return fmt.Errorf("reset row %s: %w", row.PK, err)
	}
	return nil
}
