package streamtail

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"

	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/streams"
)

// fakeStreams is an in-memory Streams API for the tailer's shard logic and
// fault handling; the real API is exercised by the integration test.
type fakeStreams struct {
	mu      sync.Mutex
	shards  map[string][]*fakeShard // by stream ARN, in listing order
	seq     int
	faults  map[string]error // next GetRecords on this shard fails with this error
	iters   []string         // GetShardIterator calls: "<shard> <type> [<seq>]"
	pageLen int              // shards per DescribeStream page
	reads   int              // GetRecords calls
}

type fakeShard struct {
	id, parent string
	records    []types.Record
	closed     bool
}

func newFakeStreams() *fakeStreams {
	return &fakeStreams{shards: map[string][]*fakeShard{}, faults: map[string]error{}, pageLen: 1}
}

func (f *fakeStreams) addShard(arn, id, parent string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.shards[arn] = append(f.shards[arn], &fakeShard{id: id, parent: parent})
}

func (f *fakeStreams) shard(arn, id string) *fakeShard {
	for _, s := range f.shards[arn] {
		if s.id == id {
			return s
		}
	}
	return nil
}

// put appends an INSERT of key with the given status to a shard.
func (f *fakeStreams) put(arn, shardID, key, status string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seq++
	sh := f.shard(arn, shardID)
	sh.records = append(sh.records, types.Record{
		EventName: types.OperationTypeInsert,
		EventID:   aws.String(fmt.Sprintf("ev%d", f.seq)),
		Dynamodb: &types.StreamRecord{
			Keys:           map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: key}},
			NewImage:       map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: key}, "status": &types.AttributeValueMemberS{Value: status}},
			SequenceNumber: aws.String(fmt.Sprintf("%06d", f.seq)),
		},
	})
}

func (f *fakeStreams) close(arn, shardID string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.shard(arn, shardID).closed = true
}

func (f *fakeStreams) fault(shardID string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults[shardID] = err
}

func (f *fakeStreams) DescribeStream(_ context.Context, in *dynamodbstreams.DescribeStreamInput, _ ...func(*dynamodbstreams.Options)) (*dynamodbstreams.DescribeStreamOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	all, ok := f.shards[aws.ToString(in.StreamArn)]
	if !ok {
		return nil, &types.ResourceNotFoundException{Message: aws.String("no such stream")}
	}
	start := 0
	if after := aws.ToString(in.ExclusiveStartShardId); after != "" {
		for i, s := range all {
			if s.id == after {
				start = i + 1
			}
		}
	}
	desc := &types.StreamDescription{StreamArn: in.StreamArn}
	for _, s := range all[start:min(start+f.pageLen, len(all))] {
		sh := types.Shard{ShardId: aws.String(s.id), SequenceNumberRange: &types.SequenceNumberRange{StartingSequenceNumber: aws.String("0")}}
		if s.parent != "" {
			sh.ParentShardId = aws.String(s.parent)
		}
		if s.closed {
			sh.SequenceNumberRange.EndingSequenceNumber = aws.String("999999")
		}
		desc.Shards = append(desc.Shards, sh)
	}
	if start+f.pageLen < len(all) {
		desc.LastEvaluatedShardId = aws.String(all[start+f.pageLen-1].id)
	}
	return &dynamodbstreams.DescribeStreamOutput{StreamDescription: desc}, nil
}

// Iterators are "<arn>|<shard>|<index of the next record>".
func (f *fakeStreams) GetShardIterator(_ context.Context, in *dynamodbstreams.GetShardIteratorInput, _ ...func(*dynamodbstreams.Options)) (*dynamodbstreams.GetShardIteratorOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	arn, id := aws.ToString(in.StreamArn), aws.ToString(in.ShardId)
	sh := f.shard(arn, id)
	call := id + " " + string(in.ShardIteratorType)
	pos := 0
	switch in.ShardIteratorType {
	case types.ShardIteratorTypeLatest:
		pos = len(sh.records)
	case types.ShardIteratorTypeAfterSequenceNumber:
		call += " " + aws.ToString(in.SequenceNumber)
		for i, r := range sh.records {
			if aws.ToString(r.Dynamodb.SequenceNumber) == aws.ToString(in.SequenceNumber) {
				pos = i + 1
			}
		}
	}
	f.iters = append(f.iters, call)
	return &dynamodbstreams.GetShardIteratorOutput{ShardIterator: aws.String(fmt.Sprintf("%s|%s|%d", arn, id, pos))}, nil
}

func (f *fakeStreams) GetRecords(_ context.Context, in *dynamodbstreams.GetRecordsInput, _ ...func(*dynamodbstreams.Options)) (*dynamodbstreams.GetRecordsOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads++
	parts := strings.Split(aws.ToString(in.ShardIterator), "|")
	arn, id := parts[0], parts[1]
	pos, _ := strconv.Atoi(parts[2])
	if err, ok := f.faults[id]; ok {
		delete(f.faults, id)
		return nil, err
	}
	sh := f.shard(arn, id)
	end := min(pos+2, len(sh.records)) // small pages, so a shard takes several reads
	out := &dynamodbstreams.GetRecordsOutput{Records: sh.records[pos:end]}
	if !(sh.closed && end == len(sh.records)) {
		out.NextShardIterator = aws.String(fmt.Sprintf("%s|%s|%d", arn, id, end))
	}
	return out, nil
}

func (f *fakeStreams) iteratorCalls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.iters...)
}

// collector is a sink that publishes each change's "key:status" and can be
// told to refuse one key (failTimes times, or always when 0).
type collector struct {
	ch        chan string
	failKey   string
	failTimes int
	calls     map[string]int // the consumer is never called concurrently
}

func newCollector() *collector {
	return &collector{ch: make(chan string, 100), calls: map[string]int{}}
}

func (c *collector) sink(_ context.Context, ch streams.Change) error {
	c.calls[ch.Key]++
	if ch.Key == c.failKey && (c.failTimes == 0 || c.calls[ch.Key] <= c.failTimes) {
		return errors.New("refused")
	}
	c.ch <- ch.Key + ":" + ch.NewStatus
	return nil
}

// next waits for the next n changes; the deadline only guards against a hang.
func (c *collector) next(t *testing.T, n int) []string {
	t.Helper()
	var got []string
	deadline := time.After(20 * time.Second)
	for len(got) < n {
		select {
		case s := <-c.ch:
			got = append(got, s)
		case <-deadline:
			t.Fatalf("got %v, still waiting for %d more changes", got, n-len(got))
		}
	}
	return got
}

// startTailer runs a tailer in the background; stop cancels it and returns Run's error.
func startTailer(t *testing.T, tl *Tailer) (ready <-chan struct{}, stop func() error) {
	t.Helper()
	if tl.PollInterval == 0 {
		tl.PollInterval = time.Millisecond
	}
	if tl.DescribeInterval == 0 {
		tl.DescribeInterval = 5 * time.Millisecond
	}
	readyCh := make(chan struct{})
	tl.Ready = func() { close(readyCh) }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tl.Run(ctx) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() { cancel(); err = <-done })
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return readyCh, stop
}

const arnA = "arn:aws:dynamodb:ddblocal:000000000000:table/upvest-state-orders/stream/1"

func TestTailerFollowsShardLineageFromStart(t *testing.T) {
	f := newFakeStreams()
	f.addShard(arnA, "child", "parent") // listed first: the tailer must still read the parent first
	f.addShard(arnA, "parent", "")
	f.addShard(arnA, "orphan", "trimmed-away") // its parent is gone: read at once
	for i := range 3 {
		f.put(arnA, "parent", "ORDER#p", fmt.Sprint("P", i))
	}
	f.put(arnA, "child", "ORDER#c", "C0")
	f.put(arnA, "orphan", "ORDER#o", "O0")

	c := newCollector()
	_, stop := startTailer(t, &Tailer{Client: f, StreamARNs: map[string]string{"orders": arnA}, FromStart: true, Consumer: &streams.Consumer{Sink: c.sink}})
	got := c.next(t, 4)
	// The orphan may come at any point; the parent's records come in order and the child's not at all yet.
	if want := "ORDER#p:P0 ORDER#p:P1 ORDER#p:P2"; strings.Join(without(got, "ORDER#o:O0"), " ") != want {
		t.Fatalf("got %v, want the orphan and %s", got, want)
	}
	f.close(arnA, "parent")
	if got := c.next(t, 1); got[0] != "ORDER#c:C0" {
		t.Fatalf("after the parent closed got %v, want the child's record", got)
	}
	f.put(arnA, "child", "ORDER#c", "C1")
	if got := c.next(t, 1); got[0] != "ORDER#c:C1" {
		t.Fatalf("got %v, want the child's new record", got)
	}
	if err := stop(); err != nil {
		t.Fatalf("Run after cancel = %v, want nil", err)
	}
}

func without(list []string, drop string) []string {
	var out []string
	for _, s := range list {
		if s != drop {
			out = append(out, s)
		}
	}
	return out
}

func TestTailerLatestSkipsHistory(t *testing.T) {
	f := newFakeStreams()
	f.addShard(arnA, "old", "")
	f.put(arnA, "old", "ORDER#1", "OLD")
	f.close(arnA, "old")
	f.addShard(arnA, "open", "old")
	f.put(arnA, "open", "ORDER#1", "BEFORE")

	c := newCollector()
	ready, _ := startTailer(t, &Tailer{Client: f, StreamARNs: map[string]string{"orders": arnA}, Consumer: &streams.Consumer{Sink: c.sink}})
	<-ready
	f.put(arnA, "open", "ORDER#1", "AFTER")
	if got := c.next(t, 1); got[0] != "ORDER#1:AFTER" {
		t.Fatalf("got %v, want only the change made after Ready", got)
	}
	// A shard that appears later is new: it is read from its start.
	f.close(arnA, "open")
	f.addShard(arnA, "newer", "open")
	f.put(arnA, "newer", "ORDER#1", "NEWER")
	if got := c.next(t, 1); got[0] != "ORDER#1:NEWER" {
		t.Fatalf("got %v, want the new shard's first record", got)
	}
	calls := f.iteratorCalls()
	if calls[0] != "open LATEST" || calls[len(calls)-1] != "newer TRIM_HORIZON" {
		t.Errorf("iterator calls = %v, want open LATEST first and newer TRIM_HORIZON last (the closed shard is never read)", calls)
	}
}

func TestTailerRecoversFromExpiredAndTrimmedIterators(t *testing.T) {
	f := newFakeStreams()
	f.addShard(arnA, "s1", "")
	f.put(arnA, "s1", "ORDER#1", "A")
	c := newCollector()
	ready, _ := startTailer(t, &Tailer{Client: f, StreamARNs: map[string]string{"orders": arnA}, FromStart: true, Consumer: &streams.Consumer{Sink: c.sink}})
	<-ready
	c.next(t, 1)

	f.fault("s1", &types.ExpiredIteratorException{Message: aws.String("expired")})
	f.put(arnA, "s1", "ORDER#1", "B")
	if got := c.next(t, 1); got[0] != "ORDER#1:B" {
		t.Fatalf("got %v after an expired iterator, want B exactly once", got)
	}
	f.fault("s1", &types.TrimmedDataAccessException{Message: aws.String("trimmed")})
	f.put(arnA, "s1", "ORDER#1", "C")
	// Trimmed: the tailer restarts at the oldest retained record, here the start.
	if got := c.next(t, 3); strings.Join(got, " ") != "ORDER#1:A ORDER#1:B ORDER#1:C" {
		t.Fatalf("got %v after trimming, want the retained records again", got)
	}
	calls := f.iteratorCalls()
	want := []string{"s1 TRIM_HORIZON", "s1 AFTER_SEQUENCE_NUMBER 000001", "s1 TRIM_HORIZON"}
	if strings.Join(calls, ",") != strings.Join(want, ",") {
		t.Errorf("iterator calls = %v, want %v", calls, want)
	}
}

func TestTailerRetriesTransientErrors(t *testing.T) {
	f := newFakeStreams()
	f.addShard(arnA, "s1", "")
	f.put(arnA, "s1", "ORDER#1", "A")
	f.fault("s1", errors.New("throttled"))
	c := newCollector()
	_, stop := startTailer(t, &Tailer{Client: f, StreamARNs: map[string]string{"orders": arnA}, FromStart: true, Consumer: &streams.Consumer{Sink: c.sink}})
	if got := c.next(t, 1); got[0] != "ORDER#1:A" {
		t.Fatalf("got %v", got)
	}
	if err := stop(); err != nil {
		t.Fatalf("Run = %v, want nil after a retried error", err)
	}
}

func TestTailerStopsWhenARecordKeepsFailing(t *testing.T) {
	f := newFakeStreams()
	f.addShard(arnA, "s1", "")
	f.put(arnA, "s1", "ORDER#good", "A")
	f.put(arnA, "s1", "ORDER#bad", "B")
	c := newCollector()
	c.failKey = "ORDER#bad"
	err := (&Tailer{Client: f, StreamARNs: map[string]string{"orders": arnA}, FromStart: true, Consumer: &streams.Consumer{Sink: c.sink},
		PollInterval: time.Millisecond}).Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "ORDER#bad") || !strings.Contains(err.Error(), "after 5 attempts") {
		t.Errorf("Run = %v, want an error naming the key after 5 attempts", err)
	}
	if got := c.next(t, 1); got[0] != "ORDER#good:A" || len(c.ch) != 0 {
		t.Errorf("changes %v (+%d more), want ORDER#good once: a record before the failed one is not handed over again", got, len(c.ch))
	}
	if c.calls["ORDER#bad"] != 5 {
		t.Errorf("the failing record was handed over %d times, want 5", c.calls["ORDER#bad"])
	}
}

// A record the consumer reports as failed is retried from that record on, as
// Lambda does with ReportBatchItemFailures, and the tail goes on once it passes.
func TestTailerRetriesAReportedRecord(t *testing.T) {
	f := newFakeStreams()
	f.addShard(arnA, "s1", "")
	for _, k := range []string{"ORDER#1", "ORDER#2", "ORDER#3"} {
		f.put(arnA, "s1", k, "A")
	}
	c := newCollector()
	c.failKey, c.failTimes = "ORDER#2", 2
	_, stop := startTailer(t, &Tailer{Client: f, StreamARNs: map[string]string{"orders": arnA}, FromStart: true, Consumer: &streams.Consumer{Sink: c.sink}})
	if got := c.next(t, 3); !slices.Equal(got, []string{"ORDER#1:A", "ORDER#2:A", "ORDER#3:A"}) {
		t.Errorf("changes %v", got)
	}
	if c.calls["ORDER#2"] != 3 || c.calls["ORDER#1"] != 1 {
		t.Errorf("calls %v, want ORDER#2 three times and ORDER#1 once", c.calls)
	}
	if err := stop(); err != nil {
		t.Errorf("Run = %v", err)
	}
}

func TestTailerFailsOnUnknownStream(t *testing.T) {
	err := (&Tailer{Client: newFakeStreams(), StreamARNs: map[string]string{"orders": "arn:missing"}, Consumer: &streams.Consumer{Sink: newCollector().sink}}).Run(context.Background())
	var missing *types.ResourceNotFoundException
	if !errors.As(err, &missing) || !strings.Contains(err.Error(), "orders") {
		t.Errorf("Run = %v, want ResourceNotFoundException naming the stream", err)
	}
}

func TestTailerConfig(t *testing.T) {
	sink := newCollector().sink
	for _, tl := range []*Tailer{
		{StreamARNs: map[string]string{"a": arnA}, Consumer: &streams.Consumer{Sink: sink}},
		{Client: newFakeStreams(), StreamARNs: map[string]string{"a": arnA}},
		{Client: newFakeStreams(), Consumer: &streams.Consumer{Sink: sink}},
	} {
		if err := tl.Run(context.Background()); err == nil {
			t.Errorf("Run(%+v) = nil, want a configuration error", tl)
		}
	}
}

// An idle shard is read less and less often, down to a read every
// 4 × PollInterval; a change is still delivered, and reading speeds up again.
func TestTailerBacksOffOnAnIdleShard(t *testing.T) {
	f := newFakeStreams()
	f.addShard(arnA, "s1", "")
	c := newCollector()
	const poll = 10 * time.Millisecond
	ready, _ := startTailer(t, &Tailer{Client: f, StreamARNs: map[string]string{"orders": arnA}, Consumer: &streams.Consumer{Sink: c.sink}, PollInterval: poll})
	<-ready
	readsAt := func() int {
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.reads
	}
	// Wait for a number of reads rather than for a time: a loaded machine
	// only makes them later, which the bound below allows for.
	const reads = 10
	start, before := time.Now(), readsAt()
	for deadline := start.Add(time.Minute); readsAt()-before < reads; time.Sleep(poll / 10) {
		if time.Now().After(deadline) {
			t.Fatalf("%d reads of an idle shard in a minute, want %d", readsAt()-before, reads)
		}
	}
	idle, elapsed := readsAt()-before, time.Since(start)
	// Without backing off that is one read per poll; with it, after the first
	// three pauses (1, 2 and 4 polls) one per 4 polls.
	if most := 3 + int(elapsed/(4*poll)) + 1; idle > most {
		t.Errorf("%d reads of an idle shard in %v, want at most %d (one per %v once idle)", idle, elapsed, most, 4*poll)
	}
	f.put(arnA, "s1", "ORDER#1", "NEW")
	f.put(arnA, "s1", "ORDER#2", "NEW")
	f.put(arnA, "s1", "ORDER#3", "NEW")
	if got := c.next(t, 3); got[0] != "ORDER#1:NEW" || got[2] != "ORDER#3:NEW" {
		t.Fatalf("got %v after idling", got)
	}
}
