package perf

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// Distribution is a call's latency on AWS: log-normal with the given median
// and 99th percentile, which fits DynamoDB's and SQS's published and observed
// in-region figures (a tight body, a long right tail).
type Distribution struct {
	P50, P99 time.Duration
}

// In-region latencies the latency-modelled benchmarks draw from.
var (
	DynamoDBLatency = Distribution{P50: 4 * time.Millisecond, P99: 15 * time.Millisecond}
	SQSLatency      = Distribution{P50: 8 * time.Millisecond, P99: 25 * time.Millisecond}
)

// z99 is the standard normal's 99th percentile.
const z99 = 2.3263478740408408

// sigma is the log-normal's shape parameter.
func (d Distribution) sigma() float64 { return math.Log(float64(d.P99)/float64(d.P50)) / z99 }

// Mean is the distribution's mean: exp(μ + σ²/2).
func (d Distribution) Mean() time.Duration {
	s := d.sigma()
	return time.Duration(float64(d.P50) * math.Exp(s*s/2))
}

// Quantile is the latency below which the share q of calls answer.
func (d Distribution) Quantile(q float64) time.Duration {
	return time.Duration(float64(d.P50) * math.Exp(d.sigma()*math.Sqrt2*math.Erfinv(2*q-1)))
}

// Sampler draws latencies from a distribution with a seeded generator, so
// that two runs (and the handler and its floor) draw the same sequence.
type Sampler struct {
	mu   sync.Mutex
	rng  *rand.Rand
	dist Distribution
}

// NewSampler returns a sampler seeded with seed.
func NewSampler(dist Distribution, seed uint64) *Sampler {
	return &Sampler{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), dist: dist}
}

// Next draws one latency.
func (s *Sampler) Next() time.Duration {
	s.mu.Lock()
	z := s.rng.NormFloat64()
	s.mu.Unlock()
	return time.Duration(float64(s.dist.P50) * math.Exp(s.dist.sigma()*z))
}

// Sleep sleeps d or until ctx ends: a modelled call's latency, and the floor's.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// AWS limits the modelled ports enforce, as the services do.
const (
	DynamoDBMaxItemBytes      = 400 * 1024 // one item, names and values
	DynamoDBMaxBatchWrite     = 25         // items per BatchWriteItem
	DynamoDBMaxBatchGet       = 100        // keys per BatchGetItem
	SQSMaxBatchEntries        = 10         // entries per SendMessageBatch
	SQSMaxBatchBytes          = 256 * 1024 // payload of one SendMessageBatch, attributes included
	DynamoDBMaxTransactItems  = 100        // items per TransactWriteItems
	dynamoDBAttributeOverhead = 1          // bytes DynamoDB adds per attribute name (rounded)
)

// ModelledDynamoDB answers DynamoDB calls after a modelled latency, with
// DynamoDB's size and batch limits; every conditional put succeeds (every
// event is new, the dearest case). It stores nothing.
type ModelledDynamoDB struct {
	Latency *Sampler
	CPU     *CPUModel // nil: calls charge no CPU
	calls   countingCalls
}

// Calls is how many calls the port answered.
func (m *ModelledDynamoDB) Calls() int64 { return m.calls.load() }

// PutItem checks the item's size and answers after a modelled latency.
func (m *ModelledDynamoDB) PutItem(ctx context.Context, in *dynamodb.PutItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	if size := itemSize(in.Item); size > DynamoDBMaxItemBytes {
		return nil, fmt.Errorf("modelled DynamoDB: item of %d bytes exceeds %d", size, DynamoDBMaxItemBytes)
	}
	m.calls.add()
	return &dynamodb.PutItemOutput{}, Sleep(ctx, m.CPU.Charge()+m.Latency.Next())
}

// UpdateItem answers after a modelled latency.
func (m *ModelledDynamoDB) UpdateItem(ctx context.Context, _ *dynamodb.UpdateItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	m.calls.add()
	return &dynamodb.UpdateItemOutput{}, Sleep(ctx, m.CPU.Charge()+m.Latency.Next())
}

// GetItem answers "no item" after a modelled latency.
func (m *ModelledDynamoDB) GetItem(ctx context.Context, _ *dynamodb.GetItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	m.calls.add()
	return &dynamodb.GetItemOutput{}, Sleep(ctx, m.CPU.Charge()+m.Latency.Next())
}

// Query answers an empty page after a modelled latency.
func (m *ModelledDynamoDB) Query(ctx context.Context, _ *dynamodb.QueryInput, _ ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	m.calls.add()
	return &dynamodb.QueryOutput{}, Sleep(ctx, m.CPU.Charge()+m.Latency.Next())
}

// Scan answers an empty page after a modelled latency.
func (m *ModelledDynamoDB) Scan(ctx context.Context, _ *dynamodb.ScanInput, _ ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error) {
	m.calls.add()
	return &dynamodb.ScanOutput{}, Sleep(ctx, m.CPU.Charge()+m.Latency.Next())
}

// BatchWriteItem enforces the 25-item limit and answers after a modelled latency.
func (m *ModelledDynamoDB) BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error) {
	n := 0
	for _, reqs := range in.RequestItems {
		n += len(reqs)
	}
	if n > DynamoDBMaxBatchWrite {
		return nil, fmt.Errorf("modelled DynamoDB: BatchWriteItem of %d items exceeds %d", n, DynamoDBMaxBatchWrite)
	}
	m.calls.add()
	return &dynamodb.BatchWriteItemOutput{}, Sleep(ctx, m.CPU.Charge()+m.Latency.Next())
}

// BatchGetItem enforces the 100-key limit and answers after a modelled latency.
func (m *ModelledDynamoDB) BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	n := 0
	for _, keys := range in.RequestItems {
		n += len(keys.Keys)
	}
	if n > DynamoDBMaxBatchGet {
		return nil, fmt.Errorf("modelled DynamoDB: BatchGetItem of %d keys exceeds %d", n, DynamoDBMaxBatchGet)
	}
	m.calls.add()
	return &dynamodb.BatchGetItemOutput{}, Sleep(ctx, m.CPU.Charge()+m.Latency.Next())
}

// ModelledSQS answers SendMessageBatch after a modelled latency, with SQS's
// limits of ten entries and 256 KiB per call; every entry succeeds.
type ModelledSQS struct {
	Latency *Sampler
	CPU     *CPUModel // nil: calls charge no CPU
	calls   countingCalls
}

// Calls is how many calls the port answered.
func (m *ModelledSQS) Calls() int64 { return m.calls.load() }

// SendMessageBatch checks SQS's limits and answers after a modelled latency.
func (m *ModelledSQS) SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, _ ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error) {
	if len(in.Entries) == 0 || len(in.Entries) > SQSMaxBatchEntries {
		return nil, fmt.Errorf("modelled SQS: %d entries in one batch (1 to %d allowed)", len(in.Entries), SQSMaxBatchEntries)
	}
	size := 0
	out := &sqs.SendMessageBatchOutput{}
	for _, e := range in.Entries {
		size += len(aws.ToString(e.MessageBody))
		for name, v := range e.MessageAttributes {
			size += len(name) + len(aws.ToString(v.DataType)) + len(aws.ToString(v.StringValue)) + len(v.BinaryValue)
		}
		out.Successful = append(out.Successful, types.SendMessageBatchResultEntry{Id: e.Id, MessageId: e.Id})
	}
	if size > SQSMaxBatchBytes {
		return nil, fmt.Errorf("modelled SQS: batch of %d bytes exceeds %d", size, SQSMaxBatchBytes)
	}
	m.calls.add()
	return out, Sleep(ctx, m.CPU.Charge()+m.Latency.Next())
}

type countingCalls struct {
	mu sync.Mutex
	n  int64
}

func (c *countingCalls) add() { c.mu.Lock(); c.n++; c.mu.Unlock() }
func (c *countingCalls) load() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// CPUModel charges the CPU a program uses to a modelled processor with a
// share of one core, on the clock the modelled calls sleep by. It is meant for
// a testing/synctest bubble, whose clock stands still while goroutines
// compute: every modelled call first charges the process CPU used since the
// previous call (one Go processor, GOMAXPROCS=1, so that CPU is the serial
// work between the calls), and is issued only once the modelled processor
// has done that work. A run's modelled duration is so its calls' latencies
// on the real handler's call pattern plus the CPU it cannot hide behind
// them, whatever else runs on the machine: CPU time is measured, not wall time.
type CPUModel struct {
	share    float64
	overhead time.Duration // the CPU one charge itself uses, not the program's

	mu        sync.Mutex
	last      time.Duration
	busyUntil time.Time
}

// NewCPUModel returns a model of a processor with share of one core (Lambda:
// LambdaVCPUs), starting now.
func NewCPUModel(share float64) *CPUModel {
	m := &CPUModel{share: share, overhead: chargeOverhead()}
	m.last, _ = ProcessCPU()
	m.busyUntil = time.Now()
	return m
}

// chargeOverhead is the CPU time one ProcessCPU call takes.
func chargeOverhead() time.Duration {
	const n = 200
	before, _ := ProcessCPU()
	for range n {
		ProcessCPU()
	}
	after, _ := ProcessCPU()
	return (after - before) / n
}

// Charge charges the CPU used since the last charge and returns how long from
// now the modelled processor is busy with it.
func (m *CPUModel) Charge() time.Duration {
	if m == nil {
		return 0
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	cpu, _ := ProcessCPU()
	used := max(0, cpu-m.last-m.overhead)
	m.last = cpu
	now := time.Now()
	start := m.busyUntil
	if now.After(start) {
		start = now // the processor was idle, waiting on calls
	}
	m.busyUntil = start.Add(time.Duration(float64(used) / m.share))
	return m.busyUntil.Sub(now)
}

// Done charges the CPU used since the last call and returns when the
// modelled processor finishes it: the end of the modelled run.
func (m *CPUModel) Done() time.Time {
	m.Charge()
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.busyUntil
}

// LambdaVCPUs is the CPU share Lambda gives a function of memoryMB: one full
// vCPU at 1,769 MB, proportionally below and above (up to six at 10,240 MB).
func LambdaVCPUs(memoryMB int) float64 { return float64(memoryMB) / 1769 }

// itemSize is DynamoDB's item size, closely enough for the limit: names and
// the bytes of string, binary and number values.
func itemSize(item map[string]ddbtypes.AttributeValue) int {
	n := 0
	for name, v := range item {
		n += len(name) + dynamoDBAttributeOverhead + attributeSize(v)
	}
	return n
}

func attributeSize(v ddbtypes.AttributeValue) int {
	switch v := v.(type) {
	case *ddbtypes.AttributeValueMemberS:
		return len(v.Value)
	case *ddbtypes.AttributeValueMemberN:
		return len(v.Value)
	case *ddbtypes.AttributeValueMemberB:
		return len(v.Value)
	case *ddbtypes.AttributeValueMemberM:
		return itemSize(v.Value) + 3
	case *ddbtypes.AttributeValueMemberL:
		n := 3
		for _, e := range v.Value {
			n += attributeSize(e) + 1
		}
		return n
	case *ddbtypes.AttributeValueMemberSS:
		n := 0
		for _, e := range v.Value {
			n += len(e)
		}
		return n
	default:
		return 1
	}
}
