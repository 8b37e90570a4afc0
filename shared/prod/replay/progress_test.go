package replay_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/ledger"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/ledger/ledgertest"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/longrun"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/replay"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/uuid"
	"github.com/upvest-webhooks/upvest-webhooks/shared/testkit/testclock"
)

// A replay by ids reads only its ids, not the ledger: its progress and ETA
// count against the ids, not against the ledger's item count, which would
// show a run of 30 ids as 0 % done with an ETA of hours.
func TestReplayByIDsMeasuresProgressAgainstItsIDs(t *testing.T) {
	ctx := context.Background()
	l := ledgertest.NewMemory(nil)
	ids := map[string]bool{}
	for range 30 {
		id := uuid.New()
		raw := rawEvent(id, "ORDER.NEW", fmt.Sprintf(`{"id":%q,"status":"NEW"}`, id))
		if _, _, err := l.Claim(ctx, ledger.Record{EventID: id, Domain: events.Orders, Raw: raw, Status: ledger.Received}); err != nil {
			t.Fatal(err)
		}
		ids[id] = true
	}
	var out bytes.Buffer
	clock := testclock.New(t0)
	p := &failingAfter{n: 100}
	b := &replay.Bulk{Ledger: byIDsOnly{l}, Publisher: p, Replayer: &replay.Replayer{Ledger: l, Publisher: p},
		Progress: &longrun.Progress{W: &out, Clock: clock, Every: time.Nanosecond, Label: "replay"},
		Limiter:  longrun.NewLimiter(10, clock), Total: 5_000_000}
	sum, err := b.Run(ctx, replay.Filter{IDs: ids})
	if err != nil || sum.Sent != 30 {
		t.Fatalf("replay: %+v, %v", sum, err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	for _, line := range lines {
		if !strings.Contains(line, "/~30 ledger items read") {
			t.Errorf("progress line %q: want it counted against the 30 ids", line)
		}
	}
	if last := lines[len(lines)-1]; !strings.HasPrefix(last, "replay: 30/~30 ledger items read") || !strings.HasSuffix(last, "ETA 0s") {
		t.Errorf("last progress line %q: want 30 of ~30 read, ETA 0s", last)
	}
}
