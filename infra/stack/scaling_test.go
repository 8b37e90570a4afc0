package stack

import (
	"strings"
	"testing"

	"github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/shared/testkit/capacity"
)

// The scaling fixture is the live one with issue 23's capacity settings.
const scalingFixture = "live-scaling"

func synthScaling(t *testing.T) *synthesized {
	t.Helper()
	fixture := map[string]any{"workerMaxConcurrencyByDomain": "holdings=40, reports=20", "warmWriteUnitsPerSecond": "24000"}
	for k, v := range fixtureContext[Live] {
		fixture[k] = v
	}
	return synthFixture(t, scalingFixture, Live, fixture)
}

// The capacity model reads the stack's defaults: they must not drift apart.
func TestCapacityModelUsesTheStackDefaults(t *testing.T) {
	c, err := Load(contextOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	d := capacity.Defaults
	if IngestMemoryMB != 3538 || d.IngestMemoryMB != IngestMemoryMB || d.WorkerMemoryMB != WorkerMemoryMB ||
		d.IngestReservedConcurrency != c.IngestReservedConcurrency || d.StageThrottleRate != c.ThrottleRate ||
		d.WorkerBatchSize != c.WorkerBatchSize || d.WorkerMaxConcurrency != c.WorkerMaxConcurrency ||
		d.WarmWriteUnits != c.Scaling.WarmWriteUnits || d.HotDomainMaxConcurrency != 0 {
		t.Errorf("capacity.Defaults %+v, stack: ingest %d MB, workers %d MB, %+v", d, IngestMemoryMB, WorkerMemoryMB, c)
	}
}

func TestScalingContextKeys(t *testing.T) {
	for _, bad := range []map[string]any{
		{"workerMaxConcurrencyByDomain": "holdings"},
		{"workerMaxConcurrencyByDomain": "nowhere=10"},
		{"workerMaxConcurrencyByDomain": "holdings=1"},
		{"workerMaxConcurrencyByDomain": "holdings=10,holdings=20"},
		{"warmWriteUnitsPerSecond": "1000"},
		{"warmWriteUnitsPerSecond": "50000"},
		{"nearLimitAlarmPercent": "30"},
	} {
		if _, err := Load(contextOf(bad)); err == nil {
			t.Errorf("%v loaded", bad)
		}
	}
	c, err := Load(contextOf(map[string]any{"workerMaxConcurrencyByDomain": "holdings=40,reports=20", "workerMaxConcurrency": "6"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.WorkerMaxConcurrencyFor(events.Holdings) != 40 || c.WorkerMaxConcurrencyFor(events.Reports) != 20 || c.WorkerMaxConcurrencyFor(events.Orders) != 6 {
		t.Errorf("per-domain maxima %d %d %d", c.WorkerMaxConcurrencyFor(events.Holdings), c.WorkerMaxConcurrencyFor(events.Reports), c.WorkerMaxConcurrencyFor(events.Orders))
	}
}

func TestWorkerMaxConcurrencyByDomain(t *testing.T) {
	for _, s := range []*synthesized{synth(t, Live), synthScaling(t)} {
		w := wire(t, s)
		for _, d := range events.Domains() {
			esm := s.tp.get(t, w.esm[d], "AWS::Lambda::EventSourceMapping").Properties
			want := 5.0
			if s == synthDone[scalingFixture] {
				want = map[events.Domain]float64{events.Holdings: 40, events.Reports: 20}[d]
				if want == 0 {
					want = 5
				}
			}
			if got := dig(esm, "ScalingConfig", "MaximumConcurrency"); got != want {
				t.Errorf("%s: %s maximum concurrency %v, want %v", s.cfg.StackName, d, got, want)
			}
		}
	}
}

func TestWarmThroughput(t *testing.T) {
	for _, s := range []*synthesized{synth(t, Live), synthScaling(t)} {
		want := any(nil)
		if s == synthDone[scalingFixture] {
			want = 24000.0
		}
		for id := range dataTables(t, s) {
			p := s.tp.Resources[id].Properties
			if got := dig(p, "WarmThroughput", "WriteUnitsPerSecond"); got != want {
				t.Errorf("table %s: warm writes %v, want %v", id, got, want)
			}
			for _, ix := range p["GlobalSecondaryIndexes"].([]any) {
				if got := dig(ix, "WarmThroughput", "WriteUnitsPerSecond"); got != want {
					t.Errorf("table %s index %v: warm writes %v, want %v", id, dig(ix, "IndexName"), got, want)
				}
			}
		}
	}
}

// alarmsDescribed are the alarms whose description contains the text.
func alarmsDescribed(t *testing.T, s *synthesized, prefix string) []watched {
	var out []watched
	for _, id := range s.tp.ofType("AWS::CloudWatch::Alarm") {
		p := s.tp.Resources[id].Properties
		if strings.Contains(render(p["AlarmDescription"]), prefix) {
			out = append(out, watchedBy(t, id, p))
		}
	}
	return out
}

func TestAlarmsBeforeLimits(t *testing.T) {
	s := synth(t, Live)
	w := wire(t, s)
	ingest := alarmsDescribed(t, s, "of its reserved")
	if len(ingest) != 1 || ingest[0].props["Threshold"] != 40.0 ||
		ingest[0].metrics["AWS/Lambda/ConcurrentExecutions[FunctionName=${"+w.ingest+"}]"] != "Maximum" {
		t.Errorf("ingest near its reserved 50: %+v", ingest)
	}
	for _, tc := range []struct {
		s     *synthesized
		want  map[float64]int // threshold: domains watched
		label string
	}{
		{s, map[float64]int{4: len(events.Domains())}, "defaults"},
		{synthScaling(t), map[float64]int{4: len(events.Domains()) - 2, 32: 1, 16: 1}, "holdings=40, reports=20"},
	} {
		got := map[float64]int{}
		tw := wire(t, tc.s)
		watchedWorkers := map[string]bool{}
		for _, a := range alarmsDescribed(t, tc.s, "maximum concurrency") {
			if !strings.HasPrefix(a.expression, "MAX(") || a.props["ComparisonOperator"] != "GreaterThanOrEqualToThreshold" {
				t.Errorf("%s: alarm %s: %q %v", tc.label, a.id, a.expression, a.props["ComparisonOperator"])
			}
			for key, stat := range a.metrics {
				if !strings.HasPrefix(key, "AWS/Lambda/ConcurrentExecutions[") || stat != "Maximum" {
					t.Errorf("%s: alarm %s watches %s by %s", tc.label, a.id, key, stat)
				}
				watchedWorkers[key] = true
			}
			got[a.props["Threshold"].(float64)] += len(a.metrics)
		}
		for _, d := range events.Domains() {
			if !watchedWorkers["AWS/Lambda/ConcurrentExecutions[FunctionName=${"+tw.worker[d]+"}]"] {
				t.Errorf("%s: %s workers not watched", tc.label, d)
			}
		}
		if len(got) != len(tc.want) {
			t.Errorf("%s: thresholds %v, want %v", tc.label, got, tc.want)
		}
		for th, n := range tc.want {
			if got[th] != n {
				t.Errorf("%s: %d workers at threshold %v, want %d (%v)", tc.label, got[th], th, n, got)
			}
		}
	}
	// On demand: every table's and index's write throttles, in SUM alarms.
	want := map[string]bool{}
	for id, def := range dataTables(t, s) {
		want["AWS/DynamoDB/WriteThrottleEvents[TableName=${"+id+"}]"] = true
		for _, ix := range def.Indexes {
			want["AWS/DynamoDB/WriteThrottleEvents[GlobalSecondaryIndexName="+ix.Name+",TableName=${"+id+"}]"] = true
		}
	}
	seen := 0
	for _, a := range alarmsDescribed(t, s, "throttled writes to an on-demand table") {
		if !strings.HasPrefix(a.expression, "SUM(") || a.props["Threshold"] != 1.0 {
			t.Errorf("alarm %s: %q threshold %v", a.id, a.expression, a.props["Threshold"])
		}
		for key := range a.metrics {
			if !want[key] {
				t.Errorf("alarm %s watches %s", a.id, key)
			}
			seen++
		}
	}
	if seen != len(want) {
		t.Errorf("on-demand throttle alarms watch %d metrics, want %d", seen, len(want))
	}
}
