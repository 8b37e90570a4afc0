// Package cost models what the pipeline costs on AWS: list prices, the billed
// units one event uses (counted by the benchmarks with shared/testkit/awscount),
// and Lambda durations modelled from AWS call latencies. The benchmarks of
// `make bench` (shared/testkit/perf), the capacity model and the ops tool's
// replay plan price with it.
package cost

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// Prices are AWS list prices in USD, on-demand, after free tiers.
type Prices struct {
	Region          string
	DynamoDBWRU     float64 // per write request unit (on-demand, standard table class)
	DynamoDBRRU     float64 // per read request unit
	DynamoDBWCUHour float64 // per provisioned write capacity unit-hour
	DynamoDBRCUHour float64 // per provisioned read capacity unit-hour
	SQSRequest      float64 // per standard-queue request (each 64 KB of payload is one)
	LambdaRequest   float64 // per invocation
	LambdaGBSecond  float64 // per GB-second on arm64
	HTTPAPIRequest  float64 // per API Gateway HTTP API request (first 300 million a month)
	LogsIngestionGB float64 // per GB of CloudWatch Logs ingested (standard class)
}

// USEast1 is the price list of us-east-1 as of 2025 (DynamoDB after the
// November 2024 on-demand price cut).
var USEast1 = Prices{
	Region:          "us-east-1",
	DynamoDBWRU:     0.625 / 1e6,
	DynamoDBRRU:     0.125 / 1e6,
	DynamoDBWCUHour: 0.00065,
	DynamoDBRCUHour: 0.00013,
	SQSRequest:      0.40 / 1e6,
	LambdaRequest:   0.20 / 1e6,
	LambdaGBSecond:  0.0000133334,
	HTTPAPIRequest:  1.00 / 1e6,
	LogsIngestionGB: 0.50,
}

// Provisioned prices DynamoDB as provisioned capacity kept at the given
// utilisation (0.7: auto scaling's usual target) instead of on demand: a
// capacity unit does one write (or read) a second, 3,600 an hour, of which
// utilisation is used. The idle floor of the minimum capacities is a fixed
// monthly cost, not a cost per event, and is left out.
func (p Prices) Provisioned(utilization float64) Prices {
	p.Region = fmt.Sprintf("%s, provisioned at %.0f %% utilisation", p.Region, utilization*100)
	p.DynamoDBWRU = p.DynamoDBWCUHour / (3600 * utilization)
	p.DynamoDBRRU = p.DynamoDBRCUHour / (3600 * utilization)
	return p
}

// LambdaPlatformLogBytes is what Lambda itself logs per invocation at the
// stack's system log level (INFO, JSON format): platform.start and
// platform.report, tracing fields included; rounded up. The log bytes a
// handler writes are counted; these are added per invocation.
const LambdaPlatformLogBytes = 600

// Usage is what one event costs in billed units, measured per event.
type Usage struct {
	HTTPRequests      float64
	LambdaInvocations float64
	LambdaGBSeconds   float64
	SQSRequests       float64
	WriteUnits        float64 // DynamoDB, indexes included
	ReadUnits         float64
	LogBytes          float64
}

// Line is one row of a cost breakdown.
type Line struct {
	Item       string
	PerMillion float64 // USD per million events
}

// Breakdown is the modelled cost per million events, item by item.
type Breakdown []Line

// Total sums the lines.
func (b Breakdown) Total() float64 {
	t := 0.0
	for _, l := range b {
		t += l.PerMillion
	}
	return t
}

// Largest is the line that costs most.
func (b Breakdown) Largest() Line {
	var top Line
	for _, l := range b {
		if l.PerMillion > top.PerMillion {
			top = l
		}
	}
	return top
}

func (b Breakdown) String() string {
	var s strings.Builder
	for _, l := range b {
		fmt.Fprintf(&s, "%-28s $%.3f\n", l.Item, l.PerMillion)
	}
	fmt.Fprintf(&s, "%-28s $%.3f", "total per million events", b.Total())
	return s.String()
}

// PerMillion prices a million events of the given usage.
func (p Prices) PerMillion(u Usage) Breakdown {
	const million = 1e6
	return Breakdown{
		{"API Gateway HTTP API", u.HTTPRequests * p.HTTPAPIRequest * million},
		{"Lambda requests", u.LambdaInvocations * p.LambdaRequest * million},
		{"Lambda duration (arm64)", u.LambdaGBSeconds * p.LambdaGBSecond * million},
		{"SQS requests", u.SQSRequests * p.SQSRequest * million},
		{"DynamoDB writes", u.WriteUnits * p.DynamoDBWRU * million},
		{"DynamoDB reads", u.ReadUnits * p.DynamoDBRRU * million},
		{"CloudWatch Logs ingestion", u.LogBytes / 1e9 * p.LogsIngestionGB * million},
	}
}

// Add sums two usages (ingest's and the workers', say).
func (u Usage) Add(o Usage) Usage {
	return Usage{
		HTTPRequests: u.HTTPRequests + o.HTTPRequests, LambdaInvocations: u.LambdaInvocations + o.LambdaInvocations,
		LambdaGBSeconds: u.LambdaGBSeconds + o.LambdaGBSeconds, SQSRequests: u.SQSRequests + o.SQSRequests,
		WriteUnits: u.WriteUnits + o.WriteUnits, ReadUnits: u.ReadUnits + o.ReadUnits, LogBytes: u.LogBytes + o.LogBytes,
	}
}

// LatencyModel turns counted work into Lambda duration on AWS, where calls
// take milliseconds; local durations measure the emulators and a loaded
// machine instead, and only bound the figure from above.
type LatencyModel struct {
	DynamoDBCall time.Duration // one DynamoDB call, p50 in-region
	SQSCall      time.Duration // one SQS call
}

// AWSLatency is a cautious in-region figure (DynamoDB's single-digit
// milliseconds, SQS's tens).
var AWSLatency = LatencyModel{DynamoDBCall: 8 * time.Millisecond, SQSCall: 20 * time.Millisecond}

// Invocation is the duration of one invocation that spends cpu, then makes
// dynamoRounds rounds of concurrent DynamoDB calls and sqsRounds of SQS calls.
func (m LatencyModel) Invocation(cpu time.Duration, dynamoRounds, sqsRounds float64) time.Duration {
	return cpu + time.Duration(dynamoRounds*float64(m.DynamoDBCall)+sqsRounds*float64(m.SQSCall))
}

// Rounds is how many rounds calls take, concurrency at a time.
func Rounds(calls float64, concurrency int) float64 {
	return math.Ceil(calls / float64(concurrency))
}
