// Package capacity models how the stack behaves from 100 to 50,000 events/s:
// what each part needs, which AWS limit or stack setting binds first, and
// what moves it. It uses the per-request and per-event costs the
// latency-modelled benchmark measures (shared/testkit/perf BenchmarkLatencyModelledIngest),
// the per-event call counts the pipeline benchmark counts, and the stack's
// settings (infra/stack, whose tests pin Defaults to the stack's defaults).
package capacity

import (
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/cost"
	"github.com/upvest-webhooks/upvest-webhooks/shared/testkit/perf"
)

// Settings are the stack's settings and the account's quotas the model reads.
type Settings struct {
	Subscriptions int // Upvest subscriptions (lanes) feeding the stack, each serially

	IngestMemoryMB            int
	IngestReservedConcurrency int // 0: none (ingest draws on the account's unreserved pool)
	StageThrottleRate         int // API Gateway stage rate limit, requests/s

	WorkerMemoryMB       int
	WorkerBatchSize      int
	WorkerMaxConcurrency int // per domain, the SQS event source mapping's maximum
	// HotDomainMaxConcurrency overrides WorkerMaxConcurrency for the hot
	// domain (the stack's per-domain workerMaxConcurrency setting); 0: none.
	HotDomainMaxConcurrency int

	// WarmWriteUnits is the on-demand tables' warm throughput (writes/s) a
	// deployment asks for; 0 leaves a new table at DynamoDB's start.
	WarmWriteUnits int

	// Account quotas (defaults of a new AWS account, per region).
	AccountConcurrency   int // Lambda concurrent executions
	APIGatewayAccountRPS int // HTTP API requests/s across the account
}

// Defaults are the stack's defaults on a new account with one subscription.
var Defaults = Settings{
	Subscriptions:             1,
	IngestMemoryMB:            3538,
	IngestReservedConcurrency: 0, // the stack reserves none by default (a new account's quota may be 10)
	StageThrottleRate:         1000,
	WorkerMemoryMB:            256,
	WorkerBatchSize:           10,
	WorkerMaxConcurrency:      5,
	AccountConcurrency:        1000,
	APIGatewayAccountRPS:      10000,
}

// Costs are the measured and counted costs the model scales.
type Costs struct {
	// Ingest's time to answer a package of n events is IngestFixed +
	// n × IngestPerEvent: the latency-modelled benchmark's 10 KiB and 1 MiB
	// rows at the stack's memory.
	IngestFixed    time.Duration
	IngestPerEvent time.Duration
	// EventsPerPackage is how many events Upvest's 1 MiB fits (the samples' mix).
	EventsPerPackage int

	// Per event, counted by the pipeline benchmark (README "Counts per event").
	WorkerDynamoCallsPerEvent float64 // sequential within an event, concurrent across a batch
	LedgerWritesPerEvent      float64 // ingest's put and the worker's outcome update
	StateWritesPerEvent       float64 // the state table's writes, index entries included
	LogBytesPerEvent          float64

	// Worker time per batch beside its calls: the event source mapping's
	// invocation and the handler's CPU at the worker's share of a core.
	WorkerInvokeOverhead time.Duration
	WorkerCPUPerEvent    time.Duration // at one full vCPU

	// DynamoDB: an on-demand table's start, and one partition's ceiling.
	NewTableWriteUnits  int
	PartitionWriteUnits int

	DynamoDB perf.Distribution
}

// Measured are the costs measured on this project (see the README's
// Capacity section for the runs).
var Measured = Costs{
	IngestFixed:               25 * time.Millisecond,
	IngestPerEvent:            65 * time.Microsecond,
	EventsPerPackage:          1419,
	WorkerDynamoCallsPerEvent: 2.07,
	LedgerWritesPerEvent:      2.00,
	StateWritesPerEvent:       2.59,
	LogBytesPerEvent:          490,
	WorkerInvokeOverhead:      10 * time.Millisecond,
	WorkerCPUPerEvent:         150 * time.Microsecond,
	NewTableWriteUnits:        4000,
	PartitionWriteUnits:       1000,
	DynamoDB:                  perf.DynamoDBLatency,
}

// Mix is how a rate divides over the domains: the share of the busiest one.
type Mix struct {
	Name      string
	HotDomain string
	HotShare  float64
	Domains   int // domains that receive events
}

// NightlyMix is a broker's nightly batch: POSITION and CASH_BALANCE events
// (holdings) and ACCOUNT_VALUATION (reports), one of each per account.
var NightlyMix = Mix{Name: "nightly batch", HotDomain: "holdings", HotShare: 2.0 / 3, Domains: 2}

// Row is the model at one rate.
type Row struct {
	Rate float64 // events/s offered

	EventsPerRequest    float64
	IngestTime          time.Duration // time to answer one request
	PerSubscriptionMax  float64       // events/s one subscription can feed
	SubscriptionsNeeded int
	IngestInvocations   float64 // per second
	IngestConcurrency   float64
	APIRequests         float64 // per second

	WorkerBatchTime      time.Duration
	HotDomainConcurrency float64 // needed in the hot domain
	HotDomainMax         int
	HotDomainCapacity    float64 // events/s its workers apply at their maximum
	WorkerInvocations    float64 // per second, all domains
	QueueLagGrowth       float64 // events/s the hot queue's backlog grows by (0: keeps up)
	LambdaConcurrency    float64 // ingest and workers, all domains

	LedgerWriteUnits   float64 // per second
	HotStateWriteUnits float64
	TableStartUnits    int // the on-demand table's start (or warm throughput)

	CostPerHour float64 // USD, on demand, us-east-1

	Limits []Limit // every limit, most used first
}

// Limit is one limit's use at a rate.
type Limit struct {
	Name  string
	Use   float64 // share of the limit used; ≥ 1 binds
	Moves string  // the setting or quota request that moves it
}

// Binding is the most used limit: the first to bind as the rate grows.
func (r Row) Binding() Limit { return r.Limits[0] }

// AlsoBinding are the other limits at or over their use.
func (r Row) AlsoBinding() []Limit {
	var out []Limit
	for _, l := range r.Limits[1:] {
		if l.Use >= 1 {
			out = append(out, l)
		}
	}
	return out
}

// IngestTime is the time to answer a package of n events.
func (c Costs) IngestTime(n float64) time.Duration {
	return c.IngestFixed + time.Duration(n*float64(c.IngestPerEvent))
}

// PerSubscriptionMax is the events/s one subscription feeds with full packages.
func (c Costs) PerSubscriptionMax() float64 {
	n := float64(c.EventsPerPackage)
	return n / c.IngestTime(n).Seconds()
}

// eventsPerRequest is the steady package size of one subscription offered
// rate events/s: Upvest sends what accumulated while the previous request
// was answered, n = rate × T(n), up to a full package.
func (c Costs) eventsPerRequest(rate float64) float64 {
	b := c.IngestPerEvent.Seconds()
	if rate*b >= 1 {
		return float64(c.EventsPerPackage)
	}
	n := rate * c.IngestFixed.Seconds() / (1 - rate*b)
	return math.Min(math.Max(n, 1), float64(c.EventsPerPackage))
}

// WorkerBatchTime is one worker invocation on a full batch: its events run
// concurrently, each making its DynamoDB calls one after another, so the
// batch waits for the slowest of its events at each step.
func (c Costs) WorkerBatchTime(batch, memoryMB int) time.Duration {
	slowest := c.DynamoDB.Quantile(float64(batch) / float64(batch+1))
	calls := time.Duration(c.WorkerDynamoCallsPerEvent * float64(slowest))
	cpu := time.Duration(float64(batch) * float64(c.WorkerCPUPerEvent) / perf.LambdaVCPUs(memoryMB))
	return c.WorkerInvokeOverhead + calls + cpu
}

// Model computes the row for one rate.
func Model(rate float64, s Settings, c Costs, mix Mix, prices cost.Prices) Row {
	r := Row{Rate: rate}
	subs := max(s.Subscriptions, 1)
	perSub := rate / float64(subs)
	r.PerSubscriptionMax = c.PerSubscriptionMax()
	r.SubscriptionsNeeded = int(math.Ceil(rate / r.PerSubscriptionMax))
	r.EventsPerRequest = c.eventsPerRequest(perSub)
	r.IngestTime = c.IngestTime(r.EventsPerRequest)
	fed := math.Min(perSub, r.PerSubscriptionMax) * float64(subs) // what the feeds deliver
	r.IngestInvocations = fed / r.EventsPerRequest
	r.IngestConcurrency = r.IngestInvocations * r.IngestTime.Seconds()
	r.APIRequests = r.IngestInvocations

	r.WorkerBatchTime = c.WorkerBatchTime(s.WorkerBatchSize, s.WorkerMemoryMB)
	perWorker := float64(s.WorkerBatchSize) / r.WorkerBatchTime.Seconds()
	hot := fed * mix.HotShare
	r.HotDomainMax = s.WorkerMaxConcurrency
	if s.HotDomainMaxConcurrency > 0 {
		r.HotDomainMax = s.HotDomainMaxConcurrency
	}
	r.HotDomainConcurrency = hot / perWorker
	r.HotDomainCapacity = float64(r.HotDomainMax) * perWorker
	r.QueueLagGrowth = math.Max(0, hot-float64(r.HotDomainMax)*perWorker)
	var workers float64
	coldShare := (1 - mix.HotShare) / float64(max(mix.Domains-1, 1))
	workers += math.Min(r.HotDomainConcurrency, float64(r.HotDomainMax))
	for range max(mix.Domains-1, 0) {
		workers += math.Min(fed*coldShare/perWorker, float64(s.WorkerMaxConcurrency))
	}
	r.WorkerInvocations = fed / float64(s.WorkerBatchSize)
	r.LambdaConcurrency = r.IngestConcurrency + workers

	// Ingest writes each event's record as it is fed; the worker's outcome
	// update follows as it is applied.
	applied := fed - r.QueueLagGrowth
	r.LedgerWriteUnits = fed + applied*(c.LedgerWritesPerEvent-1)
	r.HotStateWriteUnits = (hot - r.QueueLagGrowth) * c.StateWritesPerEvent
	r.TableStartUnits = max(c.NewTableWriteUnits, s.WarmWriteUnits)

	r.CostPerHour = costPerHour(fed, r, s, c, prices)

	ingestCap := s.AccountConcurrency - 100 // Lambda keeps 100 unreserved
	if s.IngestReservedConcurrency > 0 {
		ingestCap = s.IngestReservedConcurrency
	}
	r.Limits = []Limit{
		{"one subscription's serial feed", perSub / r.PerSubscriptionMax,
			"more subscriptions, split by category (lanes); ingest memory"},
		{fmt.Sprintf("worker concurrency of %s (workerMaxConcurrency %d)", mix.HotDomain, r.HotDomainMax),
			r.HotDomainConcurrency / float64(r.HotDomainMax),
			"workerMaxConcurrency (per domain: workerMaxConcurrencyByDomain), then workerBatchSize"},
		{fmt.Sprintf("ledger table's on-demand start (%d writes/s)", r.TableStartUnits),
			r.LedgerWriteUnits / float64(r.TableStartUnits), "warmWriteUnitsPerSecond, or a past peak"},
		{fmt.Sprintf("%s table's on-demand start (%d writes/s)", mix.HotDomain, r.TableStartUnits),
			r.HotStateWriteUnits / float64(r.TableStartUnits), "warmWriteUnitsPerSecond, or a past peak"},
		{fmt.Sprintf("API Gateway stage throttle (%d requests/s)", s.StageThrottleRate),
			r.APIRequests / float64(s.StageThrottleRate), "throttleRate"},
		{fmt.Sprintf("API Gateway account quota (%d requests/s)", s.APIGatewayAccountRPS),
			r.APIRequests / float64(s.APIGatewayAccountRPS), "Service Quotas: API Gateway throttle"},
		{fmt.Sprintf("ingest concurrency (%d)", ingestCap),
			r.IngestConcurrency / float64(ingestCap), "ingestReservedConcurrency"},
		{fmt.Sprintf("Lambda account concurrency (%d)", s.AccountConcurrency),
			r.LambdaConcurrency / float64(s.AccountConcurrency), "Service Quotas: Lambda concurrent executions"},
	}
	sort.SliceStable(r.Limits, func(i, j int) bool { return r.Limits[i].Use > r.Limits[j].Use })
	return r
}

// costPerHour prices an hour at rate fed events/s, on demand.
func costPerHour(fed float64, r Row, s Settings, c Costs, p cost.Prices) float64 {
	perSecond := 0.0
	perSecond += (fed*c.LedgerWritesPerEvent + fed*c.StateWritesPerEvent) * p.DynamoDBWRU  // every event's, applied now or later
	sqsRequests := r.IngestInvocations*2 /* domains per request */ + 3*r.WorkerInvocations // send; receive, delete, and an empty receive
	perSecond += sqsRequests * p.SQSRequest
	perSecond += (r.IngestInvocations + r.WorkerInvocations) * p.LambdaRequest
	gbSeconds := r.IngestInvocations*r.IngestTime.Seconds()*float64(s.IngestMemoryMB)/1024 +
		r.WorkerInvocations*r.WorkerBatchTime.Seconds()*float64(s.WorkerMemoryMB)/1024
	perSecond += gbSeconds * p.LambdaGBSecond
	perSecond += r.APIRequests * p.HTTPAPIRequest
	perSecond += fed * c.LogBytesPerEvent / 1e9 * p.LogsIngestionGB
	return perSecond * 3600
}

// Rates are the table's rates, events/s.
var Rates = []float64{100, 500, 1000, 2000, 5000, 10000, 20000, 50000}

// Batch is a nightly batch of events fed through the stack.
type Batch struct {
	Events        int
	Lanes         bool          // its categories have a subscription of their own
	FeedRate      float64       // events/s the subscription feeds
	FeedTime      time.Duration // until the last event is answered
	DrainRate     float64       // events/s the hot domain's workers apply
	LastEventLag  time.Duration // from the last event's arrival to its application
	OrderFillWait time.Duration // an ORDER.FILLED sent halfway through waits this long to be delivered
}

// NightlyBatch models n batch events delivered serially in full packages,
// with an ORDER.FILLED sent when half of them are delivered: on one
// subscription it waits behind the other half; on its own lane it waits for
// one small request.
func NightlyBatch(n int, lanes bool, s Settings, c Costs) Batch {
	b := Batch{Events: n, Lanes: lanes}
	b.FeedRate = c.PerSubscriptionMax()
	b.FeedTime = time.Duration(float64(n) / b.FeedRate * float64(time.Second))
	hotMax := s.WorkerMaxConcurrency
	if s.HotDomainMaxConcurrency > 0 {
		hotMax = s.HotDomainMaxConcurrency
	}
	b.DrainRate = float64(hotMax) * float64(s.WorkerBatchSize) / c.WorkerBatchTime(s.WorkerBatchSize, s.WorkerMemoryMB).Seconds()
	drain := float64(n) / math.Min(b.DrainRate, b.FeedRate)
	b.LastEventLag = time.Duration((drain-b.FeedTime.Seconds())*float64(time.Second)) + c.WorkerBatchTime(s.WorkerBatchSize, s.WorkerMemoryMB)
	if lanes {
		b.OrderFillWait = c.IngestTime(1)
	} else {
		b.OrderFillWait = b.FeedTime / 2
	}
	return b
}
