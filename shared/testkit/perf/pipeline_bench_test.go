package perf_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	upvest "github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/shared/local/localaws"
	"github.com/upvest-webhooks/upvest-webhooks/shared/local/localaws/awstest"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/cost"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/schema"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/signature"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/uuid"
	"github.com/upvest-webhooks/upvest-webhooks/shared/testkit/awscount"
	"github.com/upvest-webhooks/upvest-webhooks/shared/testkit/chaos"
	"github.com/upvest-webhooks/upvest-webhooks/shared/testkit/perf"
)

const (
	pipelineEvents   = 2000 // per side and round; requests of 10, 8 in flight
	pipelineRounds   = 3    // ceiling and pipeline alternate which goes first, so that drift hits both
	pipelineWarmUp   = 2000 // events per side before the measured rounds: the JVM's JIT warms up on neither side's clock
	pipelineInFlight = 8
	singlesEvents    = 300 // the cost run at one event per request
	redelivered      = 500 // events of the day's mix delivered again once applied
	ratioTarget      = 0.8
	writesTarget     = 2.1  // DynamoDB item writes per event, both mixes
	costTargetDay    = 2.0  // USD per million events at 10 per request, on demand: a day of Upvest traffic
	costTargetAllNew = 2.75 // the same for events that all make new entities
)

// mixRun is one mix of events through its own pipeline, against the ceiling.
type mixRun struct {
	name                      string
	ceilingTime, pipelineTime time.Duration
	ceilingUse, pipelineUse   sideUse // what DynamoDB Local did within each side's rounds
	ratios                    []string
	events                    int // counted by the pipeline: warm-up and rounds
	ingest, worker            cost.Usage
	ingestCalls, workerCalls  awscount.Snapshot
	ceilingWrites             float64
	p                         *pipeline
}

func (m mixRun) ratio() float64 { return m.ceilingTime.Seconds() / m.pipelineTime.Seconds() }

// busyRatio is the ratio over the time DynamoDB had work on each side: what
// the writes alone allow, without the waits on other parts.
func (m mixRun) busyRatio() float64 {
	return (m.ceilingTime - m.ceilingUse.Idle).Seconds() / (m.pipelineTime - m.pipelineUse.Idle).Seconds()
}

// onDemand is the mix's modelled cost per million events at 10 per request, on demand.
func (m mixRun) onDemand() float64 { return cost.USEast1.PerMillion(m.ingest.Add(m.worker)).Total() }

func (m mixRun) writes() float64 {
	return (itemWrites(m.ingestCalls) + itemWrites(m.workerCalls)) / float64(m.events)
}

// runMix warms up, then alternates rounds of the ceiling and a pipeline of its
// own (fresh queues on the same tables: see startPipeline) over events of one mix.
func runMix(b *testing.B, env awstest.Environment, probe dynamoProbe, s signer, name string, next func(n int) []event) mixRun {
	b.Helper()
	ctx := context.Background()
	mixEnv := env
	fresh := awstest.Env(b, awstest.WithVisibilityTimeout(30*time.Second))
	mixEnv.QueueURLs, mixEnv.DLQURLs = fresh.QueueURLs, fresh.DLQURLs
	p := startPipeline(b, mixEnv, s)
	ceilingCalls, verifier := awscount.New(), signature.NewVerifier(s.keys(), signature.Options{})
	ceilingSide := func(evs []event, into *sideUse) (time.Duration, error) {
		requests, err := signForCeiling(s, evs)
		if err != nil {
			return 0, err
		}
		return probe.measure(into, func() (time.Duration, error) {
			return ceiling(ctx, env, verifier, ceilingCalls, requests, pipelineInFlight)
		})
	}
	if _, err := ceilingSide(next(pipelineWarmUp), new(sideUse)); err != nil {
		b.Fatal(err)
	}
	if _, err := p.run(next(pipelineWarmUp), 10, pipelineInFlight); err != nil {
		b.Fatal(err)
	}
	m := mixRun{name: name, p: p, events: pipelineWarmUp + pipelineRounds*pipelineEvents}
	m.ceilingTime, m.pipelineTime, m.ratios = alternate(b, pipelineRounds, false,
		func() (time.Duration, error) { return ceilingSide(next(pipelineEvents), &m.ceilingUse) },
		func() (time.Duration, error) {
			requests, err := p.signAll(next(pipelineEvents), 10)
			if err != nil {
				return 0, err
			}
			return probe.measure(&m.pipelineUse, func() (time.Duration, error) { return p.send(requests, pipelineEvents, pipelineInFlight) })
		})
	m.ingest, m.worker, m.ingestCalls, m.workerCalls, _ = p.usage(m.events, m.events/10)
	m.ceilingWrites = itemWrites(ceilingCalls.Snapshot()) / float64(m.events)
	return m
}

// sideUse is what DynamoDB Local did within one side's rounds.
type sideUse struct {
	perf.Reading               // its idle and in-flight time (perf.IdleMeter)
	cpu          time.Duration // its CPU time (perf.ServerCPU); 0 when not measured
}

// cpuPerEvent is DynamoDB Local's CPU per event of the side's rounds, in ms.
func (u sideUse) cpuPerEvent() string {
	return fmt.Sprintf("%.2f", u.cpu.Seconds()*1000/float64(pipelineRounds*pipelineEvents))
}

// share is DynamoDB Local's CPU over the busy part of total, the side's wall
// time: 100 % is one core.
func (u sideUse) share(total time.Duration) string {
	return fmt.Sprintf("%.0f %%", 100*u.cpu.Seconds()/(total-u.Idle).Seconds())
}

// dynamoProbe measures DynamoDB Local during a side: every request through
// meter, and the emulator's CPU when cpu is not nil.
type dynamoProbe struct {
	meter *perf.IdleMeter
	cpu   func() (time.Duration, error)
}

// measure runs a side and adds DynamoDB Local's use within it to into. The
// events are made and signed before: only the clocked part of a side counts.
func (p dynamoProbe) measure(into *sideUse, side func() (time.Duration, error)) (time.Duration, error) {
	before := p.meter.Read()
	var cpuBefore time.Duration
	if p.cpu != nil {
		var err error
		if cpuBefore, err = p.cpu(); err != nil {
			return 0, err
		}
	}
	took, err := side()
	if err != nil {
		return 0, err
	}
	into.Reading = into.Reading.Add(p.meter.Read().Sub(before))
	if p.cpu != nil {
		cpuAfter, err := p.cpu()
		if err != nil {
			return 0, err
		}
		into.cpu += cpuAfter - cpuBefore
	}
	return took, nil
}

// dayOfTraffic makes the events of a day of Upvest traffic with the chaos
// storm's generator: ORDER lifecycles with their EXECUTIONs, ACCOUNT
// lifecycles, POSITION and CASH_BALANCE snapshots restated up to four times,
// and REPORTs, which append. The generator has no transactions, which append
// too: after each filled order come the CASH_TRANSACTION and the
// SECURITY_TRANSACTION that book it (trades: Upvest's order_execution
// samples, with fresh ids). As on any day after a deployment's first, the
// snapshots update rows that exist already: before a snapshot entity's first
// event is handed out, yesterday writes its row as of the day before.
type dayOfTraffic struct {
	seed      uint64
	trades    *eventSource // the transactions booking one filled order, in turn
	pending   []event
	yesterday func(event) error // writes the row of e's entity as of the day before e
	existing  map[string]bool   // entity keys whose rows exist
}

func newDayOfTraffic(b testing.TB, src *eventSource, yesterday func(event) error) *dayOfTraffic {
	trades := src.only(b, "CASH_TRANSACTION.EXECUTED.order_execution", "SECURITY_TRANSACTION.EXECUTED.order_execution")
	return &dayOfTraffic{trades: trades, yesterday: yesterday, existing: map[string]bool{}}
}

// restated are the categories whose entities exist before the day starts.
var restated = map[string]bool{"POSITION": true, "CASH_BALANCE": true}

func (d *dayOfTraffic) Events(n int) []event {
	out := d.take(n)
	for _, e := range out {
		_, route, err := upvest.ClassifyRaw(e.Raw)
		if err != nil {
			panic(err) // the generator's own events always classify
		}
		if !restated[route.Category] || d.existing[route.EntityKey] {
			continue
		}
		if err := d.yesterday(e); err != nil {
			panic(fmt.Sprintf("yesterday's row of %s: %v", route.EntityKey, err)) // the local servers failed under the benchmark
		}
		d.existing[route.EntityKey] = true
	}
	return out
}

func (d *dayOfTraffic) take(n int) []event {
	for len(d.pending) < n {
		d.seed++
		plan, err := chaos.NewPlan(chaos.PlanOptions{Events: 1000, Seed: d.seed})
		if err != nil {
			panic(err) // the generator's own events always classify
		}
		for _, e := range plan.Events {
			if e.Poison != chaos.NotPoison {
				continue
			}
			d.pending = append(d.pending, event{ID: e.ID, Raw: e.Raw})
			if e.Route.Category == "ORDER" && e.Route.Status == "FILLED" {
				d.pending = append(d.pending, d.trades.Events(len(d.trades.samples))...)
			}
		}
	}
	out := d.pending[:n:n]
	d.pending = d.pending[n:]
	return out
}

// BenchmarkPipelineVsCeiling runs signed requests through the whole local
// pipeline (HTTP endpoint → ingest → SQS → workers → state tables) and,
// side by side on the same emulators, the bare SDK loop that is their
// ceiling (2 item writes per event), for two mixes: every entity new (the
// costly case: a new row writes its index entries) and a day of Upvest
// traffic. For each it reports the ratio of rates (target ≥ 0.8), the item
// writes per event (≤ 2.1) and, from the AWS calls counted by SDK middleware,
// the modelled cost per million events at 10 per request, on demand (≤ $2.00
// for the day, ≤ $2.75 all new) and provisioned; then what a redelivered
// event costs, and the cost at 1 event per request. After a warm-up of both,
// the two sides alternate over several rounds; the rates are over all rounds.
func BenchmarkPipelineVsCeiling(b *testing.B) {
	env := awstest.Env(b, awstest.WithVisibilityTimeout(30*time.Second))
	probe := dynamoProbe{meter: perf.NewIdleMeter(env.Config.HTTPClient, localaws.DynamoDBLocalInFlight)} // every client of the benchmark is built from env.Config
	env.Config.HTTPClient = probe.meter
	dynamoEndpoint, _ := awstest.RequireServers(b)
	cpuNote := ""
	if read, err := perf.ServerCPU(dynamoEndpoint); err != nil {
		cpuNote = fmt.Sprintf("DynamoDB Local's CPU not measured: %v", err) // a diagnostic, not a target: the run goes on
	} else {
		probe.cpu = read
	}
	src := newEventSource(b)
	day := newDayOfTraffic(b, src, yesterdaysRow(env))
	s := newSigner(b)
	for b.Loop() {
		mixes := []mixRun{
			runMix(b, env, probe, s, "all new", src.Events),
			runMix(b, env, probe, s, "day of traffic", day.Events),
		}

		// What a redelivery costs: events of the day, applied, delivered again.
		// Their RECEIVED records are sent again, and the workers' conditional
		// writes change nothing.
		dayRun := mixes[1]
		again := day.Events(redelivered)
		if _, err := dayRun.p.run(again, 10, pipelineInFlight); err != nil {
			b.Fatal(err)
		}
		beforeIngest, beforeWorker := dayRun.p.ingestCalls.Snapshot(), dayRun.p.workerCalls.Snapshot()
		beforeLogs := dayRun.p.ingestLogs.n.Load() + dayRun.p.workerLogs.n.Load()
		if _, err := dayRun.p.run(again, 10, pipelineInFlight); err != nil {
			b.Fatal(err)
		}
		redelivery := redeliveryUsage(dayRun.p, beforeIngest, beforeWorker, beforeLogs, redelivered)
		for _, m := range mixes {
			m.p.stop()
		}

		singles := startPipeline(b, awstest.Env(b, awstest.WithVisibilityTimeout(30*time.Second)), s)
		if _, err := singles.run(src.Events(singlesEvents), 1, pipelineInFlight); err != nil {
			b.Fatal(err)
		}
		onesIngest, onesWorker, onesIngestCalls, onesWorkerCalls, _ := singles.usage(singlesEvents, singlesEvents)
		singles.stop()

		provisioned := cost.USEast1.Provisioned(provisionedUtilization)
		fmt.Printf("pipeline: side by side with the ceiling on the same emulators, requests of 10, %d in flight, %d rounds of %d events after %d of warm-up\n",
			pipelineInFlight, pipelineRounds, pipelineEvents, pipelineWarmUp)
		fmt.Printf("%-44s %16s %16s %s\n", "", mixes[0].name, mixes[1].name, "target")
		line := func(label, target string, value func(m mixRun) string) {
			fmt.Printf("%-44s %16s %16s %s\n", label, value(mixes[0]), value(mixes[1]), target)
		}
		line("pipeline events/s", "", func(m mixRun) string {
			return fmt.Sprintf("%.0f", float64(pipelineRounds*pipelineEvents)/m.pipelineTime.Seconds())
		})
		line("ceiling events/s", "", func(m mixRun) string {
			return fmt.Sprintf("%.0f", float64(pipelineRounds*pipelineEvents)/m.ceilingTime.Seconds())
		})
		line("ratio (rounds)", fmt.Sprintf("≥ %.1f×", ratioTarget), func(m mixRun) string {
			return fmt.Sprintf("%.2f× %s", m.ratio(), verdict(m.ratio() >= ratioTarget))
		})
		line("  each round", "", func(m mixRun) string { return strings.Join(m.ratios, " ") })
		line("  DynamoDB idle, ceiling / pipeline", "", func(m mixRun) string {
			return fmt.Sprintf("%.1fs / %.1fs", m.ceilingUse.Idle.Seconds(), m.pipelineUse.Idle.Seconds())
		})
		line(fmt.Sprintf("  requests in flight while busy, of %d", localaws.DynamoDBLocalInFlight), "", func(m mixRun) string {
			return fmt.Sprintf("%.1f / %.1f", m.ceilingUse.MeanInFlight(m.ceilingTime), m.pipelineUse.MeanInFlight(m.pipelineTime))
		})
		line("  ratio of the time DynamoDB was busy", "", func(m mixRun) string { return fmt.Sprintf("%.2f×", m.busyRatio()) })
		if cpuNote != "" {
			fmt.Println("  " + cpuNote)
		} else {
			// DynamoDB Local's: busy ratio = CPU per event ratio × share ratio,
			// what each event costs the emulator and how much of the cores it
			// got meanwhile (the rest went to the benchmark's own process).
			line("  emulator CPU per event, ceiling / pipeline", "", func(m mixRun) string {
				return fmt.Sprintf("%s / %s ms", m.ceilingUse.cpuPerEvent(), m.pipelineUse.cpuPerEvent())
			})
			line("  the same as a ratio", "", func(m mixRun) string {
				return fmt.Sprintf("%.2f×", m.ceilingUse.cpu.Seconds()/m.pipelineUse.cpu.Seconds())
			})
			line("  emulator's share of the cores while busy", "", func(m mixRun) string {
				return fmt.Sprintf("%s / %s", m.ceilingUse.share(m.ceilingTime), m.pipelineUse.share(m.pipelineTime))
			})
		}
		line("item writes per event (ceiling 2.00)", fmt.Sprintf("≤ %.1f", writesTarget), func(m mixRun) string {
			return fmt.Sprintf("%.3f %s", m.writes(), verdict(m.writes() <= writesTarget))
		})
		line("write units per event (indexes included)", "", func(m mixRun) string {
			return fmt.Sprintf("%.3f", m.ingest.WriteUnits+m.worker.WriteUnits)
		})
		line("  of them to indexes", "", func(m mixRun) string {
			return fmt.Sprintf("%.3f", (m.ingestCalls.IndexWriteUnits()+m.workerCalls.IndexWriteUnits())/float64(m.events))
		})
		line("$ per million events, on demand", fmt.Sprintf("≤ $%.2f all new, ≤ $%.2f day", costTargetAllNew, costTargetDay), func(m mixRun) string {
			return fmt.Sprintf("$%.3f %s", m.onDemand(), verdict(m.onDemand() <= costTarget(m.name == mixes[1].name)))
		})
		line("  over the target, in write units per event", "", func(m mixRun) string {
			over := m.onDemand() - costTarget(m.name == mixes[1].name)
			return fmt.Sprintf("%.3f", max(over, 0)/(cost.USEast1.DynamoDBWRU*1e6))
		})
		line("$ per million events, provisioned (70 %)", "", func(m mixRun) string {
			return fmt.Sprintf("$%.3f", provisioned.PerMillion(m.ingest.Add(m.worker)).Total())
		})
		line("request latency p50 / p99", "", func(m mixRun) string {
			return fmt.Sprintf("%v / %v", m.p.requests.percentile(0.50).Round(time.Millisecond), m.p.requests.percentile(0.99).Round(time.Millisecond))
		})
		line("requests redelivered after a 5xx", "", func(m mixRun) string { return fmt.Sprint(m.p.redeliveries.Load()) })
		for _, m := range mixes {
			suffix := "@" + strings.ReplaceAll(m.name, " ", "-")
			b.ReportMetric(m.ratio(), "ratio"+suffix)
			b.ReportMetric(m.writes(), "item-writes/event"+suffix)
			b.ReportMetric(m.onDemand(), "$/Mevents@10"+suffix)
			b.ReportMetric(provisioned.PerMillion(m.ingest.Add(m.worker)).Total(), "$/Mevents@10-provisioned"+suffix)
		}

		fmt.Printf("pipeline: a redelivered event (applied before; sent again, a no-op at its worker): %s; $%.3f per million on demand, $%.3f provisioned\n",
			redelivery.summary, cost.USEast1.PerMillion(redelivery.use).Total(), provisioned.PerMillion(redelivery.use).Total())
		b.ReportMetric(cost.USEast1.PerMillion(redelivery.use).Total(), "$/Mredelivered")

		// Printed rather than logged: the testing package cuts long benchmark logs.
		allNew, dayMix := mixes[0], mixes[1]
		fmt.Printf("pipeline: AWS requests and capacity per event, counted by SDK middleware\n%s", countsTable([]countsColumn{
			{"ingest new", allNew.ingest, allNew.ingestCalls, allNew.events},
			{"workers new", allNew.worker, allNew.workerCalls, allNew.events},
			{"ingest day", dayMix.ingest, dayMix.ingestCalls, dayMix.events},
			{"workers day", dayMix.worker, dayMix.workerCalls, dayMix.events},
			{"ingest new@1", onesIngest, onesIngestCalls, singlesEvents},
			{"workers new@1", onesWorker, onesWorkerCalls, singlesEvents},
		}))
		onesCost := cost.USEast1.PerMillion(onesIngest.Add(onesWorker))
		fmt.Printf("pipeline: modelled cost per million events, %s on-demand (Lambda durations modelled with %v per DynamoDB and %v per SQS call)\n%s\n",
			cost.USEast1.Region, cost.AWSLatency.DynamoDBCall, cost.AWSLatency.SQSCall,
			costTable([]string{"all new @10", "day @10", "all new @1"}, cost.USEast1.PerMillion(allNew.ingest.Add(allNew.worker)), cost.USEast1.PerMillion(dayMix.ingest.Add(dayMix.worker)), onesCost))
		fmt.Printf("pipeline: the same, %s (capacityMode=provisioned; the minimum capacities' idle cost is monthly, not per event)\n%s\n",
			provisioned.Region, costTable([]string{"all new @10", "day @10", "all new @1"}, provisioned.PerMillion(allNew.ingest.Add(allNew.worker)), provisioned.PerMillion(dayMix.ingest.Add(dayMix.worker)), provisioned.PerMillion(onesIngest.Add(onesWorker))))
		fmt.Printf("pipeline: write units per event by table (indexes included), all new, 10 per request\n%s", tableUnits(env.Names.Prefix, allNew.events, allNew.ingestCalls, allNew.workerCalls))
		fmt.Printf("pipeline: write units per event by table (indexes included), day of traffic, 10 per request\n%s", tableUnits(env.Names.Prefix, dayMix.events, dayMix.ingestCalls, dayMix.workerCalls))
		facts, err := rowFacts(context.Background(), env)
		if err != nil {
			b.Fatal(err)
		}
		fmt.Printf("pipeline: the state rows both mixes left, by category and last event type (sizes as DynamoDB bills them)\n%s", facts)
		b.Logf("two writes per event (ingest's put and the state write) are the floor of this design: $%.3f per million on demand", 2*cost.USEast1.DynamoDBWRU*1e6)
	}
}

// yesterdaysRow writes the row of an event's entity as it stood a day
// earlier, in the pipeline's state table (through the state store, as a worker
// would have) and as the ceiling's row, through a client that nothing counts:
// the rows are yesterday's, not the run's, and the clock is not running.
func yesterdaysRow(env awstest.Environment) func(event) error {
	ctx := context.Background()
	db := dynamodb.NewFromConfig(env.Config)
	stateWrite := workerWrite(db, env.StateTables)
	return func(e event) error {
		var fields map[string]any
		if err := json.Unmarshal(e.Raw, &fields); err != nil {
			return err
		}
		created, err := time.Parse(time.RFC3339Nano, fmt.Sprint(fields["created_at"]))
		if err != nil {
			return fmt.Errorf("created_at: %w", err)
		}
		fields["id"], fields["created_at"] = uuid.New(), created.Add(-24*time.Hour).Format(time.RFC3339Nano)
		raw, err := json.Marshal(fields)
		if err != nil {
			return err
		}
		ev, err := stateWrite(ctx, raw)
		if err != nil {
			return err
		}
		return ceilingUpdate(ctx, db, env.StateTables, event{ID: ev.ID, Raw: raw})
	}
}

// redelivery is what delivering applied events again cost, per event.
type redelivery struct {
	use     cost.Usage
	summary string
}

func redeliveryUsage(p *pipeline, ingestBefore, workerBefore awscount.Snapshot, logsBefore int64, events int) redelivery {
	n := float64(events)
	ingest, worker := p.ingestCalls.Snapshot(), p.workerCalls.Snapshot()
	requests := n / 10
	use := cost.Usage{
		HTTPRequests:      requests / n,
		LambdaInvocations: 2 * requests / n, // an ingest invocation per request, about one worker batch per request
		SQSRequests:       float64(ingest.Requests("SQS")-ingestBefore.Requests("SQS")+worker.Requests("SQS")-workerBefore.Requests("SQS")) / n,
		WriteUnits:        (ingest.WriteUnits() - ingestBefore.WriteUnits() + worker.WriteUnits() - workerBefore.WriteUnits()) / n,
		ReadUnits:         (ingest.ReadUnits() - ingestBefore.ReadUnits() + worker.ReadUnits() - workerBefore.ReadUnits()) / n,
		LogBytes:          float64(p.ingestLogs.n.Load()+p.workerLogs.n.Load()-logsBefore)/n + 2*requests/n*cost.LambdaPlatformLogBytes,
	}
	writes := (itemWrites(ingest) - itemWrites(ingestBefore) + itemWrites(worker) - itemWrites(workerBefore)) / n
	return redelivery{use: use, summary: fmt.Sprintf("%.2f conditional item writes that change nothing, %.2f write units, %.2f SQS requests, %.0f log bytes",
		writes, use.WriteUnits, use.SQSRequests, use.LogBytes)}
}

// alternate runs rounds of the ceiling and a pipeline, each side first in
// every other round (the pipeline in the first when pipelineFirst), so that
// drift hits both; it returns their summed times and each round's ratio.
func alternate(b *testing.B, rounds int, pipelineFirst bool, ceiling, pipeline func() (time.Duration, error)) (ceilingTime, pipelineTime time.Duration, ratios []string) {
	b.Helper()
	for round := range rounds {
		var c, p time.Duration
		runCeiling := func() (err error) { c, err = ceiling(); return err }
		runPipeline := func() (err error) { p, err = pipeline(); return err }
		first, second := runCeiling, runPipeline
		if (round%2 == 1) != pipelineFirst {
			first, second = runPipeline, runCeiling
		}
		if err := errors.Join(first(), second()); err != nil {
			b.Fatal(err)
		}
		ceilingTime, pipelineTime = ceilingTime+c, pipelineTime+p
		ratios = append(ratios, fmt.Sprintf("%.2f×", c.Seconds()/p.Seconds()))
	}
	return ceilingTime, pipelineTime, ratios
}

// costTarget is the on-demand cost target of a mix, USD per million events.
func costTarget(dayMix bool) float64 {
	if dayMix {
		return costTargetDay
	}
	return costTargetAllNew
}

// provisionedUtilization is auto scaling's target in the stack's default
// provisioned configuration.
const provisionedUtilization = schema.DefaultCapacityTargetUtilization / 100.0

func verdict(met bool) string {
	if met {
		return "met"
	}
	return "MISSED"
}

// itemWrites counts the DynamoDB calls that write one item each.
func itemWrites(s awscount.Snapshot) float64 {
	return float64(s.Calls["DynamoDB.PutItem"] + s.Calls["DynamoDB.UpdateItem"] + s.Calls["DynamoDB.DeleteItem"])
}

type countsColumn struct {
	name   string
	use    cost.Usage
	calls  awscount.Snapshot
	events int
}

// countsTable lists AWS requests by operation and the write units per event.
func countsTable(cols []countsColumn) string {
	ops := map[string]bool{}
	for _, c := range cols {
		for op := range c.calls.Calls {
			ops[op] = true
		}
	}
	var names []string
	for op := range ops {
		names = append(names, op)
	}
	sort.Strings(names)
	var s strings.Builder
	fmt.Fprintf(&s, "%-36s", "")
	for _, c := range cols {
		fmt.Fprintf(&s, "%14s", c.name)
	}
	s.WriteByte('\n')
	row := func(label string, value func(c countsColumn) float64) {
		fmt.Fprintf(&s, "%-36s", label)
		for _, c := range cols {
			fmt.Fprintf(&s, "%14.3f", value(c))
		}
		s.WriteByte('\n')
	}
	for _, op := range names {
		row(op+" requests", func(c countsColumn) float64 { return float64(c.calls.Calls[op]) / float64(c.events) })
	}
	row("AWS requests", func(c countsColumn) float64 { return float64(c.calls.Requests("")) / float64(c.events) })
	for _, op := range names {
		if !strings.HasPrefix(op, "DynamoDB.") {
			continue
		}
		row(op+" WRU", func(c countsColumn) float64 { return c.calls.WCU[op] / float64(c.events) })
	}
	row("  of them to indexes", func(c countsColumn) float64 { return c.calls.IndexWriteUnits() / float64(c.events) })
	row("write units (WRU)", func(c countsColumn) float64 { return c.use.WriteUnits })
	row("read units (RRU)", func(c countsColumn) float64 { return c.use.ReadUnits })
	row("Lambda invocations", func(c countsColumn) float64 { return c.use.LambdaInvocations })
	row("Lambda GB-seconds ×1000", func(c countsColumn) float64 { return c.use.LambdaGBSeconds * 1000 })
	row("log bytes", func(c countsColumn) float64 { return c.use.LogBytes })
	return s.String()
}

// tableUnits lists write units per event by table, prefix removed.
func tableUnits(prefix string, events int, snaps ...awscount.Snapshot) string {
	units := map[string]float64{}
	for _, snap := range snaps {
		for table, wcu := range snap.TableWCU {
			units[strings.TrimPrefix(table, prefix)] += wcu
		}
	}
	var names []string
	for name := range units {
		names = append(names, name)
	}
	sort.Strings(names)
	var s strings.Builder
	for _, name := range names {
		fmt.Fprintf(&s, "%-28s %8.3f\n", name, units[name]/float64(events))
	}
	return s.String()
}

func costTable(names []string, cols ...cost.Breakdown) string {
	var s strings.Builder
	fmt.Fprintf(&s, "%-28s", "")
	for _, n := range names {
		fmt.Fprintf(&s, " %14s", n)
	}
	s.WriteByte('\n')
	for i := range cols[0] {
		fmt.Fprintf(&s, "%-28s", cols[0][i].Item)
		for _, c := range cols {
			fmt.Fprintf(&s, " %14s", fmt.Sprintf("$%.3f", c[i].PerMillion))
		}
		s.WriteByte('\n')
	}
	fmt.Fprintf(&s, "%-28s", "total")
	for _, c := range cols {
		fmt.Fprintf(&s, " %14s", fmt.Sprintf("$%.3f", c.Total()))
	}
	return s.String()
}
