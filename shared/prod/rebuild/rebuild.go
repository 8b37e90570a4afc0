// Package rebuild recomputes a domain's state table from the ledger, the
// event log: every event of the domain is applied again with the workers' own
// state code (shared/prod/state), in place or into another table, page by page
// from a parallel Scan, resumable, at a bounded write rate.
package rebuild

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/ledger"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/longrun"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/replay"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/state"
)

// FarFutureTolerance is how far past its acceptance an event's ordering time
// (object.updated_at, else created_at) may lie before a rebuild or a repair
// treats it as implausible and leaves it out: such an event would pin its
// entity until that date (issue 18). It is the pipeline's own tolerance,
// events.MaxAhead: ingest parks such an event at receipt, so only a record
// written before that check existed can be this far ahead.
var FarFutureTolerance = events.MaxAhead

// Implausible reports whether a recorded event ordered at orderedAt lies too
// far in the future to be applied by a rebuild. It is judged as the pipeline
// judged it: against the record's last status change when that is later than
// its receipt, because an event parked as ahead at receipt is applied once
// `ops replay` reopens it after its time has come, and the reopening is that
// change. A record without a readable receipt time is judged plausible: the
// rule needs both times.
func Implausible(orderedAt time.Time, s ledger.Stored) bool {
	accepted, err := time.Parse(time.RFC3339Nano, s.ReceivedAt)
	if err != nil {
		return false
	}
	if changed, err := time.Parse(time.RFC3339Nano, s.UpdatedAt); err == nil && changed.After(accepted) {
		accepted = changed
	}
	return orderedAt.Sub(accepted) > FarFutureTolerance
}

// Scanner reads the ledger; *ledger.Dynamo is one.
type Scanner interface {
	ScanEvents(ctx context.Context, q ledger.ScanQuery, from []ledger.Cursor, fn func(context.Context, ledger.ScanPage) error) error
}

var _ Scanner = (*ledger.Dynamo)(nil)

// Rebuilder rebuilds one domain's state into one table.
type Rebuilder struct {
	Ledger     Scanner
	DB         state.DynamoAPI // the target table's client
	Table      string          // the target: the live table (in place) or another one (-into)
	Domain     events.Domain
	Segments   int                     // parallel Scan segments; 0: 4
	PageSize   int32                   // items per Scan call; 0: DynamoDB's 1 MB pages
	Limiter    *longrun.Limiter        // write units per second; nil: no limit
	Checkpoint *longrun.CheckpointFile // nil: not resumable
	Progress   *longrun.Progress       // nil: silent
	Total      int64                   // approximate ledger items, for the ETA
	// Since and Until bound the events by the time they were received
	// (inclusive, exclusive); zero: unbounded. For applying what came after
	// a point-in-time restore, or re-making one day's changes.
	Since, Until time.Time
	// Source names the ledger read (its table, local or deployed). It is part
	// of the run's identity, so a checkpoint of a run on another ledger is refused.
	Source string
}

// Summary is what a rebuild did; counts include the runs before a resume.
type Summary struct {
	Domain       events.Domain `json:"domain"`
	Table        string        `json:"table"`
	Resumed      bool          `json:"resumed"`
	Evaluated    int           `json:"ledger_items_read"`
	ReadUnits    float64       `json:"read_units"`
	Events       int           `json:"events"` // events of the domain read
	Applied      int           `json:"applied"`
	Stale        int           `json:"stale"`
	Duplicate    int           `json:"duplicate"`
	Parked       int           `json:"skipped_parked"`     // parked records: never applied by a worker either
	Unusable     int           `json:"skipped_unusable"`   // bytes that do not classify (parked by ingest or a worker)
	Moved        int           `json:"skipped_moved"`      // categories the routing table sends elsewhere now
	FarFuture    int           `json:"skipped_far_future"` // ordering time past FarFutureTolerance
	WriteUnits   float64       `json:"write_units"`
	ElapsedSec   float64       `json:"elapsed_seconds"`
	EventsPerSec float64       `json:"events_per_second"`
}

const defaultSegments = 4

// Run rebuilds the domain. Cancelled or failed, it leaves the checkpoint at
// the last finished page of each segment; the same command resumes from there.
func (r *Rebuilder) Run(ctx context.Context) (Summary, error) {
	segments := r.Segments
	if segments <= 0 {
		segments = defaultSegments
	}
	cpf := r.Checkpoint
	if cpf == nil {
		cpf = &longrun.CheckpointFile{}
	}
	job := fmt.Sprintf("rebuild %s into %s", r.Domain, r.Table)
	if !r.Since.IsZero() || !r.Until.IsZero() {
		job += fmt.Sprintf(" received %s to %s", r.Since.Format(time.RFC3339Nano), r.Until.Format(time.RFC3339Nano))
	}
	if r.Source != "" {
		job += " from " + r.Source
	}
	cp, resumed, err := cpf.Load(job, segments)
	if err != nil {
		return Summary{}, err
	}
	clock := longrun.Clock(longrun.WallClock{})
	if r.Progress != nil && r.Progress.Clock != nil {
		clock = r.Progress.Clock
	}
	start := clock.Now()
	r.Progress.Start(r.Total, int64(cp.Counters[cEvaluated]))
	q := ledger.ScanQuery{Segments: segments, WithBody: true, PageSize: r.PageSize, TypePrefixes: domainPrefixes(r.Domain)}
	if !r.Since.IsZero() {
		q.ReceivedFrom = events.SortableTime(r.Since)
	}
	if !r.Until.IsZero() {
		q.ReceivedUntil = events.SortableTime(r.Until)
	}
	err = r.Ledger.ScanEvents(ctx, q, cp.Cursors, func(ctx context.Context, p ledger.ScanPage) error {
		counts := map[string]int{cEvaluated: p.Evaluated, cReadMilli: int(p.ReadUnits * 1000)}
		// A meter per page, so that the page's units are its own while
		// other segments write; the limiter is shared.
		meter := &Metered{DB: r.DB, Limiter: r.Limiter}
		store := state.NewDynamo(meter, r.Table)
		n := 0
		for _, s := range p.Records {
			did, err := r.apply(ctx, store, s)
			if err != nil {
				return err
			}
			counts[did]++
			if did != "" {
				n++
			}
		}
		counts[cWriteMilli] = int(meter.Units() * 1000)
		r.Progress.Add(p.Evaluated, n)
		return cpf.Advance(p.Segment, p.Next, counts)
	})
	r.Progress.Done()
	sum := r.summary(cpf.Counters(), resumed, clock.Now().Sub(start))
	if err != nil {
		return sum, err
	}
	return sum, cpf.Finish()
}

// domainPrefixes narrows the Scan to the domain's categories, except for the
// unrouted domain, whose categories are by definition not listed.
func domainPrefixes(d events.Domain) []string {
	if d == events.Unrouted {
		return nil
	}
	return replay.CategoryPrefixes(d)
}

// counter names in the checkpoint
const (
	cEvaluated  = "evaluated"
	cReadMilli  = "read_units_milli"
	cWriteMilli = "write_units_milli"
	cApplied    = "applied"
	cStale      = "stale"
	cDuplicate  = "duplicate"
	cParked     = "parked"
	cUnusable   = "unusable"
	cMoved      = "moved"
	cFarFuture  = "far_future"
)

// apply applies one record if it belongs in the rebuild, and names what it did
// ("" for a record of another domain, not counted as an event).
func (r *Rebuilder) apply(ctx context.Context, store state.Store, s ledger.Stored) (string, error) {
	e, route, ok, skipped := r.classify(s)
	if !ok {
		return skipped, nil
	}
	out, err := store.Apply(ctx, e, route)
	if err != nil {
		return "", fmt.Errorf("rebuild: %w", err)
	}
	switch out {
	case state.Applied:
		return cApplied, nil
	case state.Stale:
		return cStale, nil
	case state.Duplicate:
		return cDuplicate, nil
	}
	return "", fmt.Errorf("rebuild: unknown outcome %q", out)
}

// classify is the rebuild's one judgement of a record: apply it (ok), or the
// counter that says why not.
func (r *Rebuilder) classify(s ledger.Stored) (e events.Event, route events.Route, ok bool, skipped string) {
	if replay.RoutedDomain(s.EventType) != r.Domain {
		if s.Domain == r.Domain {
			return e, route, false, cMoved
		}
		return e, route, false, ""
	}
	if s.Status == ledger.Parked {
		return e, route, false, cParked
	}
	e, route, err := events.ClassifyRaw(s.Raw)
	switch {
	case err != nil:
		return e, route, false, cUnusable
	case route.Domain != r.Domain:
		return e, route, false, cMoved
	case Implausible(route.OrderedAt, s):
		return e, route, false, cFarFuture
	}
	return e, route, true, ""
}

func (r *Rebuilder) summary(c map[string]int, resumed bool, elapsed time.Duration) Summary {
	s := Summary{
		Domain: r.Domain, Table: r.Table, Resumed: resumed, Evaluated: c[cEvaluated],
		ReadUnits: float64(c[cReadMilli]) / 1000, WriteUnits: float64(c[cWriteMilli]) / 1000,
		Applied: c[cApplied], Stale: c[cStale], Duplicate: c[cDuplicate],
		Parked: c[cParked], Unusable: c[cUnusable], Moved: c[cMoved], FarFuture: c[cFarFuture],
		ElapsedSec: elapsed.Seconds(),
	}
	s.Events = s.Applied + s.Stale + s.Duplicate + s.Parked + s.Unusable + s.FarFuture
	if s.ElapsedSec > 0 {
		s.EventsPerSec = float64(s.Events) / s.ElapsedSec
	}
	return s
}

// Metered is the state store's client with every write paced by the limiter
// and its true cost (DynamoDB's consumed capacity) accounted.
type Metered struct {
	DB      state.DynamoAPI
	Limiter *longrun.Limiter
	mu      sync.Mutex
	units   float64
}

var _ state.DynamoAPI = (*Metered)(nil)

// UpdateItem reserves the write's estimated units, writes, and settles the
// reservation with what DynamoDB charged. A write whose condition fails is
// charged too (at least one unit), and counted at its estimate.
func (m *Metered) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	est := EstimateWriteUnits(in)
	if err := m.Limiter.Wait(ctx, est); err != nil {
		return nil, err
	}
	in.ReturnConsumedCapacity = types.ReturnConsumedCapacityTotal
	out, err := m.DB.UpdateItem(ctx, in, opts...)
	actual := est
	if err == nil && out.ConsumedCapacity != nil && out.ConsumedCapacity.CapacityUnits != nil {
		actual = aws.ToFloat64(out.ConsumedCapacity.CapacityUnits)
	}
	var failed *types.ConditionalCheckFailedException
	if err != nil && !errors.As(err, &failed) {
		actual = 0 // not written, not charged (throttled, cancelled, unreachable)
	}
	m.Limiter.Settle(est, actual)
	m.mu.Lock()
	m.units += actual
	m.mu.Unlock()
	return out, err
}

// Units is the write units charged so far.
func (m *Metered) Units() float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.units
}

// EstimateWriteUnits is a write's cost before it is made: one unit per KB of
// the values it sets, at least one (the item's other attributes can make it
// more; Settle corrects the difference).
func EstimateWriteUnits(in *dynamodb.UpdateItemInput) float64 {
	size := 100 // key, names and numbers
	for _, v := range in.ExpressionAttributeValues {
		size += avSize(v)
	}
	return float64((size + 1023) / 1024)
}

func avSize(v types.AttributeValue) int {
	switch v := v.(type) {
	case *types.AttributeValueMemberS:
		return len(v.Value)
	case *types.AttributeValueMemberM:
		n := 0
		for k, x := range v.Value {
			n += len(k) + avSize(x)
		}
		return n
	}
	return 8
}

var timeNow = time.Now
