package replay_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/fanout"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/ledger"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/ledger/ledgertest"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/longrun"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/replay"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/uuid"
)

// byIDsOnly is the in-memory ledger as a Scanner: replay by ids reads record
// by record and never scans.
type byIDsOnly struct{ *ledgertest.Memory }

func (byIDsOnly) ScanEvents(context.Context, ledger.ScanQuery, []ledger.Cursor, func(context.Context, ledger.ScanPage) error) error {
	return errors.New("replay by ids must not scan")
}

// failingAfter sends its first n batches, then fails.
type failingAfter struct{ n int }

func (p *failingAfter) Publish(context.Context, []fanout.Message) error {
	if p.n == 0 {
		return errors.New("sqs down")
	}
	p.n--
	return nil
}

// A checkpoint holds one run's position: a run by other ids (as many of them),
// or on another ledger, must not resume it and skip the ids before its cursor.
func TestReplayByIDsResumesOnlyItsOwnCheckpoint(t *testing.T) {
	ctx := context.Background()
	l := ledgertest.NewMemory(nil)
	ids := func() map[string]bool {
		set := map[string]bool{}
		for range 30 {
			id := uuid.New()
			raw := rawEvent(id, "ORDER.NEW", fmt.Sprintf(`{"id":%q,"status":"NEW"}`, id))
			if _, _, err := l.Claim(ctx, ledger.Record{EventID: id, Domain: events.Orders, Raw: raw, Status: ledger.Received}); err != nil {
				t.Fatal(err)
			}
			set[id] = true
		}
		return set
	}
	a, b := ids(), ids()
	path := filepath.Join(t.TempDir(), "cp.json")
	bulk := func(p fanout.Publisher, source string) *replay.Bulk {
		return &replay.Bulk{Ledger: byIDsOnly{l}, Publisher: p, Replayer: &replay.Replayer{Ledger: l, Publisher: p},
			Checkpoint: &longrun.CheckpointFile{Path: path}, Source: source}
	}

	// The first page of a's ids is sent and checkpointed, the second fails.
	if _, err := bulk(&failingAfter{n: 1}, "local ledger L").Run(ctx, replay.Filter{IDs: a}); err == nil {
		t.Fatal("the failing send must stop the run")
	}
	if _, err := bulk(&failingAfter{n: 10}, "local ledger L").Run(ctx, replay.Filter{IDs: b}); !errors.Is(err, longrun.ErrOtherJob) {
		t.Fatalf("other ids, as many: %v, want the checkpoint refused", err)
	}
	if _, err := bulk(&failingAfter{n: 10}, "deployed ledger L").Run(ctx, replay.Filter{IDs: a}); !errors.Is(err, longrun.ErrOtherJob) {
		t.Fatalf("the same ids on another ledger: %v, want the checkpoint refused", err)
	}
	sum, err := bulk(&failingAfter{n: 10}, "local ledger L").Run(ctx, replay.Filter{IDs: a})
	if err != nil || !sum.Resumed || sum.Sent != 30 {
		t.Fatalf("the same run again: %+v, %v; want it resumed and all 30 counted", sum, err)
	}
}
