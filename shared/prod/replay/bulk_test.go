package replay_test

import (
	"context"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/shared/local/localaws/awstest"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/fanout"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/ledger"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/longrun"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/replay"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/state/statetest"
)

// seededEvent is one ledger record of the seeded ledger, as the test knows it.
type seededEvent struct {
	id       string
	typ      string
	domain   events.Domain
	status   ledger.Status // as stored
	received time.Time
	created  time.Time
	parked   bool // seeded as PARKED
}

// group is what a filter should select of the seed, in the plan's terms.
func (s seededEvent) group() ledger.Status {
	if s.status == ledger.Applied {
		return ledger.Received
	}
	return s.status
}

var t0 = time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)

// seedLedger records events of three domains and five types, in every status,
// received an hour apart and created in reverse order, so that the two time
// filters select different events.
func seedLedger(t *testing.T, env awstest.Environment) []seededEvent {
	t.Helper()
	ctx := context.Background()
	var now time.Time
	l := ledger.NewDynamo(env.DynamoDB, env.LedgerTable, ledger.WithClock(func() time.Time { return now }))
	types := []string{"ORDER.NEW", "ORDER.FILLED", "POSITION.UPDATED", "USER.CREATED", "EXECUTION.FILLED"}
	statuses := []ledger.Status{ledger.Received, ledger.Enqueued, ledger.Parked, ledger.Applied}
	var seed []seededEvent
	const n = 24
	for i := range n {
		typ := types[i%len(types)]
		cat, action, _ := cutType(typ)
		c, _ := events.Lookup(cat)
		created := t0.Add(time.Duration(n-i) * time.Hour)
		e := statetest.Event(t, typ, created, statetest.Object(c, statetest.IDs(), action, created))
		_, route, err := events.ClassifyRaw(e.Raw)
		if err != nil {
			t.Fatal(err)
		}
		s := seededEvent{id: e.ID, typ: typ, domain: route.Domain, status: statuses[i%len(statuses)], received: t0.Add(time.Duration(i) * time.Hour)}
		s.created = created
		s.parked = s.status == ledger.Parked
		now = s.received
		first := ledger.Received
		if s.status == ledger.Parked {
			first = ledger.Parked
		}
		rec := ledger.Record{EventID: e.ID, EventType: typ, Domain: route.Domain, EntityKey: route.EntityKey, Raw: e.Raw, Status: first, Reason: "state table refused the event (test)"}
		if _, _, err := l.Claim(ctx, rec); err != nil {
			t.Fatal(err)
		}
		switch s.status {
		case ledger.Enqueued:
			err = l.MarkEnqueued(ctx, e.ID)
		case ledger.Applied:
			err = l.RecordOutcome(ctx, e.ID, ledger.Applied, "")
		}
		if err != nil {
			t.Fatal(err)
		}
		seed = append(seed, s)
	}
	return seed
}

func cutType(typ string) (string, string, bool) {
	for i := range typ {
		if typ[i] == '.' {
			return typ[:i], typ[i+1:], true
		}
	}
	return typ, "", false
}

// recorder passes messages on to the queues and keeps their ids.
type recorder struct {
	fanout.Publisher
	mu  sync.Mutex
	ids []string
}

func (r *recorder) Publish(ctx context.Context, msgs []fanout.Message) error {
	r.mu.Lock()
	for _, m := range msgs {
		r.ids = append(r.ids, m.EventID)
	}
	r.mu.Unlock()
	return r.Publisher.Publish(ctx, msgs)
}

func (r *recorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	ids := r.ids
	r.ids = nil
	slices.Sort(ids)
	return ids
}

func TestFilteredReplaySelectsWhatEachFilterSaysAndPlanCountsIt(t *testing.T) {
	t.Parallel()
	env := awstest.Env(t)
	ctx := context.Background()
	seed := seedLedger(t, env)
	l := ledger.NewDynamo(env.DynamoDB, env.LedgerTable)
	rec := &recorder{Publisher: fanout.NewSQS(env.SQS, env.QueueURLs)}

	mid := t0.Add(8 * time.Hour)
	late := t0.Add(16 * time.Hour)
	cases := []struct {
		name   string
		filter replay.Filter
		want   func(s seededEvent) bool
	}{
		// First: replaying parked records reopens them (PARKED → ENQUEUED), and
		// the later cases see them so.
		{"-status PARKED", replay.Filter{Statuses: []ledger.Status{ledger.Parked}},
			func(s seededEvent) bool { return s.status == ledger.Parked }},
		{"no filter: every event", replay.Filter{}, func(seededEvent) bool { return true }},
		{"-domain orders", replay.Filter{Domains: []events.Domain{events.Orders}},
			func(s seededEvent) bool { return s.domain == events.Orders }},
		{"-domain holdings -domain users", replay.Filter{Domains: []events.Domain{events.Holdings, events.Users}},
			func(s seededEvent) bool { return s.domain == events.Holdings || s.domain == events.Users }},
		{"-type ORDER (a category)", replay.Filter{Types: []string{"ORDER"}},
			func(s seededEvent) bool { return s.typ == "ORDER.NEW" || s.typ == "ORDER.FILLED" }},
		{"-type ORDER.FILLED -type USER.CREATED", replay.Filter{Types: []string{"ORDER.FILLED", "USER.CREATED"}},
			func(s seededEvent) bool { return s.typ == "ORDER.FILLED" || s.typ == "USER.CREATED" }},
		{"-since -until by received", replay.Filter{Since: mid, Until: late},
			func(s seededEvent) bool { return !s.received.Before(mid) && s.received.Before(late) }},
		{"-since by received", replay.Filter{Since: late},
			func(s seededEvent) bool { return !s.received.Before(late) }},
		{"-since -until by created", replay.Filter{Since: mid, Until: late, By: replay.ByCreated},
			func(s seededEvent) bool { return !s.created.Before(mid) && s.created.Before(late) }},
		{"-until by created", replay.Filter{Until: mid, By: replay.ByCreated},
			func(s seededEvent) bool { return s.created.Before(mid) }},
		{"-status RECEIVED (settled records of before the upgrade count)", replay.Filter{Statuses: []ledger.Status{ledger.Received}},
			func(s seededEvent) bool { return s.group() == ledger.Received }},
		{"-status ENQUEUED", replay.Filter{Statuses: []ledger.Status{ledger.Enqueued}},
			func(s seededEvent) bool { return s.status == ledger.Enqueued }},
		{"-ids-from", replay.Filter{IDs: map[string]bool{seed[1].id: true, seed[6].id: true, seed[11].id: true, "not-in-ledger": true}},
			func(s seededEvent) bool { return s.id == seed[1].id || s.id == seed[6].id || s.id == seed[11].id }},
		{"-domain orders -status RECEIVED -since", replay.Filter{Domains: []events.Domain{events.Orders}, Statuses: []ledger.Status{ledger.Received}, Since: mid},
			func(s seededEvent) bool {
				return s.domain == events.Orders && s.group() == ledger.Received && !s.received.Before(mid)
			}},
	}
	sentTotal := 0
	for _, tc := range cases {
		var want []string
		wantGroups := map[replay.Key]int{}
		for _, s := range seed {
			if tc.want(s) {
				want = append(want, s.id)
				wantGroups[replay.Key{Domain: s.domain, Type: s.typ, Status: s.group()}]++
			}
		}
		slices.Sort(want)
		if len(want) == 0 {
			t.Fatalf("%s: the seed has no match; the case tests nothing", tc.name)
		}

		plan := &replay.Bulk{Ledger: l, Publisher: rec, Plan: true, Segments: 3, Replayer: &replay.Replayer{Ledger: l, Publisher: rec, DryRun: true}}
		planned, err := plan.Run(ctx, tc.filter)
		if err != nil {
			t.Fatalf("%s: plan: %v", tc.name, err)
		}
		if got := rec.take(); len(got) > 0 {
			t.Fatalf("%s: the plan sent %v", tc.name, got)
		}
		if g := groupsOf(planned); !maps.Equal(g, wantGroups) {
			t.Errorf("%s: plan counts %v, want %v", tc.name, g, wantGroups)
		}

		run := &replay.Bulk{Ledger: l, Publisher: rec, Segments: 3, Replayer: &replay.Replayer{Ledger: l, Publisher: rec},
			Limiter: longrun.NewLimiter(0, nil)}
		sent, err := run.Run(ctx, tc.filter)
		if err != nil {
			t.Fatalf("%s: replay: %v", tc.name, err)
		}
		if got := rec.take(); !slices.Equal(got, want) {
			t.Errorf("%s: sent %v, want %v", tc.name, got, want)
		}
		if !maps.Equal(groupsOf(sent), groupsOf(planned)) || sent.Sent != planned.Sent {
			t.Errorf("%s: the replay sent %v, the plan said %v", tc.name, groupsOf(sent), groupsOf(planned))
		}
		if tc.filter.IDs != nil && sent.NotSent[replay.NotInTheLedger] != 1 {
			t.Errorf("%s: not sent %v, want the unknown id reported", tc.name, sent.NotSent)
		}
		sentTotal += sent.Sent
		for i := range seed {
			if seed[i].status == ledger.Parked && slices.Contains(want, seed[i].id) {
				seed[i].status = ledger.Enqueued
			}
		}
	}
	// Every send reached a queue, with its original id.
	inQueues := 0
	for _, url := range env.QueueURLs {
		inQueues += awstest.DrainCount(t, env.SQS, url)
	}
	if inQueues != sentTotal {
		t.Fatalf("%d messages in the queues, %d sent", inQueues, sentTotal)
	}
	// The parked records were reopened: in flight now, no longer parked.
	for _, s := range seed {
		if !s.parked {
			continue
		}
		got, err := l.Read(ctx, s.id)
		if err != nil || got.Status != ledger.Enqueued {
			t.Fatalf("parked %s after the replay: %s %v, want ENQUEUED", s.id, got.Status, err)
		}
	}
}

func groupsOf(s replay.BulkSummary) map[replay.Key]int {
	m := map[replay.Key]int{}
	for _, g := range s.Groups {
		m[g.Key] = g.Count
	}
	return m
}
