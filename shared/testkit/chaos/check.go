package chaos

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	streamtypes "github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"

	"github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/shared/local/localaws"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/ledger"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/schema"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/state"
)

// Verdict is what the oracle found. Every count but Events and Entities must be zero.
type Verdict struct {
	Events   int // events in the plan (poison included)
	Entities int // entities whose state is checked

	Lost         int // acknowledged, yet not in the ledger, or neither parked nor in (or behind) its entity's state row
	Wrong        int // an entity (or a parent's view entry) not in its newest state
	AppliedTwice int // changes made twice by the same event
	PoisonLost   int // poison not kept (no record, or not parked with a reason)
	Unacked      int // requests never answered 200 (the storm gave up on them)

	Examples []string // a few of the problems, for the report
}

// OK reports whether nothing was lost, wrong or applied twice.
func (v Verdict) OK() bool {
	return v.Lost == 0 && v.Wrong == 0 && v.AppliedTwice == 0 && v.PoisonLost == 0 && v.Unacked == 0
}

func (v *Verdict) problem(format string, args ...any) {
	if len(v.Examples) < 20 {
		v.Examples = append(v.Examples, fmt.Sprintf(format, args...))
	}
}

// Checker reads the pipeline's tables.
type Checker struct {
	DB      *dynamodb.Client
	Streams *dynamodbstreams.Client
	Names   schema.Names
}

// NewChecker returns a Checker on the tables named names.
func NewChecker(cfg aws.Config, names schema.Names) *Checker {
	return &Checker{DB: dynamodb.NewFromConfig(cfg), Streams: dynamodbstreams.NewFromConfig(cfg), Names: names}
}

// WaitSettled polls until every acknowledged event is done, parked or its
// entity's state row holds it or a newer event (see standing), or the
// timeout passes, and returns how many are still not.
func (c *Checker) WaitSettled(ctx context.Context, p *Plan, acked map[*Request]bool, timeout time.Duration, progress func(unsettled int)) (int, error) {
	led := ledger.NewDynamo(c.DB, c.Names.LedgerTable())
	var pending []*Event
	for _, e := range ackedEvents(p, acked) {
		pending = append(pending, e)
	}
	deadline := time.Now().Add(timeout)
	for {
		var still []*Event
		var mu sync.Mutex
		err := forEach(ctx, pending, func(e *Event) error {
			done, _, err := c.standing(ctx, led, e)
			if err != nil {
				return err
			}
			if !done {
				mu.Lock()
				still = append(still, e)
				mu.Unlock()
			}
			return nil
		})
		if err != nil {
			return len(pending), err
		}
		pending = still
		if progress != nil {
			progress(len(pending))
		}
		if len(pending) == 0 || time.Now().After(deadline) {
			return len(pending), nil
		}
		select {
		case <-ctx.Done():
			return len(pending), ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// standing says whether an acknowledged event is done: parked in the ledger
// (with its record as read), or applied or settled by its entity's state row.
// Workers do not record settled outcomes in the ledger, so the row is the
// only proof that an event reached it: an event whose row is older or absent
// is not done. A record an earlier version's worker marked settled counts as
// done. Events without a route (poison) are classified from their bytes.
func (c *Checker) standing(ctx context.Context, led *ledger.Dynamo, e *Event) (bool, ledger.Stored, error) {
	s, err := led.Read(ctx, e.LedgerKey)
	if errors.Is(err, ledger.ErrNotFound) {
		return false, s, nil
	}
	if err != nil {
		return false, s, err
	}
	if s.Status == ledger.Parked || (s.Status.Settled() && s.Kind == ledger.KindEvent) {
		return true, s, nil
	}
	route := e.Route
	if route.EntityKey == "" {
		if _, route, err = events.ClassifyRaw(e.Raw); err != nil {
			return false, s, nil // it can only ever be parked
		}
	}
	row, err := c.row(ctx, route.Domain, route.EntityKey)
	if err != nil {
		return false, s, err
	}
	view := state.Holds
	if route.Parent != nil { // the view is written after the own row: both must show the event
		parent, err := c.row(ctx, route.Domain, route.Parent.EntityKey)
		if err != nil {
			return false, s, err
		}
		view = state.JudgeView(parent, s.EventID, route)
	}
	return state.Done(state.Judge(row, s.EventID, route), view) != state.Pending, s, nil
}

// row reads an entity's state row; nil when there is none.
func (c *Checker) row(ctx context.Context, d events.Domain, key string) (*state.Row, error) {
	out, err := c.DB.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(c.Names.StateTable(d)), ConsistentRead: aws.Bool(true),
		Key: map[string]ddbtypes.AttributeValue{schema.StatePK: &ddbtypes.AttributeValueMemberS{Value: key}},
	})
	if err != nil {
		return nil, fmt.Errorf("read state %s: %w", key, err)
	}
	if len(out.Item) == 0 {
		return nil, nil
	}
	row, err := state.DecodeRow(out.Item)
	if err != nil {
		return nil, fmt.Errorf("decode state %s: %w", key, err)
	}
	return &row, nil
}

func ackedEvents(p *Plan, acked map[*Request]bool) map[string]*Event {
	out := map[string]*Event{}
	for _, r := range append(append([]*Request(nil), p.Requests...), p.Redeliveries...) {
		if acked[r] {
			for _, e := range r.Events {
				out[e.LedgerKey] = e
			}
		}
	}
	return out
}

// Check compares the ledger and state tables with the plan.
func (c *Checker) Check(ctx context.Context, p *Plan, acked map[*Request]bool) (Verdict, error) {
	v := Verdict{Events: len(p.Events) + len(p.Redeliveries)}
	for _, r := range append(append([]*Request(nil), p.Requests...), p.Redeliveries...) {
		if !acked[r] {
			v.Unacked++
		}
	}
	led := ledger.NewDynamo(c.DB, c.Names.LedgerTable())

	// Every acknowledged event is recorded and processed; poison is kept.
	var mu sync.Mutex
	ackd := ackedEvents(p, acked)
	keys := make([]*Event, 0, len(ackd))
	for _, e := range ackd {
		keys = append(keys, e)
	}
	err := forEach(ctx, keys, func(e *Event) error {
		done, s, err := c.standing(ctx, led, e)
		if err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		switch {
		case s.EventID == "":
			if e.Poison != NotPoison {
				v.PoisonLost++
			} else {
				v.Lost++
			}
			v.problem("acknowledged event %s (%s) not in the ledger", e.LedgerKey, e.Poison)
		case e.Poison.mustPark() && (s.Status != ledger.Parked || s.Reason == ""):
			v.PoisonLost++
			v.problem("poison %s (%s) is %s, reason %q; want PARKED with a reason", e.LedgerKey, e.Poison, s.Status, s.Reason)
		case !done:
			v.Lost++
			v.problem("acknowledged event %s (%s) is %s in the ledger and its entity's state row holds neither it nor a newer event", e.LedgerKey, e.Poison, s.Status)
		}
		return nil
	})
	if err != nil {
		return v, err
	}
	for _, r := range p.Bodies {
		if !acked[r] {
			continue
		}
		s, err := led.Read(ctx, r.Key)
		switch {
		case errors.Is(err, ledger.ErrNotFound):
			v.PoisonLost++
			v.problem("body that is not an envelope not kept (%s)", r.Key)
		case err != nil:
			return v, err
		case s.Status != ledger.Parked || s.Kind != ledger.KindRequest || s.Reason == "" || string(s.Raw) != string(r.Body):
			v.PoisonLost++
			v.problem("request record %s: status %s kind %q reason %q, body kept %v", r.Key, s.Status, s.Kind, s.Reason, string(s.Raw) == string(r.Body))
		}
	}

	// Every entity is in its newest state; no change was made twice.
	want := newest(p)
	v.Entities = len(want)
	changes, err := c.streamChanges(ctx, want)
	if err != nil {
		return v, err
	}
	list := make([]*entity, 0, len(want))
	for _, ent := range want {
		list = append(list, ent)
	}
	err = forEach(ctx, list, func(ent *entity) error {
		out, err := c.DB.GetItem(ctx, &dynamodb.GetItemInput{
			TableName: aws.String(c.Names.StateTable(ent.domain)), ConsistentRead: aws.Bool(true),
			Key: map[string]ddbtypes.AttributeValue{schema.StatePK: &ddbtypes.AttributeValueMemberS{Value: ent.key}},
		})
		if err != nil {
			return fmt.Errorf("read state %s: %w", ent.key, err)
		}
		mu.Lock()
		defer mu.Unlock()
		if ent.row != "" && str(out.Item[schema.StateEventID]) != ent.row {
			v.Wrong++
			v.problem("%s holds event %q, want %s", ent.key, str(out.Item[schema.StateEventID]), ent.row)
		}
		view, _ := out.Item[ent.viewAttr].(*ddbtypes.AttributeValueMemberM)
		for entry, id := range ent.view {
			var got string
			if view != nil {
				if m, ok := view.Value[entry].(*ddbtypes.AttributeValueMemberM); ok {
					got = str(m.Value[schema.StateEventID])
				}
			}
			if got != id {
				v.Wrong++
				v.problem("%s %s[%s] holds event %q, want %s", ent.key, ent.viewAttr, entry, got, id)
			}
		}
		// version counts the row's changes; each distinct change once.
		seen := map[string]int{}
		for _, ch := range changes[ent.key] {
			seen[ch]++
		}
		twice := len(changes[ent.key]) - len(seen)
		if version := number(out.Item[schema.StateVersion]); version > len(seen) {
			twice = max(twice, version-len(seen))
		}
		if twice > 0 {
			v.AppliedTwice += twice
			v.problem("%s: %d change(s) made twice (version %d, changes %v)", ent.key, twice, number(out.Item[schema.StateVersion]), changes[ent.key])
		}
		return nil
	})
	return v, err
}

// entity is what one state row must hold.
type entity struct {
	domain   events.Domain
	key      string
	row      string            // newest own event ("" when only a view is expected)
	viewAttr string            // the child view's attribute
	view     map[string]string // entry id → newest child event
	rowPos   string
	viewPos  map[string]string
}

// newest is the oracle: for every entity the event with the highest position.
func newest(p *Plan) map[string]*entity {
	ents := map[string]*entity{}
	get := func(d events.Domain, key string) *entity {
		ent := ents[key]
		if ent == nil {
			ent = &entity{domain: d, key: key, view: map[string]string{}, viewPos: map[string]string{}}
			ents[key] = ent
		}
		return ent
	}
	for _, e := range p.Events {
		r := e.Route
		if r.EntityKey == "" {
			continue
		}
		ent := get(r.Domain, r.EntityKey)
		if r.Position > ent.rowPos {
			ent.row, ent.rowPos = e.ID, r.Position
		}
		if r.Parent != nil {
			parent := get(r.Domain, r.Parent.EntityKey)
			parent.viewAttr = r.Parent.Attribute
			if r.Position > parent.viewPos[r.Parent.EntryID] {
				parent.view[r.Parent.EntryID], parent.viewPos[r.Parent.EntryID] = e.ID, r.Position
			}
		}
	}
	return ents
}

// streamChanges reads the state tables' streams and returns, per entity of
// want, one string per change a record made: the row's new event, or a view
// entry's new event.
func (c *Checker) streamChanges(ctx context.Context, want map[string]*entity) (map[string][]string, error) {
	domains := map[events.Domain]bool{}
	for _, ent := range want {
		domains[ent.domain] = true
	}
	out := map[string][]string{}
	for d := range domains {
		desc, err := c.DB.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(c.Names.StateTable(d))})
		if err != nil {
			return nil, fmt.Errorf("describe state table of %s: %w", d, err)
		}
		records, err := localaws.ReadStream(ctx, c.Streams, aws.ToString(desc.Table.LatestStreamArn))
		if err != nil {
			return nil, fmt.Errorf("read stream of %s: %w", d, err)
		}
		for _, rec := range records {
			if rec.Dynamodb == nil {
				continue
			}
			key := streamStr(rec.Dynamodb.Keys[schema.StatePK])
			ent := want[key]
			if ent == nil {
				continue
			}
			out[key] = append(out[key], changesOf(rec.Dynamodb, ent.viewAttr)...)
		}
	}
	return out, nil
}

func changesOf(r *streamtypes.StreamRecord, viewAttr string) []string {
	var out []string
	if n, o := streamStr(r.NewImage[schema.StateEventID]), streamStr(r.OldImage[schema.StateEventID]); n != "" && n != o {
		out = append(out, "row:"+n)
	}
	if viewAttr == "" {
		return out
	}
	newView, _ := r.NewImage[viewAttr].(*streamtypes.AttributeValueMemberM)
	oldView, _ := r.OldImage[viewAttr].(*streamtypes.AttributeValueMemberM)
	if newView == nil {
		return out
	}
	entries := make([]string, 0, len(newView.Value))
	for entry := range newView.Value {
		entries = append(entries, entry)
	}
	sort.Strings(entries)
	for _, entry := range entries {
		n := entryEvent(newView, entry)
		if n != "" && (oldView == nil || entryEvent(oldView, entry) != n) {
			out = append(out, "view:"+entry+":"+n)
		}
	}
	return out
}

func entryEvent(view *streamtypes.AttributeValueMemberM, entry string) string {
	m, ok := view.Value[entry].(*streamtypes.AttributeValueMemberM)
	if !ok {
		return ""
	}
	return streamStr(m.Value[schema.StateEventID])
}

func str(av ddbtypes.AttributeValue) string {
	if s, ok := av.(*ddbtypes.AttributeValueMemberS); ok {
		return s.Value
	}
	return ""
}

func streamStr(av streamtypes.AttributeValue) string {
	if s, ok := av.(*streamtypes.AttributeValueMemberS); ok {
		return s.Value
	}
	return ""
}

func number(av ddbtypes.AttributeValue) int {
	n, ok := av.(*ddbtypes.AttributeValueMemberN)
	if !ok {
		return 0
	}
	var v int
	fmt.Sscan(n.Value, &v)
	return v
}

// forEach runs fn over items, eight at a time, and returns the first error.
func forEach[T any](ctx context.Context, items []T, fn func(T) error) error {
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	for _, it := range items {
		if ctx.Err() != nil {
			break
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := fn(it); err != nil {
				once.Do(func() { first = err })
			}
		}()
	}
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return first
}
