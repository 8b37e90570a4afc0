package perf_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	upvest "github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/shared/local/localaws/awstest"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/ledger"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/state"
)

const (
	weightEvents   = 2000 // per side and round
	weightWarmUps  = 2    // rounds first, uncounted: DynamoDB Local's JIT speeds its writes up for about 20,000 of them
	weightRounds   = 4    // counted; each side goes first in one of them
	weightInFlight = 16
)

// BenchmarkWriteWeight measures what one item write of the pipeline costs
// DynamoDB Local next to the ceiling's bare one, with nothing else running:
// ingest's ledger claim (the record with its labels, lease, digest and
// gzipped body) against the ceiling's put of key and bytes, and a worker's
// state write (the row with its status, ids, position, event and version)
// against the ceiling's update of position, object and index keys. Every
// event makes a new row on both sides. The combined ratio is the most
// BenchmarkPipelineVsCeiling's ratio can reach on this emulator before any
// queue, poller or handler runs; on DynamoDB itself a write's latency
// hardly depends on a dozen attributes more.
func BenchmarkWriteWeight(b *testing.B) {
	env := awstest.Env(b)
	ctx := context.Background()
	db := dynamodb.NewFromConfig(env.Config)
	src := newEventSource(b)
	records := ledger.NewDynamo(db, env.LedgerTable, ledger.WithRetention(400*24*time.Hour))
	stateWrite := workerWrite(db, env.StateTables)

	sides := []struct {
		name  string
		write func(event) error
	}{
		{"ceiling put", func(e event) error { return ceilingPut(ctx, db, env.LedgerTable, e) }},
		{"ledger claim", func(e event) error {
			ev, r, err := upvest.ClassifyRaw(e.Raw)
			if err != nil {
				return err
			}
			_, _, err = records.Claim(ctx, ledger.Record{EventID: ev.ID, EventType: ev.Type, Domain: r.Domain, EntityKey: r.EntityKey, Raw: e.Raw, Status: ledger.Received})
			return err
		}},
		{"ceiling update", func(e event) error { return ceilingUpdate(ctx, db, env.StateTables, e) }},
		{"state write", func(e event) error { _, err := stateWrite(ctx, e.Raw); return err }},
	}
	for b.Loop() {
		elapsed := make([]time.Duration, len(sides))
		for round := range weightWarmUps + weightRounds {
			for i := range sides {
				s := (i + round) % len(sides)
				d, err := runConcurrently(src.Events(weightEvents), weightInFlight, sides[s].write)
				if err != nil {
					b.Fatalf("%s: %v", sides[s].name, err)
				}
				if round >= weightWarmUps {
					elapsed[s] += d
				}
			}
		}
		rate := func(s int) float64 { return float64(weightRounds*weightEvents) / elapsed[s].Seconds() }
		putRatio, updateRatio := rate(1)/rate(0), rate(3)/rate(2)
		combined := (elapsed[0] + elapsed[2]).Seconds() / (elapsed[1] + elapsed[3]).Seconds()
		var rates []string
		for i, s := range sides {
			rates = append(rates, fmt.Sprintf("%s %.0f/s", s.name, rate(i)))
		}
		fmt.Printf("write weight on DynamoDB Local, %d in flight, %d rounds of %d new items per side after %d of warm-up: %s\n",
			weightInFlight, weightRounds, weightEvents, weightWarmUps, strings.Join(rates, ", "))
		fmt.Printf("write weight: ledger claim / ceiling put %.2f×, state write / ceiling update %.2f×, both writes of an event %.2f× (the most the pipeline's ratio can reach here)\n",
			putRatio, updateRatio, combined)
		b.ReportMetric(putRatio, "claim/put")
		b.ReportMetric(updateRatio, "state/update")
		b.ReportMetric(combined, "event-writes-ratio")
	}
}

// workerWrite is a worker's state write without the worker around it: the
// event classified and applied to its domain's table by the state store.
func workerWrite(db *dynamodb.Client, tables map[upvest.Domain]string) func(ctx context.Context, raw []byte) (upvest.Event, error) {
	stores := map[upvest.Domain]*state.Dynamo{}
	for d, table := range tables {
		stores[d] = state.NewDynamo(db, table)
	}
	return func(ctx context.Context, raw []byte) (upvest.Event, error) {
		ev, route, err := upvest.ClassifyRaw(raw)
		if err != nil {
			return ev, err
		}
		_, err = stores[route.Domain].Apply(ctx, ev, route)
		return ev, err
	}
}
