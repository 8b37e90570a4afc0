// Package fanout sends events to their domain queues in SQS batches: up to ten
// messages per SendMessageBatch call, split by size, sent concurrently, with
// failed entries retried. Message bodies follow shared/prod/message.
package fanout

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/message"
)

// Message is one event on its way to a domain queue.
type Message struct {
	EventID   string
	EventType string
	Domain    events.Domain
	Raw       []byte // the event as Upvest sent it
	Replay    bool   // sent by a replay: the worker releases its record from the parked index
}

// Publisher sends messages to their domain queues.
type Publisher interface {
	Publish(ctx context.Context, msgs []Message) error
}

// SQSAPI is the part of the SQS client the publisher uses.
type SQSAPI interface {
	SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, opts ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error)
}

// SQS is the Publisher on SQS queues, one per domain.
type SQS struct {
	client        SQSAPI
	queueURLs     map[events.Domain]string
	maxBatchBytes int
	maxAttempts   int
	backoff       func(attempt int) time.Duration
	inFlight      int
}

var _ Publisher = (*SQS)(nil)

// SQS limits: ten entries and 256 KiB of payload per SendMessageBatch call.
const (
	maxBatchEntries = 10
	MaxBatchBytes   = 256 * 1024
)

// Option tunes an SQS publisher.
type Option func(*SQS)

// WithInFlight bounds the SendMessageBatch calls one Publish makes at once,
// across its domains; n ≤ 0 keeps DefaultInFlight.
func WithInFlight(n int) Option {
	return func(p *SQS) {
		if n > 0 {
			p.inFlight = n
		}
	}
}

// NewSQS returns a publisher sending each domain's messages to queueURLs[domain].
func NewSQS(client SQSAPI, queueURLs map[events.Domain]string, opts ...Option) *SQS {
	p := &SQS{
		client:        client,
		queueURLs:     queueURLs,
		maxBatchBytes: MaxBatchBytes,
		maxAttempts:   4,
		backoff:       func(attempt int) time.Duration { return time.Duration(attempt*attempt) * 50 * time.Millisecond },
		inFlight:      DefaultInFlight,
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

// entry is one SendMessageBatch entry with the size SQS counts for it.
type entry struct {
	msg   Message
	input types.SendMessageBatchRequestEntry
	size  int
}

// DefaultInFlight bounds the SendMessageBatch calls one Publish makes at once:
// a 1 MiB request of small events is about 145 batches, which 64 at a time
// send in three rounds of SQS latency rather than the ten of 16 at a time
// (BenchmarkLatencyModelledIngest in shared/testkit/perf).
const DefaultInFlight = 64

// Publish sends every message or returns an error naming the events that could
// not be sent. Batches go out concurrently, across and within domains: order
// on a queue means nothing to the workers, which order by position.
func (p *SQS) Publish(ctx context.Context, msgs []Message) error {
	byDomain := map[events.Domain][]entry{}
	trace := message.TraceAttributes(ctx)
	for _, m := range msgs {
		byDomain[m.Domain] = append(byDomain[m.Domain], withAttributes(toEntry(m), trace))
	}
	type job struct {
		url   string
		batch []entry
	}
	var jobs []job
	for domain, entries := range byDomain {
		url, ok := p.queueURLs[domain]
		if !ok {
			return fmt.Errorf("no queue configured for domain %q", domain)
		}
		for _, b := range batches(entries, p.maxBatchBytes) {
			jobs = append(jobs, job{url, b})
		}
	}
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		failed []string
		errs   []error
		slots  = make(chan struct{}, p.inFlight)
	)
	for _, j := range jobs {
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			ids, err := p.sendBatch(ctx, j.url, j.batch)
			if err != nil {
				mu.Lock()
				failed = append(failed, ids...)
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		sort.Strings(failed)
		return &PartialError{Failed: failed, Err: errors.Join(errs...)}
	}
	return nil
}

// PartialError names the events that were not sent; every other message of
// the Publish call is on its queue.
type PartialError struct {
	Failed []string
	Err    error
}

func (e *PartialError) Error() string {
	return fmt.Sprintf("fan-out failed for %d event(s) [%s]: %v", len(e.Failed), strings.Join(e.Failed, ","), e.Err)
}

func (e *PartialError) Unwrap() error { return e.Err }

// sendBatch sends one batch, retrying the entries SQS reports as failed. It
// returns the event ids still unsent when it gives up.
func (p *SQS) sendBatch(ctx context.Context, queueURL string, batch []entry) ([]string, error) {
	pending := batch
	var lastErr error
	for attempt := 0; attempt < p.maxAttempts && len(pending) > 0; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return eventIDs(pending), fmt.Errorf("send batch: %w", ctx.Err())
			case <-time.After(p.backoff(attempt)):
			}
		}
		inputs := make([]types.SendMessageBatchRequestEntry, len(pending))
		for i, e := range pending {
			inputs[i] = e.input
		}
		out, err := p.client.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(queueURL), Entries: inputs})
		if err != nil {
			lastErr = fmt.Errorf("send batch to %s: %w", queueURL, err)
			continue
		}
		retry := pending[:0:0]
		for _, f := range out.Failed {
			for _, e := range pending {
				if aws.ToString(e.input.Id) == aws.ToString(f.Id) {
					retry = append(retry, e)
				}
			}
			lastErr = fmt.Errorf("send batch to %s: entry %s failed: %s %s", queueURL, aws.ToString(f.Id), aws.ToString(f.Code), aws.ToString(f.Message))
		}
		pending = retry
	}
	if len(pending) > 0 {
		return eventIDs(pending), lastErr
	}
	return nil, nil
}

// batches splits entries into SendMessageBatch calls: at most ten entries and
// maxBytes of payload each. Entry ids are unique within a batch.
func batches(entries []entry, maxBytes int) [][]entry {
	var (
		out   [][]entry
		cur   []entry
		bytes int
	)
	for _, e := range entries {
		if len(cur) == maxBatchEntries || (len(cur) > 0 && bytes+e.size > maxBytes) {
			out = append(out, cur)
			cur, bytes = nil, 0
		}
		e.input.Id = aws.String("m" + strconv.Itoa(len(cur)))
		cur = append(cur, e)
		bytes += e.size
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

func toEntry(m Message) entry {
	body, bodyAttrs := message.Encode(m.EventID, m.Raw)
	attrs := map[string]types.MessageAttributeValue{
		message.AttrEventID: stringAttr(m.EventID),
		message.AttrDomain:  stringAttr(string(m.Domain)),
	}
	if events.ValidType(m.EventType) {
		attrs[message.AttrEventType] = stringAttr(m.EventType)
	}
	for name, v := range bodyAttrs {
		attrs[name] = stringAttr(v)
	}
	if m.Replay {
		attrs[message.AttrReplay] = stringAttr(message.Replayed)
	}
	return entry{
		msg:   m,
		input: types.SendMessageBatchRequestEntry{MessageBody: aws.String(body), MessageAttributes: attrs},
		size:  PayloadSize(body, attrs),
	}
}

// PayloadSize is what SQS counts of a message against MaxBatchBytes: its body
// and each attribute's name, type and value.
func PayloadSize(body string, attrs map[string]types.MessageAttributeValue) int {
	size := len(body)
	for name, v := range attrs {
		size += len(name) + len(aws.ToString(v.DataType)) + len(aws.ToString(v.StringValue)) + len(v.BinaryValue)
	}
	return size
}

// withAttributes adds string attributes to an entry (the trace context,
// which is the same for every message of one Publish).
func withAttributes(e entry, attrs map[string]string) entry {
	for name, v := range attrs {
		a := stringAttr(v)
		e.input.MessageAttributes[name] = a
		e.size += len(name) + len(aws.ToString(a.DataType)) + len(v)
	}
	return e
}

func stringAttr(v string) types.MessageAttributeValue {
	return types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
}

func eventIDs(entries []entry) []string {
	ids := make([]string, len(entries))
	for i, e := range entries {
		ids[i] = e.msg.EventID
	}
	return ids
}
