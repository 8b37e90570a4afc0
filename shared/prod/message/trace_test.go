package message

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/trace"
)

func TestTraceContextTravelsInAttributes(t *testing.T) {
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36},
		SpanID:     trace.SpanID{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7},
		TraceFlags: trace.FlagsSampled,
	})
	attrs := TraceAttributes(trace.ContextWithSpanContext(context.Background(), sc))
	if got := attrs[AttrTraceParent]; got != "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" {
		t.Fatalf("traceparent = %q", got)
	}
	got := trace.SpanContextFromContext(ContextWithTrace(context.Background(), func(n string) string { return attrs[n] }))
	if !got.IsRemote() || got.TraceID() != sc.TraceID() || got.SpanID() != sc.SpanID() || !got.IsSampled() {
		t.Errorf("extracted %+v, want the sender's span as remote parent", got)
	}
}

func TestNoTraceContextWithoutASpan(t *testing.T) {
	if attrs := TraceAttributes(context.Background()); len(attrs) != 0 {
		t.Errorf("attributes without a span: %v", attrs)
	}
	for _, v := range []string{"", "not-a-traceparent", "00-00000000000000000000000000000000-00f067aa0ba902b7-01"} {
		ctx := ContextWithTrace(context.Background(), func(n string) string {
			if n == AttrTraceParent {
				return v
			}
			return ""
		})
		if trace.SpanContextFromContext(ctx).IsValid() {
			t.Errorf("traceparent %q gave a parent", v)
		}
	}
}
