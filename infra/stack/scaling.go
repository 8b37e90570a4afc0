package stack

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/jsii-runtime-go"

	"github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/schema"
)

// Scaling is the capacity settings of issue 23's capacity model
// (shared/testkit/capacity, `go run ./functions/capacity`): what lets the stack take a
// nightly batch, and the alarms that fire before a limit does.
type Scaling struct {
	// WorkerMaxConcurrencyByDomain overrides WorkerMaxConcurrency for some
	// domains, as "holdings=40,reports=20" (validated at load; a string, so
	// that Config stays comparable): a broker's nightly batch lands on
	// holdings (POSITION, CASH_BALANCE) and reports (ACCOUNT_VALUATION), whose
	// five workers apply about 1,300 events/s while one subscription feeds
	// about 12,000.
	WorkerMaxConcurrencyByDomain string
	// WarmWriteUnits is every on-demand table's (and index's) warm
	// throughput, in writes/s; 0 leaves DynamoDB's start of 4,000. A new
	// deployment that takes a backfill or a nightly batch on its first night
	// asks for what the capacity model gives it: ingest writes one unit per
	// event fed (about 12,000/s per subscription).
	WarmWriteUnits int
	// NearLimitPercent is the share of a concurrency limit at which the
	// near-limit alarms fire: the feed slows before anything is refused.
	NearLimitPercent int
}

// DynamoDB's bounds for a table's warm write throughput on demand: its start,
// and the default per-table quota.
const (
	minWarmWriteUnits = 4000
	maxWarmWriteUnits = maxTableCapacity
)

func loadScaling(r *reader) Scaling {
	s := Scaling{
		WarmWriteUnits:   r.integer("warmWriteUnitsPerSecond", 0, 0, maxWarmWriteUnits),
		NearLimitPercent: r.integer("nearLimitAlarmPercent", 80, 50, 100),
	}
	if s.WarmWriteUnits != 0 && s.WarmWriteUnits < minWarmWriteUnits {
		r.fail("warmWriteUnitsPerSecond: %d is below DynamoDB's start of %d (0 for none)", s.WarmWriteUnits, minWarmWriteUnits)
	}
	s.WorkerMaxConcurrencyByDomain = r.str("workerMaxConcurrencyByDomain", "")
	if _, err := parseDomainConcurrency(s.WorkerMaxConcurrencyByDomain); err != nil {
		r.fail("workerMaxConcurrencyByDomain: %v", err)
	}
	return s
}

// parseDomainConcurrency reads "holdings=50,reports=20".
func parseDomainConcurrency(v string) (map[events.Domain]int, error) {
	out := map[events.Domain]int{}
	if strings.TrimSpace(v) == "" {
		return out, nil
	}
	for _, pair := range strings.Split(v, ",") {
		name, n, ok := strings.Cut(strings.TrimSpace(pair), "=")
		d, known := events.ParseDomain(strings.TrimSpace(name))
		if !ok || !known {
			return nil, fmt.Errorf("%q is not domain=n with a domain of the routing table (%s)", pair, domainNames())
		}
		c, err := strconv.Atoi(strings.TrimSpace(n))
		if err != nil || c < 2 || c > 1000 {
			return nil, fmt.Errorf("%q: the maximum must be 2 to 1000 (SQS mappings need ≥ 2)", pair)
		}
		if _, dup := out[d]; dup {
			return nil, fmt.Errorf("%s given twice", d)
		}
		out[d] = c
	}
	return out, nil
}

func domainNames() string {
	var names []string
	for _, d := range events.Domains() {
		names = append(names, string(d))
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// WorkerMaxConcurrencyFor is domain d's worker maximum concurrency.
func (c Config) WorkerMaxConcurrencyFor(d events.Domain) int {
	byDomain, _ := parseDomainConcurrency(c.Scaling.WorkerMaxConcurrencyByDomain) // validated at load
	if n, ok := byDomain[d]; ok {
		return n
	}
	return c.WorkerMaxConcurrency
}

// warmThroughput is a table's or index's warm throughput (TableCapacity
// carries Scaling's WarmWriteUnits to the tables), nil for DynamoDB's start.
func (c TableCapacity) warmThroughput() *awsdynamodb.WarmThroughput {
	if c.WarmWriteUnits == 0 {
		return nil
	}
	return &awsdynamodb.WarmThroughput{WriteUnitsPerSecond: jsii.Number(float64(c.WarmWriteUnits))}
}

// capacityAlarms fire before a limit binds: ingest's concurrency near its
// reservation (the next request would be throttled, a 429 that holds the
// feed), a domain's workers at their maximum (its queue then only grows: the
// queue-age alarm follows), and throttled DynamoDB writes on any table, on
// demand too (a burst above a new table's start, or a hot partition).
func capacityAlarms(cfg Config, p MonitoringProps, alarm func(group string, id, description string, metric awscloudwatch.IMetric, threshold float64)) {
	near := float64(cfg.Scaling.NearLimitPercent) / 100
	peak := &awscloudwatch.MetricOptions{Statistic: jsii.String("Maximum"), Period: fiveMinutes}
	if cfg.IngestReservedConcurrency > 0 {
		alarm("feed", "IngestConcurrencyNearReserved", fmt.Sprintf("ingest ran %d or more at once, %d %% of its reserved %d: the next burst is throttled (429) and holds the feed; "+
			"raise ingestReservedConcurrency", int(near*float64(cfg.IngestReservedConcurrency)+0.999), cfg.Scaling.NearLimitPercent, cfg.IngestReservedConcurrency),
			p.Ingest.Function.Function.Metric(jsii.String("ConcurrentExecutions"), peak), near*float64(cfg.IngestReservedConcurrency))
	}
	// One alarm per maximum (domains share it unless overridden), over every
	// domain with it: MAX of their concurrency, in groups CloudWatch allows.
	byLimit := map[int][]awscloudwatch.IMetric{}
	var limits []int
	for _, pl := range p.Pipelines {
		limit := cfg.WorkerMaxConcurrencyFor(pl.Domain)
		if _, seen := byLimit[limit]; !seen {
			limits = append(limits, limit)
		}
		byLimit[limit] = append(byLimit[limit], pl.Worker.Function.Metric(jsii.String("ConcurrentExecutions"), peak))
	}
	sort.Ints(limits)
	for _, limit := range limits {
		for i, group := range groupsOf(byLimit[limit], maxAlarmMetrics) {
			id := fmt.Sprintf("WorkersNearMax%d", limit)
			if i > 0 {
				id = fmt.Sprintf("%sGroup%d", id, i+1)
			}
			alarm("pipeline", id, fmt.Sprintf("a domain's workers ran at %d %% of their maximum concurrency %d: its queue grows faster than "+
				"they apply (queue age follows); raise workerMaxConcurrencyByDomain for it (the dashboard shows which), see README Capacity",
				cfg.Scaling.NearLimitPercent, limit), across("MAX", group), near*float64(limit))
		}
	}
	if cfg.Capacity.Provisioned() {
		return // monitoring.go's WriteThrottles alarm watches every table and index
	}
	sum := &awscloudwatch.MetricOptions{Statistic: jsii.String("Sum"), Period: fiveMinutes}
	throttles := writeThrottleMetrics(p.Ledger, schema.LedgerTable, sum)
	for _, pl := range p.Pipelines {
		throttles = append(throttles, writeThrottleMetrics(pl.StateTable, schema.StateTable, sum)...)
	}
	for i, group := range groupsOf(throttles, maxAlarmMetrics) {
		id := "OnDemandWriteThrottles"
		if i > 0 {
			id = fmt.Sprintf("%s%d", id, i+1)
		}
		alarm("pipeline", id, "DynamoDB throttled writes to an on-demand table or index: a burst above its start (4,000 writes/s) or twice "+
			"its past peak, or a hot partition; ingest answers 5xx once its retries run out, workers retry and then dead-letter. "+
			"Set warmWriteUnitsPerSecond before a backfill or a nightly batch, see README Capacity",
			across("SUM", group), 1)
	}
}
