package message

import (
	"context"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// AttrTraceParent and AttrTraceState carry the W3C trace context of the
// ingest request that sent the event (shared/prod/tracing), so that the worker's
// span joins the event's trace. With them a message has at most six
// attributes, under SQS's limit of ten.
const (
	AttrTraceParent = "traceparent"
	AttrTraceState  = "tracestate"
)

var traceContext = propagation.TraceContext{}

// TraceAttributes returns the trace context of ctx as message attributes,
// or none when ctx holds no span (tracing off).
func TraceAttributes(ctx context.Context) map[string]string {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return nil
	}
	carrier := propagation.MapCarrier{}
	traceContext.Inject(ctx, carrier)
	return carrier
}

// ContextWithTrace returns ctx with the span context a message carries as
// its remote parent; ctx unchanged when it carries none (or a malformed one).
// attr returns "" for an absent attribute.
func ContextWithTrace(ctx context.Context, attr func(name string) string) context.Context {
	return traceContext.Extract(ctx, attrCarrier(attr))
}

type attrCarrier func(name string) string

func (c attrCarrier) Get(key string) string { return c(key) }
func (c attrCarrier) Set(string, string)    {}
func (c attrCarrier) Keys() []string        { return []string{AttrTraceParent, AttrTraceState} }
