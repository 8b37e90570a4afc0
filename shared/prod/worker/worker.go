// Package worker consumes one domain's SQS queue: each message is an event,
// applied to the domain's state table, whose row then records what was
// applied. The ledger is written only for the exceptions: an event that can
// never be applied is parked there, and a replayed record leaves the parked
// index once applied.
// Messages fail one by one (partial batch responses), so one bad message never
// holds back the others, and a message that can never succeed is parked
// instead of being retried into the dead-letter queue.
package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/smithy-go"
	otelattr "go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/deadline"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/ledger"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/message"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/observability"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/state"
)

// Ledger is what a worker needs from the ledger.
type Ledger interface {
	ledger.OutcomeRecorder
	ledger.RawEventReader
}

// Metrics counts outcomes; *observability.Metrics is one.
type Metrics interface {
	Add(name string, n int)
	Flush() error
}

var _ Metrics = (*observability.Metrics)(nil)

// Concurrency bounds the records of one batch processed at once. A full
// batch of the mapping's default size (10) runs in one round of DynamoDB
// latency rather than two, which halves a full batch's duration; larger
// batches (a batching window allows up to 10,000) still never flood a small
// Lambda with goroutines.
const Concurrency = 10

// Worker handles the SQS batches of one domain.
type Worker struct {
	domain  events.Domain
	store   state.Store
	ledger  Ledger
	log     *slog.Logger
	metrics Metrics
	tracer  trace.Tracer
}

// New returns a worker for one domain's queue.
func New(domain events.Domain, store state.Store, l Ledger, logger *slog.Logger, metrics Metrics) *Worker {
	return &Worker{domain: domain, store: store, ledger: l, log: logger.With("domain", string(domain)), metrics: metrics}
}

// SpanMessage names the span of one message's processing.
const SpanMessage = "worker process"

// WithTracing makes the worker record a span per message, continuing the
// trace the message carries (message.AttrTraceParent) so that one event's
// trace holds both its ingest request and its processing.
func (w *Worker) WithTracing(tp trace.TracerProvider) *Worker {
	w.tracer = tp.Tracer("github.com/upvest-webhooks/upvest-webhooks/shared/prod/worker")
	return w
}

// startSpan starts the span of one message, a child of the span that sent it.
func (w *Worker) startSpan(ctx context.Context, rec lambdaevents.SQSMessage) (context.Context, trace.Span) {
	if w.tracer == nil {
		return ctx, noop.Span{}
	}
	ctx = message.ContextWithTrace(ctx, func(name string) string { return attribute(rec, name) })
	return w.tracer.Start(ctx, SpanMessage, trace.WithSpanKind(trace.SpanKindConsumer), trace.WithAttributes(
		otelattr.String("messaging.system", "aws_sqs"),
		otelattr.String("messaging.operation.type", "process"),
		otelattr.String("messaging.message.id", rec.MessageId),
		otelattr.String("event_id", attribute(rec, message.AttrEventID)),
		otelattr.String("domain", string(w.domain)),
	))
}

// Handle processes one batch. Messages that failed for a reason that may pass
// (DynamoDB, ledger, network) are returned as batch item failures and come
// back after the visibility timeout; every other message is done. The batch
// stops a margin before ctx's deadline (see MaxDeadlineMargin): what is then
// unfinished or not started is reported as failed too. An error
// means the whole batch must be retried: it is returned only when a record
// has no message id, since a failure cannot be reported for it alone.
func (w *Worker) Handle(ctx context.Context, batch lambdaevents.SQSEvent) (lambdaevents.SQSEventResponse, error) {
	for i, rec := range batch.Records {
		if rec.MessageId == "" {
			return lambdaevents.SQSEventResponse{}, fmt.Errorf("worker: record %d of %d has no message id; the whole batch is retried", i+1, len(batch.Records))
		}
	}

	work, cancel := deadline.Before(ctx, MaxDeadlineMargin)
	defer cancel()
	failed := make([]bool, len(batch.Records))
	notStarted := 0
	sem := make(chan struct{}, Concurrency)
	var wg sync.WaitGroup
	for i, rec := range batch.Records {
		select {
		case sem <- struct{}{}:
		case <-work.Done():
		}
		if work.Err() != nil {
			failed[i] = true // never started: it comes back
			notStarted++
			continue
		}
		wg.Go(func() {
			defer func() { <-sem }()
			ctx, span := w.startSpan(work, rec)
			defer span.End()
			if err := w.process(ctx, rec); err != nil {
				span.SetStatus(codes.Error, err.Error())
				failed[i] = true
				w.log.Error("event will be retried", "message_id", rec.MessageId,
					"event_id", attribute(rec, message.AttrEventID), "event_type", attribute(rec, message.AttrEventType), "error", err.Error())
			}
		})
	}
	wg.Wait()
	if notStarted > 0 {
		w.log.Error("batch stopped before the invocation's deadline; the messages not started will be retried",
			"not_started", notStarted, "batch", len(batch.Records))
	}

	var resp lambdaevents.SQSEventResponse
	for i, rec := range batch.Records {
		if failed[i] {
			resp.BatchItemFailures = append(resp.BatchItemFailures, lambdaevents.SQSBatchItemFailure{ItemIdentifier: rec.MessageId})
		}
	}
	if err := w.metrics.Flush(); err != nil {
		// Metrics are best effort: losing them must not redeliver applied events.
		w.log.Warn("metrics not written", "error", err.Error())
	}
	return resp, nil
}

// MaxDeadlineMargin is how long before its invocation's deadline a batch
// stops at most (a quarter of the time left, if that is less): Lambda returns
// every message of a batch that runs out of time to the queue, the applied
// ones too, so one message hanging on a connection would take all the others
// a receive nearer the dead-letter queue. Stopping first lets the batch
// answer for what is done and report the rest as failures.
const MaxDeadlineMargin = 2 * time.Second

// process handles one message. A returned error means "retry this message";
// everything that can never apply is parked instead.
func (w *Worker) process(ctx context.Context, rec lambdaevents.SQSMessage) error {
	eventID := attribute(rec, message.AttrEventID)
	carried, err := message.Decode(rec.Body, func(name string) string { return attribute(rec, name) })
	if err != nil {
		return w.park(ctx, eventID, rec, "", err.Error())
	}
	body := carried.Raw
	if carried.InLedger {
		if eventID == "" {
			eventID = carried.LedgerEvent
		}
		if body, err = w.ledger.RawEvent(ctx, carried.LedgerEvent); err != nil {
			return fmt.Errorf("load claim-checked event: %w", err)
		}
	}

	// The clock check parks what a replay sends before its time has come
	// (ingest parks it on arrival).
	e, r, err := events.ClassifyAt(body, time.Now())
	if eventID == "" {
		eventID = e.ID
	}
	if errors.Is(err, events.ErrAhead) {
		w.metrics.Add(observability.MetricAhead, 1)
	}
	if err != nil {
		return w.park(ctx, eventID, rec, e.Type, err.Error())
	}
	if r.Domain != w.domain {
		return w.park(ctx, eventID, rec, e.Type, fmt.Sprintf("event of domain %s reached the %s worker", r.Domain, w.domain))
	}

	outcome, err := w.store.Apply(ctx, e, r)
	if refused := refusal(err); refused != "" {
		return w.park(ctx, eventID, rec, e.Type, "state table refused the event: "+refused)
	}
	if err != nil {
		return err
	}
	// The state row records what was applied; the ledger is written only for
	// the exceptions (issue 20). A replayed record leaves the parked index.
	metric := observability.MetricApplied
	switch outcome {
	case state.Applied:
	case state.Stale:
		metric = observability.MetricSkippedStale
	case state.Duplicate:
		metric = observability.MetricWorkerDuplicate
	default:
		return fmt.Errorf("store returned unknown outcome %q", outcome)
	}
	if attribute(rec, message.AttrReplay) == message.Replayed {
		if err := w.ledger.Release(ctx, eventID); err != nil {
			return fmt.Errorf("release replayed event: %w", err)
		}
	}
	w.metrics.Add(metric, 1)
	// Debug, not info: the metrics count outcomes, and a line per event was
	// the largest share of the workers' log bytes. LOG_LEVEL=debug brings it back.
	w.log.Debug("event "+string(outcome), "outcome", string(outcome), "event_id", eventID, "event_type", e.Type, "entity", r.EntityKey)
	return nil
}

// park records an event that can never be applied as it is; the message is
// then done, so no retries are burnt on it.
func (w *Worker) park(ctx context.Context, eventID string, rec lambdaevents.SQSMessage, eventType, reason string) error {
	if eventType == "" {
		eventType = attribute(rec, message.AttrEventType)
	}
	eventType = events.Truncate(eventType, 100)
	if eventID == "" {
		// Nothing to record it under: let it go to the dead-letter queue.
		return fmt.Errorf("unusable message without event id: %s", reason)
	}
	if err := w.ledger.RecordOutcome(ctx, eventID, ledger.Parked, reason); err != nil {
		return fmt.Errorf("park event: %w", err)
	}
	w.metrics.Add(observability.MetricParked, 1)
	w.log.Error("event can never be applied as it is; parked", "outcome", string(ledger.Parked), "event_id", eventID,
		"event_type", eventType, "reason", events.Truncate(reason, 300))
	return nil
}

func attribute(rec lambdaevents.SQSMessage, name string) string {
	if a, ok := rec.MessageAttributes[name]; ok && a.StringValue != nil {
		return *a.StringValue
	}
	return ""
}

// refusal returns DynamoDB's message when it refused a write as invalid (an
// item or key over its limits): retrying cannot help. "" for any other error.
func refusal(err error) string {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) && apiErr.ErrorCode() == "ValidationException" {
		return apiErr.ErrorMessage()
	}
	return ""
}
