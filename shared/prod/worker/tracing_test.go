package worker

import (
	"errors"
	"testing"

	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/message"
)

// Each message gets its own span: a child of the span that sent it when the
// message carries one, a new trace otherwise; a message to retry is an error.
func TestEachMessageHasASpanInItsSendersTrace(t *testing.T) {
	h := newHarness(events.Orders)
	spans := tracetest.NewSpanRecorder()
	h.worker.WithTracing(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans)))

	const parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	traced, tracedID := event("ORDER.FILLED", order("FILLED"))
	untraced, untracedID := event("ORDER.FILLED", order("FILLED"))
	failing, failingID := event("ORDER.FILLED", order("FILLED"))
	h.store.errs[failingID] = errors.New("throttled")
	failed := h.handle(t,
		msg(traced, tracedID, message.AttrTraceParent, parent),
		msg(untraced, untracedID),
		msg(failing, failingID, message.AttrTraceParent, "garbage"),
	)

	if len(failed) != 1 {
		t.Fatalf("failed %v, want the one message whose apply failed", failed)
	}
	byEvent := map[string]sdktrace.ReadOnlySpan{}
	for _, s := range spans.Ended() {
		for _, a := range s.Attributes() {
			if a.Key == "event_id" {
				byEvent[a.Value.AsString()] = s
			}
		}
	}
	if len(byEvent) != 3 {
		t.Fatalf("%d message spans, want 3", len(byEvent))
	}
	s := byEvent[tracedID]
	if s.Name() != SpanMessage || s.SpanKind() != trace.SpanKindConsumer ||
		s.SpanContext().TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" || s.Parent().SpanID().String() != "00f067aa0ba902b7" {
		t.Errorf("traced message: span %s kind %v trace %s parent %s", s.Name(), s.SpanKind(), s.SpanContext().TraceID(), s.Parent().SpanID())
	}
	for _, id := range []string{untracedID, failingID} {
		if s := byEvent[id]; s.Parent().IsValid() {
			t.Errorf("message without a valid traceparent has parent %v", s.Parent())
		}
	}
	if byEvent[failingID].Status().Code != codes.Error || byEvent[tracedID].Status().Code == codes.Error {
		t.Errorf("statuses: failing %v, applied %v", byEvent[failingID].Status(), byEvent[tracedID].Status())
	}
}
