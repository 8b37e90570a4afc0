package capacity

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/cost"
)

func TestOneSubscriptionFeedsFullPackagesAtItsMaximum(t *testing.T) {
	c := Measured
	// 1,419 events in 25 ms + 1,419 × 65 µs = 117.235 ms.
	if got, want := c.PerSubscriptionMax(), 1419/0.117235; math.Abs(got-want) > 1 {
		t.Errorf("PerSubscriptionMax = %.0f, want %.0f", got, want)
	}
	for _, rate := range []float64{100, 1000, 5000, 10000} {
		n := c.eventsPerRequest(rate)
		// Steady state: the package holds what arrived while the last was answered.
		if arrived := rate * c.IngestTime(n).Seconds(); math.Abs(arrived-n) > 0.01*n+1e-9 && n > 1 {
			t.Errorf("rate %v: %.1f events per request, but %.1f arrive per answer", rate, n, arrived)
		}
	}
	if n := c.eventsPerRequest(50000); n != float64(c.EventsPerPackage) {
		t.Errorf("over the maximum: %.0f events per request, want full packages", n)
	}
}

func TestFirstLimitToBindAndWhatMovesIt(t *testing.T) {
	at := func(rate float64, s Settings) Limit {
		return Model(rate, s, Measured, NightlyMix, cost.USEast1).Binding()
	}
	s := Defaults
	if l := at(2000, s); !strings.HasPrefix(l.Name, "worker concurrency of holdings") || l.Use < 1 {
		t.Errorf("defaults at 2,000/s: %+v, want the holdings workers binding", l)
	}
	if l := at(1000, s); l.Use >= 1 {
		t.Errorf("defaults at 1,000/s: %+v binds", l)
	}
	s.HotDomainMaxConcurrency = 40
	if l := at(1900, s); l.Use >= 1 {
		t.Errorf("holdings at 40, 1,900/s: %+v still binds", l)
	}
	// Ingest's put and the outcome update: 2 writes per event reach the
	// ledger's start of 4,000/s at 2,000 events/s.
	if l := at(2000, s); !strings.HasPrefix(l.Name, "ledger table's on-demand start") || math.Abs(l.Use-1) > 0.01 {
		t.Errorf("holdings at 40, 2,000/s: %+v, want the ledger at its start", l)
	}
	if l := at(5000, s); !strings.HasPrefix(l.Name, "ledger table's on-demand start") {
		t.Errorf("holdings at 40, 5,000/s: %+v, want the ledger's on-demand start", l)
	}
	s.WarmWriteUnits = 40000
	if l := at(50000, s); !strings.HasPrefix(l.Name, "one subscription's serial feed") || l.Use < 4 {
		t.Errorf("warm tables, 50,000/s: %+v, want the subscription at over 400 %%", l)
	}
	s.Subscriptions = 5
	if r := Model(50000, s, Measured, NightlyMix, cost.USEast1); r.Limits[len(r.Limits)-1].Use <= 0 || r.SubscriptionsNeeded != 5 {
		t.Errorf("five subscriptions at 50,000/s: %+v, %d needed", r.Limits, r.SubscriptionsNeeded)
	}
}

func TestModelScalesWithTheRate(t *testing.T) {
	var last Row
	for i, rate := range Rates {
		r := Model(rate, Defaults, Measured, NightlyMix, cost.USEast1)
		if r.CostPerHour <= 0 || r.IngestConcurrency <= 0 || r.IngestConcurrency > 1+1e-9 {
			t.Errorf("rate %v: cost %v, ingest concurrency %v (one serial subscription)", rate, r.CostPerHour, r.IngestConcurrency)
		}
		if i > 0 && (r.CostPerHour < last.CostPerHour || r.LedgerWriteUnits < last.LedgerWriteUnits || r.EventsPerRequest < last.EventsPerRequest) {
			t.Errorf("rate %v after %v: cost, ledger writes or package size fell", rate, last.Rate)
		}
		last = r
	}
	// 100 events/s: 1.63 $/h, of which DynamoDB's 4.59 write units per event are $1.03.
	r := Model(100, Defaults, Measured, NightlyMix, cost.USEast1)
	if dynamo := 100 * 3600 * 4.59 * cost.USEast1.DynamoDBWRU; r.CostPerHour < dynamo || r.CostPerHour > 2*dynamo {
		t.Errorf("100/s: $%.2f per hour, DynamoDB alone $%.2f", r.CostPerHour, dynamo)
	}
}

func TestNightlyBatch(t *testing.T) {
	one := NightlyBatch(2_000_000, false, Defaults, Measured)
	lanes := NightlyBatch(2_000_000, true, Defaults, Measured)
	if one.OrderFillWait != one.FeedTime/2 || lanes.OrderFillWait != Measured.IngestTime(1) {
		t.Errorf("order fill waits %v (one subscription), %v (lanes)", one.OrderFillWait, lanes.OrderFillWait)
	}
	// Five holdings workers apply about 1,300/s: the last of 2,000,000 waits over 20 minutes.
	if one.LastEventLag < 20*time.Minute {
		t.Errorf("last event lag %v at defaults", one.LastEventLag)
	}
	s := Defaults
	s.HotDomainMaxConcurrency = 40
	if b := NightlyBatch(2_000_000, true, s, Measured); b.LastEventLag > time.Minute || b.DrainRate < b.FeedRate*0.8 {
		t.Errorf("holdings at 40: lag %v, drain %.0f/s for a feed of %.0f/s", b.LastEventLag, b.DrainRate, b.FeedRate)
	}
}

func TestMarkdownHasEveryRateAndBatch(t *testing.T) {
	var rows []Row
	for _, rate := range Rates {
		rows = append(rows, Model(rate, Defaults, Measured, NightlyMix, cost.USEast1))
	}
	md := Markdown(Defaults, rows, []Batch{NightlyBatch(200_000, false, Defaults, Measured)})
	for _, want := range []string{"| 100 |", "| 50,000 |", "| 200,000 | one subscription |", "first limit to bind"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q", want)
		}
	}
}
