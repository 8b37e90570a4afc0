package streamtail

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"

	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/state"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/streams"
)

// StreamsAPI is the part of the DynamoDB Streams client the Tailer uses.
type StreamsAPI interface {
	DescribeStream(ctx context.Context, in *dynamodbstreams.DescribeStreamInput, opts ...func(*dynamodbstreams.Options)) (*dynamodbstreams.DescribeStreamOutput, error)
	GetShardIterator(ctx context.Context, in *dynamodbstreams.GetShardIteratorInput, opts ...func(*dynamodbstreams.Options)) (*dynamodbstreams.GetShardIteratorOutput, error)
	GetRecords(ctx context.Context, in *dynamodbstreams.GetRecordsInput, opts ...func(*dynamodbstreams.Options)) (*dynamodbstreams.GetRecordsOutput, error)
}

var _ StreamsAPI = (*dynamodbstreams.Client)(nil)

// Tailer follows state-table streams through the DynamoDB Streams API and hands
// every batch of records to the Consumer. It is the local stand-in for a
// Lambda stream trigger (DynamoDB Local has no Lambda): records go through
// the Consumer's batch handling (streams.Consumer.HandleStreamsAPI, Handle's
// twin for Streams API records), and a record it reports as failed is retried,
// with the records after it, as Lambda does with ReportBatchItemFailures.
// Within a shard, and from a parent shard to its children, changes reach the
// sink in stream order; the consumer is never called concurrently. It is a
// viewer, not a delivery guarantee: a record still failing after a few retries
// stops it.
type Tailer struct {
	Client StreamsAPI
	// StreamARNs are the streams to follow, by a label used in error messages.
	StreamARNs map[string]string
	// FromStart reads each stream from its oldest retained record (TRIM_HORIZON);
	// otherwise only changes made after Run starts are read (LATEST).
	FromStart bool
	Consumer  *streams.Consumer

	// PollInterval is the pause after an empty read of a shard (default 1 s).
	// It doubles with each further empty read, up to 4 × PollInterval, and
	// is back to PollInterval after a read with records: an idle local
	// pipeline's shards cost DynamoDB Local a quarter of the reads.
	PollInterval     time.Duration
	DescribeInterval time.Duration // how often to look for new shards; default 10 s
	// Ready, when set, is called once every stream's open shards have an
	// iterator: from then on, changes are seen even without FromStart.
	Ready func()
}

const (
	defaultPollInterval     = time.Second
	defaultDescribeInterval = 10 * time.Second
	apiAttempts             = 5 // tries of one Streams API call before the tailer gives up
	maxIdleDoublings        = 2 // the idle pause grows to 1<<2 = 4 × PollInterval
)

// Run follows the streams until ctx is cancelled (then it returns nil) or
// until an error stops it.
func (t *Tailer) Run(ctx context.Context) error {
	if t.Client == nil || t.Consumer == nil {
		return errors.New("streamtail: Tailer needs a Client and a Consumer")
	}
	if len(t.StreamARNs) == 0 {
		return errors.New("streamtail: Tailer needs at least one stream ARN")
	}
	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	r := &run{t: t, ctx: runCtx, cancel: cancel}

	labels := make([]string, 0, len(t.StreamARNs))
	for label := range t.StreamARNs {
		labels = append(labels, label)
	}
	sort.Strings(labels)
	var streams []*stream
	for _, label := range labels {
		s := &stream{run: r, label: label, arn: t.StreamARNs[label],
			started: map[string]bool{}, finished: map[string]bool{}, wake: make(chan struct{}, 1)}
		if err := s.discover(true); err != nil {
			cancel(err)
			break
		}
		streams = append(streams, s)
	}
	if runCtx.Err() == nil {
		if t.Ready != nil {
			t.Ready()
		}
		for _, s := range streams {
			r.wg.Add(1)
			go s.watch()
		}
	}
	r.wg.Wait()
	if err := context.Cause(runCtx); err != nil && ctx.Err() == nil {
		return err
	}
	return nil
}

// run is the state shared by the streams of one Run.
type run struct {
	t      *Tailer
	ctx    context.Context
	cancel context.CancelCauseFunc
	wg     sync.WaitGroup
	sinkMu sync.Mutex
}

func (r *run) fail(err error) { r.cancel(err) }

func (r *run) pollInterval() time.Duration {
	if r.t.PollInterval > 0 {
		return r.t.PollInterval
	}
	return defaultPollInterval
}

func (r *run) describeInterval() time.Duration {
	if r.t.DescribeInterval > 0 {
		return r.t.DescribeInterval
	}
	return defaultDescribeInterval
}

// sleep waits d or until the run ends; false means the run ended.
func (r *run) sleep(d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-r.ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}

// retry calls f until it succeeds, the run ends or the attempts run out,
// backing off between attempts. Streams API calls fail transiently (throttling).
func retry[T any](r *run, what string, f func() (T, error)) (T, error) {
	var zero T
	var err error
	for attempt := 1; attempt <= apiAttempts; attempt++ {
		var v T
		if v, err = f(); err == nil {
			return v, nil
		}
		if r.ctx.Err() != nil || !retryable(err) {
			break
		}
		if !r.sleep(time.Duration(attempt) * r.pollInterval()) {
			break
		}
	}
	return zero, fmt.Errorf("%s: %w", what, err)
}

// retryable excludes the errors the tailer handles itself or cannot get past.
func retryable(err error) bool {
	var expired *types.ExpiredIteratorException
	var trimmed *types.TrimmedDataAccessException
	var missing *types.ResourceNotFoundException
	return !errors.As(err, &expired) && !errors.As(err, &trimmed) && !errors.As(err, &missing)
}

// stream follows one stream: it finds shards and starts a reader for each,
// a child only once its parent is read to the end.
type stream struct {
	run   *run
	label string
	arn   string

	mu       sync.Mutex
	started  map[string]bool
	finished map[string]bool
	wake     chan struct{} // a shard finished: look for its children now
}

// watch looks for new shards whenever one finishes and every DescribeInterval.
func (s *stream) watch() {
	defer s.run.wg.Done()
	ticker := time.NewTicker(s.run.describeInterval())
	defer ticker.Stop()
	for {
		select {
		case <-s.run.ctx.Done():
			return
		case <-s.wake:
		case <-ticker.C:
		}
		if err := s.discover(false); err != nil {
			s.run.fail(err)
			return
		}
	}
}

// discover lists the stream's shards and starts readers for those now due.
// On the first call without FromStart, closed shards are skipped and open
// ones are read from LATEST; every shard found later is new, so it is read
// from its start.
func (s *stream) discover(first bool) error {
	shards, err := s.describe()
	if err != nil {
		return err
	}
	known := make(map[string]bool, len(shards))
	for _, sh := range shards {
		known[aws.ToString(sh.ShardId)] = true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for progress := true; progress; {
		progress = false
		for _, sh := range shards {
			id, parent := aws.ToString(sh.ShardId), aws.ToString(sh.ParentShardId)
			if s.started[id] {
				continue
			}
			// A parent missing from the listing has been trimmed away.
			if parent != "" && !s.finished[parent] && (known[parent] || s.started[parent]) {
				continue
			}
			s.started[id] = true
			progress = true
			from := types.ShardIteratorTypeTrimHorizon
			if first && !s.run.t.FromStart {
				if sh.SequenceNumberRange != nil && sh.SequenceNumberRange.EndingSequenceNumber != nil {
					s.finished[id] = true // closed before we started: nothing new will come
					continue
				}
				from = types.ShardIteratorTypeLatest
			}
			iter, err := s.iterator(id, from, "")
			if err != nil {
				return err
			}
			s.run.wg.Add(1)
			go s.read(id, from, iter)
		}
	}
	return nil
}

func (s *stream) describe() ([]types.Shard, error) {
	var shards []types.Shard
	var after *string
	for {
		out, err := retry(s.run, "describe stream "+s.label, func() (*dynamodbstreams.DescribeStreamOutput, error) {
			return s.run.t.Client.DescribeStream(s.run.ctx, &dynamodbstreams.DescribeStreamInput{
				StreamArn: aws.String(s.arn), ExclusiveStartShardId: after,
			})
		})
		if err != nil {
			return nil, err
		}
		if out.StreamDescription == nil {
			return shards, nil
		}
		shards = append(shards, out.StreamDescription.Shards...)
		if after = out.StreamDescription.LastEvaluatedShardId; after == nil {
			return shards, nil
		}
	}
}

func (s *stream) iterator(shardID string, from types.ShardIteratorType, afterSeq string) (*string, error) {
	in := &dynamodbstreams.GetShardIteratorInput{
		StreamArn: aws.String(s.arn), ShardId: aws.String(shardID), ShardIteratorType: from,
	}
	if afterSeq != "" {
		in.ShardIteratorType = types.ShardIteratorTypeAfterSequenceNumber
		in.SequenceNumber = aws.String(afterSeq)
	}
	out, err := retry(s.run, fmt.Sprintf("shard iterator %s/%s", s.label, shardID), func() (*dynamodbstreams.GetShardIteratorOutput, error) {
		return s.run.t.Client.GetShardIterator(s.run.ctx, in)
	})
	if err != nil {
		return nil, err
	}
	return out.ShardIterator, nil
}

// read reads one shard to its end (or until the run ends), in order.
// from is how iter was taken, used again if it expires before any record.
func (s *stream) read(shardID string, from types.ShardIteratorType, iter *string) {
	defer s.run.wg.Done()
	lastSeq, idleReads := "", 0
	for iter != nil {
		out, err := retry(s.run, fmt.Sprintf("get records %s/%s", s.label, shardID), func() (*dynamodbstreams.GetRecordsOutput, error) {
			return s.run.t.Client.GetRecords(s.run.ctx, &dynamodbstreams.GetRecordsInput{ShardIterator: iter})
		})
		var expired *types.ExpiredIteratorException
		var trimmed *types.TrimmedDataAccessException
		switch {
		case s.run.ctx.Err() != nil:
			return
		case errors.As(err, &expired): // iterators live 15 minutes: take a new one where we were
			iter, err = s.iterator(shardID, from, lastSeq)
		case errors.As(err, &trimmed): // we fell behind the 24 h retention: go on from what is left
			lastSeq, from = "", types.ShardIteratorTypeTrimHorizon
			iter, err = s.iterator(shardID, from, "")
		}
		if err != nil {
			s.run.fail(err)
			return
		}
		if out == nil { // a fresh iterator replaced an expired or trimmed one
			continue
		}
		if err := s.deliver(out.Records); err != nil {
			s.run.fail(err)
			return
		}
		if n := len(out.Records); n > 0 && out.Records[n-1].Dynamodb != nil {
			lastSeq = aws.ToString(out.Records[n-1].Dynamodb.SequenceNumber)
		}
		iter = out.NextShardIterator
		if len(out.Records) > 0 {
			idleReads = 0
			continue
		}
		if iter != nil && !s.run.sleep(s.run.pollInterval()<<min(idleReads, maxIdleDoublings)) {
			return
		}
		idleReads++
	}
	// No next iterator: the shard is closed and fully read; its children may start.
	s.mu.Lock()
	s.finished[shardID] = true
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// deliver hands the records to the consumer as one batch, as Lambda would.
// When the consumer reports a failed record, that record and the ones after
// it are handed over again, after a pause, up to apiAttempts times.
func (s *stream) deliver(recs []types.Record) error {
	if len(recs) == 0 {
		return nil
	}
	for attempt := 1; ; attempt++ {
		s.run.sinkMu.Lock()
		resp, err := s.run.t.Consumer.HandleStreamsAPI(s.run.ctx, s.arn, recs)
		s.run.sinkMu.Unlock()
		if err != nil {
			return fmt.Errorf("stream %s: %w", s.label, err)
		}
		if len(resp.BatchItemFailures) == 0 {
			return nil
		}
		failed := resp.BatchItemFailures[0].ItemIdentifier
		i := slices.IndexFunc(recs, func(r types.Record) bool { return sequenceNumber(r) == failed })
		if i < 0 {
			return fmt.Errorf("stream %s: the consumer reported record %s, which is not in the batch", s.label, failed)
		}
		if attempt == apiAttempts {
			return fmt.Errorf("stream %s: record %s (%s) still failed after %d attempts (the consumer's log says why)",
				s.label, failed, recordKey(recs[i]), attempt)
		}
		recs = recs[i:]
		if !s.run.sleep(time.Duration(attempt) * s.run.pollInterval()) {
			return nil
		}
	}
}

func sequenceNumber(r types.Record) string {
	if r.Dynamodb == nil {
		return ""
	}
	return aws.ToString(r.Dynamodb.SequenceNumber)
}

// recordKey is the record's state-table key, for error messages.
func recordKey(r types.Record) string {
	if r.Dynamodb == nil {
		return "?"
	}
	item, err := attributevalue.FromDynamoDBStreamsMap(r.Dynamodb.Keys)
	if err != nil {
		return "?"
	}
	if keys, err := state.DecodeRow(item); err == nil && keys.PK != "" {
		return keys.PK
	}
	return "?"
}
