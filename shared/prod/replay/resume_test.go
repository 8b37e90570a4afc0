package replay_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"

	"github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/shared/local/localaws/awstest"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/fanout"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/ledger"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/longrun"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/replay"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/state/statetest"
)

// A replay by filter -status PARKED whose send failed after it reopened a
// parked record (the record is RECEIVED now, still in the parked index, as
// `ops parked` lists it) resumes from its checkpoint and sends that record:
// the same command run again must not skip it as no longer PARKED.
func TestFilteredReplayOfParkedRecordsResumedAfterAFailedSendSendsThem(t *testing.T) {
	t.Parallel()
	env := awstest.Env(t)
	ctx := context.Background()
	l := ledger.NewDynamo(env.DynamoDB, env.LedgerTable)
	order, _ := events.Lookup("ORDER")
	e := statetest.Event(t, "ORDER.NEW", t0, statetest.Object(order, statetest.IDs(), "NEW", t0))
	route := statetest.Classify(t, e)
	if _, _, err := l.Claim(ctx, ledger.Record{EventID: e.ID, EventType: e.Type, Domain: route.Domain, EntityKey: route.EntityKey, Raw: e.Raw, Status: ledger.Parked, Reason: "old bug"}); err != nil {
		t.Fatal(err)
	}
	filter := replay.Filter{Statuses: []ledger.Status{ledger.Parked}}
	checkpoint := &longrun.CheckpointFile{Path: filepath.Join(t.TempDir(), "cp.json")}
	bulk := func(p fanout.Publisher) *replay.Bulk {
		return &replay.Bulk{Ledger: l, Publisher: p, Replayer: &replay.Replayer{Ledger: l, Publisher: p}, Checkpoint: checkpoint}
	}
	down := &flakyPublisher{err: errors.New("sqs down")}
	if _, err := bulk(down).Run(ctx, filter); err == nil {
		t.Fatal("the failed send must stop the run")
	}
	if listed, _ := l.Parked(ctx, string(events.Orders)); !slices.Equal(listed, []string{e.ID}) {
		t.Fatalf("after the failed send the record must still be listed as parked: %v", listed)
	}
	plan := &replay.Bulk{Ledger: l, Plan: true, Replayer: &replay.Replayer{Ledger: l, DryRun: true}}
	if planned, err := plan.Run(ctx, filter); err != nil || planned.Sent != 1 {
		t.Errorf("plan -status PARKED after the failed send: %+v, %v; want the listed record", planned, err)
	}
	up := &flakyPublisher{}
	sum, err := bulk(up).Run(ctx, filter)
	if err != nil || len(up.sent) != 1 || up.sent[0].EventID != e.ID || sum.Sent != 1 {
		t.Fatalf("the same command again: %+v, %v, sent %v; want the parked record sent", sum, err, up.sent)
	}
}
