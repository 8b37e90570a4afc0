package streams

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"

	"github.com/aws/aws-lambda-go/events"
	streamtypes "github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"
)

// Sink receives one decoded change. An error means the change was not handled
// and must be delivered again.
type Sink func(ctx context.Context, c Change) error

// Consumer is the Lambda side of a state-table stream: it decodes each record
// and hands it to Sink, in stream order.
type Consumer struct {
	Sink Sink
	// Logger, when set, records why a record failed (Lambda only sees its sequence number).
	Logger *slog.Logger
}

// ErrNoSequenceNumber means a failing record cannot be named to Lambda, so the
// whole batch has to be retried instead.
var ErrNoSequenceNumber = errors.New("stream record has no sequence number")

// Handle processes a batch the way Lambda's DynamoDB stream event source expects
// with ReportBatchItemFailures: records are handled in order and the first one
// that fails (cannot be decoded, or the sink refuses it) is reported by its
// sequence number. Processing stops there, because Lambda retries from the
// reported record onwards and later records must not overtake it.
//
// The returned error is non-nil only when no record can be reported (a failing
// record without a sequence number); Lambda then retries the whole batch.
func (c *Consumer) Handle(ctx context.Context, ev events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
	batch := make([]received, len(ev.Records))
	for i, r := range ev.Records {
		batch[i].record, batch[i].err = fromLambda(r)
	}
	return c.handle(ctx, batch)
}

// received is a record as it arrived, or why it could not be read.
type received struct {
	record
	err error
}

// handle is Handle (or HandleStreamsAPI) after the records are read.
func (c *Consumer) handle(ctx context.Context, batch []received) (events.DynamoDBEventResponse, error) {
	if c.Sink == nil {
		return events.DynamoDBEventResponse{}, errors.New("streams: Consumer has no Sink")
	}
	for _, r := range batch {
		err := r.err
		if err == nil {
			err = c.handleOne(ctx, r.record)
		}
		if err != nil {
			seq := r.SequenceNumber
			if c.Logger != nil {
				c.Logger.ErrorContext(ctx, "stream record failed; it and later records will be retried",
					"sequence_number", seq, "event_id", r.EventID, "error", err)
			}
			if seq == "" {
				return events.DynamoDBEventResponse{}, fmt.Errorf("%w (record %s): %w", ErrNoSequenceNumber, r.EventID, err)
			}
			return events.DynamoDBEventResponse{
				BatchItemFailures: []events.DynamoDBBatchItemFailure{{ItemIdentifier: seq}},
			}, nil
		}
	}
	return events.DynamoDBEventResponse{}, nil
}

func (c *Consumer) handleOne(ctx context.Context, r record) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	change, err := decode(r)
	if err != nil {
		return err
	}
	if err := c.Sink(ctx, change); err != nil {
		return fmt.Errorf("sink %s %s: %w", change.Key, change.SequenceNumber, err)
	}
	return nil
}

// JSONLines returns the default sink: one JSON object per change, one per line.
// It is what a downstream team replaces with its own code.
func JSONLines(w io.Writer) Sink {
	var mu sync.Mutex
	return func(_ context.Context, c Change) error {
		line, err := json.Marshal(c)
		if err != nil {
			return fmt.Errorf("encode change %s: %w", c.Key, err)
		}
		mu.Lock()
		defer mu.Unlock()
		if _, err := w.Write(append(line, '\n')); err != nil {
			return fmt.Errorf("write change %s: %w", c.Key, err)
		}
		return nil
	}
}

// HandleStreamsAPI is Handle for records read through the DynamoDB Streams
// API instead of delivered by Lambda (the local tail, shared/local/streamtail):
// the same decoding, the same in-order processing and failure report.
func (c *Consumer) HandleStreamsAPI(ctx context.Context, streamARN string, recs []streamtypes.Record) (events.DynamoDBEventResponse, error) {
	batch := make([]received, len(recs))
	for i, r := range recs {
		batch[i].record, batch[i].err = fromStreams(streamARN, r)
	}
	return c.handle(ctx, batch)
}
