package replay_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/fanout"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/ingest"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/ledger"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/ledger/ledgertest"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/replay"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/uuid"
	"github.com/upvest-webhooks/upvest-webhooks/shared/testkit/testclock"
)

type flakyPublisher struct {
	err  error
	sent []fanout.Message
}

func (p *flakyPublisher) Publish(_ context.Context, msgs []fanout.Message) error {
	if p.err != nil {
		return p.err
	}
	p.sent = append(p.sent, msgs...)
	return nil
}

// A replay that fails half-way leaves the event listed and replayable.
func TestReplayThatFailsHalfWayStaysReplayable(t *testing.T) {
	ctx := context.Background()
	l := ledgertest.NewMemory(nil)
	id := uuid.New()
	raw := rawEvent(id, "ORDER.NEW", `{"id":"o-1","status":"NEW"}`)
	if _, _, err := l.Claim(ctx, ledger.Record{EventID: id, Domain: events.Orders, Raw: raw, Status: ledger.Parked, Reason: "old bug"}); err != nil {
		t.Fatal(err)
	}
	p := &flakyPublisher{err: errors.New("sqs down")}
	r := &replay.Replayer{Ledger: l, Publisher: p}
	if _, err := r.Replay(ctx, []string{id}); err == nil {
		t.Fatal("a failed send must be reported")
	}
	if listed, _ := l.Parked(ctx, string(events.Orders)); !slices.Equal(listed, []string{id}) {
		t.Fatalf("after a failed send the event must still be listed as parked: %v", listed)
	}
	p.err = nil
	results, err := r.Replay(ctx, []string{id})
	if err != nil || len(results) != 1 || results[0].Outcome != replay.Requeued || len(p.sent) != 1 {
		t.Fatalf("second replay: %+v err %v sent %d", results, err, len(p.sent))
	}
	if results, _ = r.Replay(ctx, []string{id}); results[0].Outcome != replay.NotReplayable {
		t.Errorf("a replay in flight is not sent again: %+v", results)
	}
}

// An explicit replay takes a RECEIVED event whose lease is over: one that no
// delivery will ever send again.
func TestReplayTakesAbandonedReceivedEvents(t *testing.T) {
	ctx := context.Background()
	clock := &testclock.Clock{}
	l := ledgertest.NewMemory(clock.Now)
	id := uuid.New()
	raw := rawEvent(id, "ORDER.NEW", `{"id":"o-1","status":"NEW"}`)
	if _, _, err := l.Claim(ctx, ledger.Record{EventID: id, Domain: events.Orders, Raw: raw, Status: ledger.Received}); err != nil {
		t.Fatal(err)
	}
	p := &flakyPublisher{}
	r := &replay.Replayer{Ledger: l, Publisher: p, Now: clock.Now}
	if results, _ := r.Replay(ctx, []string{id}); results[0].Outcome != replay.NotReplayable {
		t.Errorf("within its lease: %+v", results)
	}
	clock.Advance(ledger.Lease + time.Second)
	if results, err := r.Replay(ctx, []string{id}); err != nil || results[0].Outcome != replay.Requeued || len(p.sent) != 1 {
		t.Errorf("past its lease: %+v err %v", results, err)
	}
}

type fakeReingester struct {
	bodies [][]byte
	err    error
}

func (f *fakeReingester) Reingest(_ context.Context, body []byte) (ingest.Summary, error) {
	if f.err != nil {
		return ingest.Summary{}, f.err
	}
	if _, err := events.DecodeEnvelope(body); err != nil {
		return ingest.Summary{}, err
	}
	f.bodies = append(f.bodies, body)
	return ingest.Summary{Received: 1}, nil
}

// A kept request is replayed once its body is an envelope to the code, and
// stays parked while it is not or while re-ingesting fails.
func TestReplayOfKeptRequests(t *testing.T) {
	ctx := context.Background()
	l := ledgertest.NewMemory(nil)
	still := "request:still"
	learnt := "request:learnt"
	for key, body := range map[string]string{still: "\xef\xbb\xbf{}", learnt: `{"payload":[]}`} {
		if _, _, err := l.Claim(ctx, ledger.Record{EventID: key, Kind: ledger.KindRequest, Raw: []byte(body), Status: ledger.Parked, Reason: "not an envelope"}); err != nil {
			t.Fatal(err)
		}
	}
	ri := &fakeReingester{err: errors.New("ledger down")}
	r := &replay.Replayer{Ledger: l, Publisher: &flakyPublisher{}, Requests: ri}
	if _, err := r.Replay(ctx, []string{learnt}); err == nil {
		t.Fatal("a failed re-ingest must be reported")
	}
	if listed, _ := l.Parked(ctx, ledger.RequestsPartition); len(listed) != 2 {
		t.Fatalf("kept requests after a failed replay: %v", listed)
	}
	ri.err = nil
	results, err := r.Replay(ctx, []string{still, learnt})
	if err != nil {
		t.Fatal(err)
	}
	if results[0].Outcome != replay.StillUnusable || results[1].Outcome != replay.Requeued || len(ri.bodies) != 1 {
		t.Errorf("results %+v, re-ingested %d", results, len(ri.bodies))
	}
	if listed, _ := l.Parked(ctx, ledger.RequestsPartition); !slices.Equal(listed, []string{still}) {
		t.Errorf("kept requests after the replay: %v", listed)
	}
	if results, _ = r.Replay(ctx, []string{learnt}); results[0].Outcome != replay.NotReplayable {
		t.Errorf("a replayed request is not replayed twice: %+v", results)
	}
}
