package cost

import (
	"math"
	"testing"
	"time"
)

func TestPerMillionPricesEachUnit(t *testing.T) {
	// Ten events per request, as the README's example row: one HTTP request and
	// one ingest invocation per ten events, three write units per event.
	u := Usage{HTTPRequests: 0.1, LambdaInvocations: 0.2, LambdaGBSeconds: 0.001, SQSRequests: 0.3, WriteUnits: 3, ReadUnits: 1, LogBytes: 200}
	b := USEast1.PerMillion(u)
	want := map[string]float64{
		"API Gateway HTTP API":      0.1,
		"Lambda requests":           0.04,
		"Lambda duration (arm64)":   0.0133334,
		"SQS requests":              0.12,
		"DynamoDB writes":           1.875,
		"DynamoDB reads":            0.125,
		"CloudWatch Logs ingestion": 0.1,
	}
	total := 0.0
	for _, l := range b {
		if math.Abs(l.PerMillion-want[l.Item]) > 1e-9 {
			t.Errorf("%s: $%.6f, want $%.6f", l.Item, l.PerMillion, want[l.Item])
		}
		total += want[l.Item]
	}
	if math.Abs(b.Total()-total) > 1e-9 || b.Largest().Item != "DynamoDB writes" {
		t.Errorf("total %.4f (want %.4f), largest %q", b.Total(), total, b.Largest().Item)
	}
}

func TestProvisionedPricesCapacityAtItsUtilisation(t *testing.T) {
	p := USEast1.Provisioned(0.7)
	// $0.00065 an hour for 3,600 writes, 70 % of them used: $0.258 per million.
	if got := p.DynamoDBWRU * 1e6; math.Abs(got-0.00065/(3600*0.7)*1e6) > 1e-12 || math.Abs(got-0.2579) > 1e-4 {
		t.Errorf("provisioned write: $%.4f per million", got)
	}
	if got := p.DynamoDBRRU * 1e6; math.Abs(got-0.0516) > 1e-4 {
		t.Errorf("provisioned read: $%.4f per million", got)
	}
	// Everything but DynamoDB is priced as on demand.
	u := Usage{HTTPRequests: 0.1, SQSRequests: 0.3, WriteUnits: 3}
	on, prov := USEast1.PerMillion(u), p.PerMillion(u)
	for i := range on {
		if (on[i].Item == "DynamoDB writes") == (on[i].PerMillion == prov[i].PerMillion) {
			t.Errorf("%s: on demand $%.3f, provisioned $%.3f", on[i].Item, on[i].PerMillion, prov[i].PerMillion)
		}
	}
	if USEast1.DynamoDBWRU != 0.625/1e6 || p.Region == USEast1.Region {
		t.Errorf("Provisioned changed the on-demand prices or kept the name: %+v", p)
	}
}

func TestUsageAdd(t *testing.T) {
	sum := Usage{WriteUnits: 1, SQSRequests: 0.1}.Add(Usage{WriteUnits: 2, LogBytes: 5})
	if sum != (Usage{WriteUnits: 3, SQSRequests: 0.1, LogBytes: 5}) {
		t.Errorf("sum = %+v", sum)
	}
}

func TestLatencyModel(t *testing.T) {
	m := LatencyModel{DynamoDBCall: 8 * time.Millisecond, SQSCall: 20 * time.Millisecond}
	// A 10-event request: 4 ms of CPU, ten puts 16 at a time, six sends.
	got := m.Invocation(4*time.Millisecond, Rounds(10, 16), Rounds(6, 16))
	if got != 32*time.Millisecond {
		t.Errorf("Invocation = %v, want 32ms", got)
	}
	if Rounds(17, 16) != 2 || Rounds(0, 8) != 0 {
		t.Errorf("Rounds(17,16) = %v, Rounds(0,8) = %v", Rounds(17, 16), Rounds(0, 8))
	}
}
