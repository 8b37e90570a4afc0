package ledgertest

import (
	"context"
	"crypto/rand"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/ledger"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/uuid"
	"github.com/upvest-webhooks/upvest-webhooks/shared/testkit/testclock"
)

// Factory returns a fresh, empty ledger reading the given clock.
type Factory func(t *testing.T, now func() time.Time) ledger.Store

// RunContract holds a ledger implementation to the behaviour ingest, workers
// and replays rely on. Each case gets a fresh ledger and clock.
func RunContract(t *testing.T, newStore Factory) {
	cases := []struct {
		name string
		run  func(t *testing.T, l ledger.Store, clock *testclock.Clock)
	}{
		{"claim records once and keeps exact bytes", claimKeepsBytes},
		{"a RECEIVED record is fanned out again, applied or not, until parked", pendingUntilParked},
		{"an earlier version's settled outcome still settles a record", pendingUntilOutcome},
		{"the first outcome sticks", firstOutcomeSticks},
		{"release takes a replayed record out of the parked index, nothing else", releaseAfterReplay},
		{"an ENQUEUED mark ends re-sending but not the lifecycle", enqueuedMark},
		{"parked records are listed by domain until they leave", parkedListing},
		{"reopen keeps a replay findable until its outcome", reopenKeepsFindable},
		{"reopen refuses what is in flight or done", reopenRefuses},
		{"request records are kept, listed and resolved once", requestRecords},
		{"bodies of any size round-trip", largeBodies},
		{"labels are bounded, bytes are not", boundedLabels},
		{"concurrent claims make one new record", concurrentClaims},
		{"other bytes under a recorded id are a conflict and change nothing", conflictingClaims},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			clock := testclock.New(time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC))
			c.run(t, newStore(t, clock.Now), clock)
		})
	}
}

var ctx = context.Background()

func eventRecord(domain events.Domain, raw string) ledger.Record {
	id := uuid.New()
	return ledger.Record{
		EventID: id, EventType: "ORDER.NEW", Domain: domain, EntityKey: "ORDER#" + id,
		Raw: []byte(raw), Status: ledger.Received,
	}
}

func mustClaim(t *testing.T, l ledger.Store, rec ledger.Record, want ledger.ClaimResult) {
	t.Helper()
	got, _, err := l.Claim(ctx, rec)
	if err != nil {
		t.Fatalf("claim %s: %v", rec.EventID, err)
	}
	if got != want {
		t.Fatalf("claim %s = %d, want %d", rec.EventID, got, want)
	}
}

func mustRead(t *testing.T, l ledger.Store, key string) ledger.Stored {
	t.Helper()
	s, err := l.Read(ctx, key)
	if err != nil {
		t.Fatalf("read %s: %v", key, err)
	}
	return s
}

func mustParked(t *testing.T, l ledger.Store, partition string, want ...string) {
	t.Helper()
	got, err := l.Parked(ctx, partition)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(want))) {
		t.Fatalf("parked in %s = %v, want %v", partition, got, want)
	}
}

func claimKeepsBytes(t *testing.T, l ledger.Store, clock *testclock.Clock) {
	// Bytes no SQS message and no JSON re-encoding would keep.
	raw := "{\"id\":\"x\",\"s\":\"\xff\xfe \uFFFE\uFFFF \U0001F680 \\u0000\"}"
	rec := eventRecord(events.Orders, raw)
	mustClaim(t, l, rec, ledger.ClaimNew)
	s := mustRead(t, l, rec.EventID)
	if string(s.Raw) != raw {
		t.Errorf("raw = %q, want the exact bytes %q", s.Raw, raw)
	}
	if s.Status != ledger.Received || s.Domain != events.Orders || s.EntityKey != rec.EntityKey || s.EventType != "ORDER.NEW" {
		t.Errorf("stored %+v", s)
	}
	if s.Parked != "" || s.LeaseOver(clock.Now()) || !s.LeaseOver(clock.Now().Add(ledger.Lease+time.Second)) {
		t.Errorf("a new RECEIVED record is in flight for one lease: %+v", s)
	}
	if _, err := l.Read(ctx, uuid.New()); !errors.Is(err, ledger.ErrNotFound) {
		t.Errorf("read of an unknown id: %v, want ErrNotFound", err)
	}
}

// pendingUntilParked: workers write no settled outcome, so a record stays
// RECEIVED (or ENQUEUED) after its event was applied; a redelivery sends it
// again, which the worker's conditional write makes a no-op. Only PARKED
// settles it.
func pendingUntilParked(t *testing.T, l ledger.Store, clock *testclock.Clock) {
	rec := eventRecord(events.Orders, `{"id":"a2"}`)
	mustClaim(t, l, rec, ledger.ClaimNew)
	clock.Advance(ledger.Lease + time.Hour) // long after its worker applied it
	mustClaim(t, l, rec, ledger.ClaimPending)
	if s := mustRead(t, l, rec.EventID); s.Status != ledger.Received || s.Parked != "" {
		t.Errorf("an applied event's record: %+v", s)
	}
	if err := l.RecordOutcome(ctx, rec.EventID, ledger.Parked, "refused"); err != nil {
		t.Fatal(err)
	}
	mustClaim(t, l, rec, ledger.ClaimSettled)
	if s := mustRead(t, l, rec.EventID); s.Status != ledger.Parked || s.Reason != "refused" || !s.LeaseUntil.IsZero() {
		t.Errorf("after parking: %+v", s)
	}
}

// pendingUntilOutcome: records whose outcome a worker of an earlier version
// wrote (APPLIED, SKIPPED_STALE, DUPLICATE) stay settled after an upgrade.
func pendingUntilOutcome(t *testing.T, l ledger.Store, _ *testclock.Clock) {
	rec := eventRecord(events.Orders, `{"id":"a"}`)
	mustClaim(t, l, rec, ledger.ClaimNew)
	mustClaim(t, l, rec, ledger.ClaimPending)
	if err := l.RecordOutcome(ctx, rec.EventID, ledger.Applied, ""); err != nil {
		t.Fatal(err)
	}
	mustClaim(t, l, rec, ledger.ClaimSettled)
	if s := mustRead(t, l, rec.EventID); s.Status != ledger.Applied || !s.LeaseUntil.IsZero() {
		t.Errorf("after the outcome: %+v", s)
	}
}

func firstOutcomeSticks(t *testing.T, l ledger.Store, _ *testclock.Clock) {
	parked := eventRecord(events.Orders, `{"id":"b2"}`)
	mustClaim(t, l, parked, ledger.ClaimNew)
	if err := l.RecordOutcome(ctx, parked.EventID, ledger.Parked, "first"); err != nil {
		t.Fatal(err)
	}
	if err := l.RecordOutcome(ctx, parked.EventID, ledger.Parked, "second"); err != nil {
		t.Fatalf("a later outcome is not an error: %v", err)
	}
	if s := mustRead(t, l, parked.EventID); s.Status != ledger.Parked || s.Reason != "first" {
		t.Errorf("status %s reason %q, want the first park", s.Status, s.Reason)
	}
	// The same for the settled outcomes of earlier versions.
	rec := eventRecord(events.Orders, `{"id":"b"}`)
	mustClaim(t, l, rec, ledger.ClaimNew)
	if err := l.RecordOutcome(ctx, rec.EventID, ledger.SkippedStale, "newer row"); err != nil {
		t.Fatal(err)
	}
	if err := l.RecordOutcome(ctx, rec.EventID, ledger.Applied, ""); err != nil {
		t.Fatalf("a later outcome is not an error: %v", err)
	}
	if s := mustRead(t, l, rec.EventID); s.Status != ledger.SkippedStale || s.Reason != "newer row" {
		t.Errorf("status %s reason %q, want the first outcome", s.Status, s.Reason)
	}
	if err := l.RecordOutcome(ctx, uuid.New(), ledger.Applied, ""); err != nil {
		t.Errorf("an outcome for an unknown id changes nothing and is no error: %v", err)
	}
}

func parkedListing(t *testing.T, l ledger.Store, _ *testclock.Clock) {
	atIngest := eventRecord(events.Orders, `{"id":"c"}`)
	atIngest.Status, atIngest.Reason = ledger.Parked, "missing id"
	noDomain := eventRecord("", `[]`)
	noDomain.Status, noDomain.Reason = ledger.Parked, "event is not a JSON object"
	byWorker := eventRecord(events.Orders, `{"id":"d"}`)
	mustClaim(t, l, atIngest, ledger.ClaimNew)
	mustClaim(t, l, noDomain, ledger.ClaimNew)
	mustClaim(t, l, byWorker, ledger.ClaimNew)
	mustClaim(t, l, atIngest, ledger.ClaimSettled)
	if err := l.RecordOutcome(ctx, byWorker.EventID, ledger.Parked, "key too long"); err != nil {
		t.Fatal(err)
	}
	mustParked(t, l, string(events.Orders), atIngest.EventID, byWorker.EventID)
	mustParked(t, l, string(events.Unrouted), noDomain.EventID)
	if s := mustRead(t, l, byWorker.EventID); s.Reason != "key too long" || s.Parked != string(events.Orders) {
		t.Errorf("parked by a worker: %+v", s)
	}
}

func reopenKeepsFindable(t *testing.T, l ledger.Store, _ *testclock.Clock) {
	parked := eventRecord(events.Orders, `{"id":"e"}`)
	parked.Status, parked.Reason = ledger.Parked, "missing id"
	mustClaim(t, l, parked, ledger.ClaimNew)
	for range 2 { // the second time: a replay whose send failed is replayed again
		if err := l.Reopen(ctx, parked.EventID, events.Orders, "ORDER#o-1"); err != nil {
			t.Fatalf("reopen: %v", err)
		}
		if s := mustRead(t, l, parked.EventID); s.Status != ledger.Received || s.EntityKey != "ORDER#o-1" || s.Reason != "" {
			t.Fatalf("reopened: %+v", s)
		}
		mustParked(t, l, string(events.Orders), parked.EventID)
	}
	// Sent: in flight, listed, but not replayable again until its lease is over.
	if err := l.MarkEnqueued(ctx, parked.EventID); err != nil {
		t.Fatal(err)
	}
	if err := l.Reopen(ctx, parked.EventID, events.Orders, "ORDER#o-1"); !errors.Is(err, ledger.ErrNotReopenable) {
		t.Errorf("reopen of a replay in flight: %v, want ErrNotReopenable", err)
	}
	mustParked(t, l, string(events.Orders), parked.EventID)
	if err := l.Release(ctx, parked.EventID); err != nil { // its worker is done
		t.Fatal(err)
	}
	mustParked(t, l, string(events.Orders))
	if s := mustRead(t, l, parked.EventID); s.Status != ledger.Enqueued {
		t.Errorf("released: %+v, want it left ENQUEUED", s)
	}

	// An unrouted event settled by an earlier version's worker.
	unrouted := eventRecord(events.Unrouted, `{"id":"f"}`)
	mustClaim(t, l, unrouted, ledger.ClaimNew)
	if err := l.RecordOutcome(ctx, unrouted.EventID, ledger.Applied, ""); err != nil {
		t.Fatal(err)
	}
	if err := l.Reopen(ctx, unrouted.EventID, events.Holdings, "POSITION#a#i"); err != nil {
		t.Fatalf("reopen a settled unrouted event: %v", err)
	}
	mustParked(t, l, string(events.Unrouted), unrouted.EventID)
	if s := mustRead(t, l, unrouted.EventID); s.Domain != events.Holdings || s.Status != ledger.Received {
		t.Errorf("rerouted: %+v", s)
	}
}

func reopenRefuses(t *testing.T, l ledger.Store, clock *testclock.Clock) {
	inFlight := eventRecord(events.Orders, `{"id":"g"}`)
	done := eventRecord(events.Orders, `{"id":"h"}`)
	mustClaim(t, l, inFlight, ledger.ClaimNew)
	mustClaim(t, l, done, ledger.ClaimNew)
	if err := l.RecordOutcome(ctx, done.EventID, ledger.Applied, ""); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{inFlight.EventID, done.EventID, uuid.New()} {
		if err := l.Reopen(ctx, id, events.Orders, "ORDER#x"); !errors.Is(err, ledger.ErrNotReopenable) {
			t.Errorf("reopen %s: %v, want ErrNotReopenable", id, err)
		}
	}
	enqueued := eventRecord(events.Orders, `{"id":"k"}`)
	mustClaim(t, l, enqueued, ledger.ClaimNew)
	if err := l.MarkEnqueued(ctx, enqueued.EventID); err != nil {
		t.Fatal(err)
	}
	if err := l.Reopen(ctx, enqueued.EventID, events.Orders, "ORDER#x"); !errors.Is(err, ledger.ErrNotReopenable) {
		t.Errorf("reopen of an ENQUEUED record in its lease: %v, want ErrNotReopenable", err)
	}
	clock.Advance(ledger.Lease + 2*time.Second)
	for _, id := range []string{inFlight.EventID, enqueued.EventID} {
		if err := l.Reopen(ctx, id, events.Orders, "ORDER#x"); err != nil {
			t.Errorf("a record past its lease is replayable: %v", err)
		}
	}
}

func requestRecords(t *testing.T, l ledger.Store, _ *testclock.Clock) {
	body := "\xef\xbb\xbf{\"payload\":[]}"
	rec := ledger.Record{EventID: "request:" + uuid.New(), Kind: ledger.KindRequest, Raw: []byte(body), Status: ledger.Parked, Reason: "byte-order mark"}
	mustClaim(t, l, rec, ledger.ClaimNew)
	mustClaim(t, l, rec, ledger.ClaimSettled)
	mustParked(t, l, ledger.RequestsPartition, rec.EventID)
	if s := mustRead(t, l, rec.EventID); string(s.Raw) != body || s.Kind != ledger.KindRequest || s.Reason != "byte-order mark" {
		t.Errorf("request record %+v", s)
	}
	if err := l.Reopen(ctx, rec.EventID, events.Orders, "x"); !errors.Is(err, ledger.ErrNotReopenable) {
		t.Errorf("a request record is not an event to reopen: %v", err)
	}
	if err := l.ResolveRequest(ctx, rec.EventID, "replayed: 0 new"); err != nil {
		t.Fatal(err)
	}
	mustParked(t, l, ledger.RequestsPartition)
	if s := mustRead(t, l, rec.EventID); s.Status != ledger.Applied || s.Reason != "replayed: 0 new" || string(s.Raw) != body {
		t.Errorf("resolved request %+v", s)
	}
	if err := l.ResolveRequest(ctx, rec.EventID, "again"); !errors.Is(err, ledger.ErrNotReopenable) {
		t.Errorf("second resolve: %v, want ErrNotReopenable", err)
	}
}

func largeBodies(t *testing.T, l ledger.Store, _ *testclock.Clock) {
	random := make([]byte, 5<<20) // incompressible: stored in parts
	if _, err := rand.Read(random); err != nil {
		t.Fatal(err)
	}
	text := []byte(`{"id":"big","pad":"` + strings.Repeat("0123456789", 600_000) + `"}`)
	for _, raw := range [][]byte{random, text} {
		rec := eventRecord(events.Orders, "")
		rec.Raw = raw
		mustClaim(t, l, rec, ledger.ClaimNew)
		mustClaim(t, l, rec, ledger.ClaimPending)
		got, err := l.RawEvent(ctx, rec.EventID)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, raw) {
			t.Errorf("%d bytes stored, %d read back, equal %v", len(raw), len(got), slices.Equal(got, raw))
		}
	}
}

func boundedLabels(t *testing.T, l ledger.Store, _ *testclock.Clock) {
	rec := eventRecord(events.Orders, `{"type":"`+strings.Repeat("T", 10_000)+`"}`)
	rec.EventType, rec.Status, rec.Reason = strings.Repeat("T", 10_000), ledger.Parked, strings.Repeat("r\xff", 50_000)
	mustClaim(t, l, rec, ledger.ClaimNew)
	s := mustRead(t, l, rec.EventID)
	if len(s.EventType) > 256 || len(s.Reason) > 1000 {
		t.Errorf("event type %d bytes, reason %d bytes: labels must be bounded", len(s.EventType), len(s.Reason))
	}
	if string(s.Raw) != string(rec.Raw) {
		t.Error("the exact bytes must stay whole")
	}
}

func concurrentClaims(t *testing.T, l ledger.Store, _ *testclock.Clock) {
	rec := eventRecord(events.Orders, `{"id":"i"}`)
	const calls = 12
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		results = map[ledger.ClaimResult]int{}
	)
	for range calls {
		wg.Go(func() {
			r, _, err := l.Claim(ctx, rec)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			results[r]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if results[ledger.ClaimNew] != 1 || results[ledger.ClaimPending] != calls-1 {
		t.Errorf("claims %v: want exactly one new and the rest told to fan out again", results)
	}
}

func enqueuedMark(t *testing.T, l ledger.Store, _ *testclock.Clock) {
	rec := eventRecord(events.Orders, `{"id":"j"}`)
	mustClaim(t, l, rec, ledger.ClaimNew)
	if err := l.MarkEnqueued(ctx, rec.EventID); err != nil {
		t.Fatal(err)
	}
	mustClaim(t, l, rec, ledger.ClaimSettled)
	if err := l.RecordOutcome(ctx, rec.EventID, ledger.Applied, ""); err != nil {
		t.Fatal(err)
	}
	if err := l.MarkEnqueued(ctx, rec.EventID); err != nil {
		t.Fatalf("a late mark is no error: %v", err)
	}
	if s := mustRead(t, l, rec.EventID); s.Status != ledger.Applied {
		t.Errorf("a late mark must not undo the outcome: %s", s.Status)
	}
}

func conflictingClaims(t *testing.T, l ledger.Store, _ *testclock.Clock) {
	random := make([]byte, 5<<20) // stored in parts: compared without its inline body
	if _, err := rand.Read(random); err != nil {
		t.Fatal(err)
	}
	for _, raw := range [][]byte{[]byte(`{"id":"m","v":1}`), random} {
		rec := eventRecord(events.Orders, "")
		rec.Raw = raw
		mustClaim(t, l, rec, ledger.ClaimNew)
		other := rec
		other.Raw = append(append([]byte(nil), raw...), ' ')
		other.EventType = "CASH_BALANCE.UPDATED"
		other.Domain = events.Holdings
		got, status, err := l.Claim(ctx, other)
		if err != nil || got != ledger.ClaimConflict || status != ledger.Received {
			t.Fatalf("claim with other bytes = %d %s %v, want a conflict with the RECEIVED record", got, status, err)
		}
		mustClaim(t, l, rec, ledger.ClaimPending) // the recorded bytes still claim as before
		stored := mustRead(t, l, rec.EventID)
		if !slices.Equal(stored.Raw, raw) || stored.EventType != rec.EventType || stored.Domain != events.Orders {
			t.Fatalf("the conflicting claim changed the record: %s %s, bytes equal %v", stored.EventType, stored.Domain, slices.Equal(stored.Raw, raw))
		}
		if err := l.RecordOutcome(ctx, rec.EventID, ledger.Applied, ""); err != nil {
			t.Fatal(err)
		}
		if got, status, err := l.Claim(ctx, other); err != nil || got != ledger.ClaimConflict || status != ledger.Applied {
			t.Fatalf("claim with other bytes after the outcome = %d %s %v, want a conflict with the APPLIED record", got, status, err)
		}
	}
}

func releaseAfterReplay(t *testing.T, l ledger.Store, clock *testclock.Clock) {
	replayed := eventRecord(events.Orders, `{"id":"r1"}`)
	replayed.Status, replayed.Reason = ledger.Parked, "a bug since fixed"
	mustClaim(t, l, replayed, ledger.ClaimNew)
	if err := l.Reopen(ctx, replayed.EventID, events.Orders, "ORDER#r-1"); err != nil {
		t.Fatal(err)
	}
	// Released before the replay marks it (the worker was quick): still out.
	if err := l.Release(ctx, replayed.EventID); err != nil {
		t.Fatal(err)
	}
	if err := l.MarkEnqueued(ctx, replayed.EventID); err != nil {
		t.Fatal(err)
	}
	mustParked(t, l, string(events.Orders))
	if err := l.Release(ctx, replayed.EventID); err != nil {
		t.Errorf("a second release is no error: %v", err)
	}

	// A replay parked again stays listed; a plain record and an unknown id are left as they are.
	again := eventRecord(events.Orders, `{"id":"r2"}`)
	again.Status, again.Reason = ledger.Parked, "a bug"
	mustClaim(t, l, again, ledger.ClaimNew)
	if err := l.Reopen(ctx, again.EventID, events.Orders, "ORDER#r-2"); err != nil {
		t.Fatal(err)
	}
	if err := l.RecordOutcome(ctx, again.EventID, ledger.Parked, "still a bug"); err != nil {
		t.Fatal(err)
	}
	plain := eventRecord(events.Orders, `{"id":"r3"}`)
	mustClaim(t, l, plain, ledger.ClaimNew)
	for _, id := range []string{again.EventID, plain.EventID, uuid.New()} {
		if err := l.Release(ctx, id); err != nil {
			t.Errorf("release %s: %v", id, err)
		}
	}
	mustParked(t, l, string(events.Orders), again.EventID)
	if s := mustRead(t, l, again.EventID); s.Status != ledger.Parked || s.Reason != "still a bug" {
		t.Errorf("parked again: %+v", s)
	}
	if s := mustRead(t, l, plain.EventID); s.Status != ledger.Received || s.Parked != "" {
		t.Errorf("plain record after a release: %+v", s)
	}

	// Past its lease, an applied event's RECEIVED record may be replayed by
	// explicit id (a no-op at its worker), and its release ends the listing.
	clock.Advance(ledger.Lease + time.Second)
	if err := l.Reopen(ctx, plain.EventID, events.Orders, "ORDER#r-3"); err != nil {
		t.Fatalf("reopen past the lease: %v", err)
	}
	mustParked(t, l, string(events.Orders), again.EventID, plain.EventID)
	if err := l.Release(ctx, plain.EventID); err != nil {
		t.Fatal(err)
	}
	mustParked(t, l, string(events.Orders), again.EventID)
}
