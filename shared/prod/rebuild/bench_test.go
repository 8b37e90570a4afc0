package rebuild_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"golang.org/x/sync/errgroup"

	"github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/shared/local/localaws/awstest"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/ledger"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/schema"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/state/statetest"
)

// The rebuild benchmark of issue 22: a ledger of orders-domain events (each
// a new ORDER, one write each), rebuilt into a fresh state table, against a
// bare loop that Scans the same ledger with the same segments, decodes each
// body and writes the same row (key, object and index keys) into another
// fresh state table with a plain PutItem: no judgement, no condition, no
// checkpoint. Then the rebuild's peak heap on a small and a large ledger.
//
// DynamoDB Local slows down as index entries pile up in it (measured: plain
// PutItems into a fresh table fell from ~800/s to ~110/s after 6,000 rows with
// two index keys each), so each round drops its table when done, the two
// sides alternate, bare-rebuild-rebuild-bare, and each side's rate is over its
// own rounds: what drift is left hits both alike.
//
// The sizes are the (10,000 and 200,000); on a loaded machine,
// REBUILD_BENCH_EVENTS and REBUILD_BENCH_LARGE make them smaller.
var (
	benchEvents = envInt("REBUILD_BENCH_EVENTS", 10_000)
	benchLarge  = envInt("REBUILD_BENCH_LARGE", 200_000)
)

const benchSegments = 4

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

func BenchmarkRebuildVsBareScanAndWrite(b *testing.B) {
	env := awstest.Env(b)
	ctx := context.Background()
	seedOrders(b, env, benchEvents)

	// Each round writes into a fresh table and drops it after: DynamoDB Local
	// slows down as index entries pile up anywhere in it, so every round
	// starts with the same data (the ledger and an empty table).
	round := func(name string, run func(table string)) float64 {
		into := scratchTable(b, env, fmt.Sprintf("%s-%d", name, time.Now().UnixNano()))
		start := time.Now()
		run(into)
		elapsed := time.Since(start).Seconds()
		if _, err := env.DynamoDB.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String(into)}); err != nil {
			b.Fatal(err)
		}
		return elapsed
	}
	bare := func() float64 {
		return round("bare", func(into string) {
			if n := bareScanAndWrite(b, env, into); n != benchEvents {
				b.Fatalf("bare loop wrote %d items, want %d", n, benchEvents)
			}
		})
	}
	rebuilt := func() float64 {
		return round("rebuilt", func(into string) {
			r := rebuilder(env, into)
			r.Segments, r.PageSize = benchSegments, 0
			sum, err := r.Run(ctx)
			if err != nil {
				b.Fatal(err)
			}
			if sum.Applied != benchEvents {
				b.Fatalf("rebuild applied %d, want %d", sum.Applied, benchEvents)
			}
		})
	}
	var bareTime, rebuildTime float64
	var rounds []string
	for b.Loop() {
		b1, r1 := bare(), rebuilt()
		r2, b2 := rebuilt(), bare()
		bareTime += b1 + b2
		rebuildTime += r1 + r2
		rounds = append(rounds, fmt.Sprintf("%.2f× %.2f× (bare %.0f and %.0f/s)", b1/r1, b2/r2, float64(benchEvents)/b1, float64(benchEvents)/b2))
	}
	n := float64(2 * b.N * benchEvents)
	bareRate, rebuildRate := n/bareTime, n/rebuildTime
	b.ReportMetric(bareRate, "bare-events/s")
	b.ReportMetric(rebuildRate, "rebuild-events/s")
	b.ReportMetric(rebuildRate/bareRate, "ratio")
	b.Logf("rebuild %.0f events/s vs bare Scan-decode-PutItem %.0f/s: %.2f× (target ≥ 0.7×; pairs %s); %d events, %d segments",
		rebuildRate, bareRate, rebuildRate/bareRate, strings.Join(rounds, ", "), benchEvents, benchSegments)
}

// BenchmarkRebuildMemory rebuilds a ledger of 10,000 and then of 200,000
// events (REBUILD_BENCH_EVENTS, REBUILD_BENCH_LARGE) and reports the peak heap
// of each: flat, since a rebuild holds one page per segment whatever the
// ledger's size. It writes into a table with the state table's key and no
// indexes: the heap does not depend on the target's indexes, and DynamoDB
// Local would take most of an hour to write 200,000 rows with index entries.
func BenchmarkRebuildMemory(b *testing.B) {
	env := awstest.Env(b)
	ctx := context.Background()
	var peaks []float64
	seeded := 0
	for b.Loop() {
		peaks = peaks[:0]
		for _, size := range []int{benchEvents, benchLarge} {
			seedOrders(b, env, size-seeded)
			seeded = size
			into := plainTable(b, env, fmt.Sprintf("mem-%d-%d", size, time.Now().UnixNano()))
			r := rebuilder(env, into)
			r.Segments, r.PageSize = 8, 0
			runtime.GC()
			stop := samplePeakHeap()
			sum, err := r.Run(ctx)
			peak := stop()
			if err != nil {
				b.Fatal(err)
			}
			if sum.Applied != size {
				b.Fatalf("rebuild applied %d, want %d", sum.Applied, size)
			}
			peaks = append(peaks, float64(peak)/(1<<20))
			b.Logf("%d ledger events: peak heap %.1f MiB, %.0f events/s", size, float64(peak)/(1<<20), sum.EventsPerSec)
		}
	}
	b.ReportMetric(peaks[0], "peak-MiB-small")
	b.ReportMetric(peaks[1], "peak-MiB-large")
	b.ReportMetric(peaks[1]/peaks[0], "heap-ratio")
	b.Logf("peak heap %.1f MiB at %d events, %.1f MiB at %d: %.2f× for %.0f× the events",
		peaks[0], benchEvents, peaks[1], benchLarge, peaks[1]/peaks[0], float64(benchLarge)/float64(benchEvents))
}

// plainTable creates a table keyed like a state table, without indexes or stream.
func plainTable(b *testing.B, env awstest.Environment, name string) string {
	b.Helper()
	table := env.Names.Prefix + name
	_, err := env.DynamoDB.CreateTable(context.Background(), &dynamodb.CreateTableInput{
		TableName: aws.String(table), BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String(schema.StatePK), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String(schema.StatePK), KeyType: types.KeyTypeHash}},
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_, _ = env.DynamoDB.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(table)})
	})
	return table
}

// samplePeakHeap samples the heap in use until the returned func is called,
// which returns the highest sample.
func samplePeakHeap() func() uint64 {
	var peak atomic.Uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			if m.HeapInuse > peak.Load() {
				peak.Store(m.HeapInuse)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	})
	return func() uint64 {
		close(done)
		wg.Wait()
		return peak.Load()
	}
}

// seedOrders imports n ORDER.NEW events, each of its own order, 25 a batch.
func seedOrders(b *testing.B, env awstest.Environment, n int) {
	b.Helper()
	l := ledger.NewDynamo(env.DynamoDB, env.LedgerTable)
	base := statetest.NewOrder(b, []string{"NEW"}).Orders["NEW"]
	recs := make([]ledger.Record, n)
	for i := range recs {
		id := statetest.UUID()
		raw := []byte(fmt.Sprintf(`{"id":%q,"created_at":"2024-05-01T10:00:00Z","type":"ORDER.NEW","object":%s,"webhook_id":"w"}`,
			id, replaceID(base.Object, statetest.UUID())))
		recs[i] = ledger.Record{EventID: id, EventType: "ORDER.NEW", Domain: events.Orders, Raw: raw, Status: ledger.Received}
	}
	g, ctx := errgroup.WithContext(context.Background())
	g.SetLimit(8)
	for chunk := range slices.Chunk(recs, 25) {
		g.Go(func() error { return l.Import(ctx, env.DynamoDB, chunk) })
	}
	if err := g.Wait(); err != nil {
		b.Fatal(err)
	}
}

// replaceID gives the sample order object another id (a new entity).
func replaceID(object []byte, id string) string {
	s := string(object)
	const key = `"id":"`
	for i := 0; i+len(key) <= len(s); i++ {
		if s[i:i+len(key)] == key {
			end := i + len(key)
			for end < len(s) && s[end] != '"' {
				end++
			}
			return s[:i+len(key)] + id + s[end:]
		}
	}
	return s
}

// bareScanAndWrite is the floor: the same parallel Scan, each item's bytes
// written with a plain PutItem, nothing decoded or checked.
func bareScanAndWrite(b *testing.B, env awstest.Environment, table string) int {
	b.Helper()
	var written atomic.Int64
	l := ledger.NewDynamo(env.DynamoDB, env.LedgerTable)
	err := l.ScanEvents(context.Background(), ledger.ScanQuery{Segments: benchSegments, WithBody: true}, nil,
		func(ctx context.Context, p ledger.ScanPage) error {
			for _, s := range p.Records {
				row, err := bareRow(s.Raw)
				if err != nil {
					return err
				}
				if _, err := env.DynamoDB.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: row}); err != nil {
					return err
				}
				written.Add(1)
			}
			return nil
		})
	if err != nil {
		b.Fatal(err)
	}
	return int(written.Load())
}

// bareRow is the least a rebuild must write for an ORDER.NEW: its key, its
// object and its index keys, read from the event without validation.
func bareRow(raw []byte) (map[string]types.AttributeValue, error) {
	var e struct {
		Object json.RawMessage `json:"object"`
	}
	var o struct {
		ID        string `json:"id"`
		UserID    string `json:"user_id"`
		AccountID string `json:"account_id"`
	}
	if err := json.Unmarshal(raw, &e); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(e.Object, &o); err != nil {
		return nil, err
	}
	str := func(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
	row := map[string]types.AttributeValue{schema.StatePK: str("ORDER#" + o.ID), schema.StateObject: str(string(e.Object))}
	if o.UserID != "" {
		row[schema.StateUserID] = str(o.UserID)
	}
	if o.AccountID != "" {
		row[schema.StateAccountID] = str(o.AccountID)
	}
	return row, nil
}
