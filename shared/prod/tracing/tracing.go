// Package tracing is the functions' OpenTelemetry setup. It is off unless the
// environment asks for it (OTEL_TRACES_EXPORTER=console or otlp): then spans
// are printed, or sent over OTLP/HTTP to a collector or straight to
// CloudWatch's OTLP traces endpoint (X-Ray), signed with SigV4. Off, every
// tracer is the no-op one and the AWS clients get no middleware, so tracing
// costs nothing. A Lambda handler wrapped by Flushing exports its spans before
// the invocation returns, since the sandbox may freeze right after.
package tracing

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/observability"
)

// Standard OpenTelemetry variables this package reads.
const (
	EnvExporter           = "OTEL_TRACES_EXPORTER" // none (default), console or otlp
	EnvSDKDisabled        = "OTEL_SDK_DISABLED"    // true turns tracing off whatever else is set
	EnvServiceName        = "OTEL_SERVICE_NAME"
	EnvOTLPEndpoint       = "OTEL_EXPORTER_OTLP_ENDPOINT"        // base URL; /v1/traces is appended
	EnvOTLPTracesEndpoint = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT" // full URL
	EnvOTLPProtocol       = "OTEL_EXPORTER_OTLP_PROTOCOL"
	EnvOTLPTracesProtocol = "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"
	// EnvLambdaFunction is set by Lambda; it becomes the faas.name resource attribute.
	EnvLambdaFunction = "AWS_LAMBDA_FUNCTION_NAME"
)

// Exporter names accepted in OTEL_TRACES_EXPORTER.
const (
	ExporterNone    = "none"
	ExporterConsole = "console"
	ExporterOTLP    = "otlp"
)

// DefaultOTLPEndpoint is where an OTLP exporter sends without an endpoint
// variable: a collector on the same host (the collector Lambda layer listens there).
const DefaultOTLPEndpoint = "http://localhost:4318/v1/traces"

// flushTimeout bounds the export at the end of an invocation: traces are
// worth less than the function's own deadline.
const flushTimeout = 2 * time.Second

// Provider is the functions' tracer provider: the SDK's when tracing is on,
// the no-op one when off. A nil *Provider is off.
type Provider struct {
	sdk *sdktrace.TracerProvider // nil when off
	log *slog.Logger
	// failures counts failed exports (observability.MetricTracesNotExported),
	// so that an exporter that keeps failing (403, unreachable) raises an alarm
	// instead of only warning in the log. Nil: not counted.
	failures *observability.Metrics
}

// Settings are what FromEnv needs besides the environment.
type Settings struct {
	// Service names the function in service.name ("upvest-webhooks-" + Service)
	// unless OTEL_SERVICE_NAME is set.
	Service string
	// Console receives the console exporter's spans, one JSON object per line; default os.Stdout.
	Console io.Writer
	// Log receives flush errors; default: discarded.
	Log *slog.Logger
	// Metrics receives one EMF line per failed export, counting
	// TracesNotExported with the dimension Service; default os.Stdout (the Lambda log).
	Metrics io.Writer
	// AWS gives the region and credentials for signing exports to CloudWatch's OTLP endpoint.
	AWS aws.Config
}

// Off returns a provider whose tracers record nothing.
func Off() *Provider { return nil }

// NewSDK wraps an SDK tracer provider (tests use one with an in-memory exporter).
func NewSDK(tp *sdktrace.TracerProvider, log *slog.Logger) *Provider {
	return &Provider{sdk: tp, log: log}
}

// Enabled reports whether spans are recorded and exported.
func (p *Provider) Enabled() bool { return p != nil && p.sdk != nil }

// TracerProvider returns the provider to hand to instrumented code.
func (p *Provider) TracerProvider() trace.TracerProvider {
	if !p.Enabled() {
		return noop.NewTracerProvider()
	}
	return p.sdk
}

// Flush exports the spans ended so far. In Lambda it must run before the
// handler returns: a frozen sandbox exports nothing.
func (p *Provider) Flush(ctx context.Context) error {
	if !p.Enabled() {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), flushTimeout)
	defer cancel()
	if err := p.sdk.ForceFlush(ctx); err != nil {
		return fmt.Errorf("flush traces: %w", err)
	}
	return nil
}

// Shutdown flushes and stops the exporter (local runs, at exit).
func (p *Provider) Shutdown(ctx context.Context) error {
	if !p.Enabled() {
		return nil
	}
	if err := p.sdk.Shutdown(ctx); err != nil {
		return fmt.Errorf("shut down tracing: %w", err)
	}
	return nil
}

// Flushing wraps a Lambda handler so that every invocation's spans are
// exported before it returns. Off, it returns h itself.
func Flushing[Req, Resp any](p *Provider, h func(context.Context, Req) (Resp, error)) func(context.Context, Req) (Resp, error) {
	if !p.Enabled() {
		return h
	}
	return func(ctx context.Context, req Req) (Resp, error) {
		resp, err := h(ctx, req)
		if ferr := p.Flush(ctx); ferr != nil {
			// Losing traces must not fail (and so redeliver) the invocation;
			// it is counted, and the count alarms (infra: TracesNotExported).
			p.exportFailed(ferr)
		}
		return resp, err
	}
}

// exportFailed logs a failed export and counts it.
func (p *Provider) exportFailed(err error) {
	if p.log != nil {
		p.log.Warn("traces not exported", "error", err.Error())
	}
	if p.failures == nil {
		return
	}
	p.failures.Add(observability.MetricTracesNotExported, 1)
	if ferr := p.failures.Flush(); ferr != nil && p.log != nil {
		p.log.Warn("traces not exported: metric not written", "error", ferr.Error())
	}
}

// FromEnv builds the provider the environment asks for: off by default.
func FromEnv(ctx context.Context, getenv func(string) string, s Settings) (*Provider, error) {
	if strings.EqualFold(strings.TrimSpace(getenv(EnvSDKDisabled)), "true") {
		return Off(), nil
	}
	var exporter sdktrace.SpanExporter
	switch name := strings.ToLower(strings.TrimSpace(getenv(EnvExporter))); name {
	case "", ExporterNone:
		return Off(), nil
	case ExporterConsole:
		out := s.Console
		if out == nil {
			out = os.Stdout
		}
		exp, err := stdouttrace.New(stdouttrace.WithWriter(out))
		if err != nil {
			return nil, fmt.Errorf("%s=console: %w", EnvExporter, err)
		}
		exporter = exp
	case ExporterOTLP:
		exp, err := otlpExporter(ctx, getenv, s.AWS)
		if err != nil {
			return nil, err
		}
		exporter = exp
	default:
		return nil, fmt.Errorf("%s=%q: want %s, %s or %s", EnvExporter, name, ExporterNone, ExporterConsole, ExporterOTLP)
	}
	res, err := newResource(ctx, getenv, s)
	if err != nil {
		return nil, err
	}
	// The sampler follows OTEL_TRACES_SAMPLER (default: parent-based, always on).
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exporter), sdktrace.WithResource(res))
	p := NewSDK(tp, s.Log)
	metricsOut := s.Metrics
	if metricsOut == nil {
		metricsOut = os.Stdout
	}
	p.failures = observability.NewMetrics(metricsOut, s.Service)
	return p, nil
}

func newResource(ctx context.Context, getenv func(string) string, s Settings) (*resource.Resource, error) {
	service := getenv(EnvServiceName)
	if service == "" {
		service = "upvest-webhooks-" + s.Service
	}
	attrs := []attribute.KeyValue{attribute.String("service.name", service), attribute.String("cloud.provider", "aws")}
	if s.AWS.Region != "" {
		attrs = append(attrs, attribute.String("cloud.region", s.AWS.Region))
	}
	if fn := getenv(EnvLambdaFunction); fn != "" {
		attrs = append(attrs, attribute.String("faas.name", fn))
	}
	// OTEL_RESOURCE_ATTRIBUTES may add more; the service name above wins.
	res, err := resource.New(ctx, resource.WithFromEnv(), resource.WithTelemetrySDK(), resource.WithAttributes(attrs...))
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		return nil, fmt.Errorf("tracing resource: %w", err)
	}
	return res, nil
}

// otlpExporter sends OTLP/HTTP protobuf to the configured endpoint. An
// endpoint on xray.<region>.amazonaws.com is CloudWatch's: its requests are
// signed with the function's credentials, so no collector is needed.
func otlpExporter(ctx context.Context, getenv func(string) string, awsCfg aws.Config) (sdktrace.SpanExporter, error) {
	for _, name := range []string{EnvOTLPTracesProtocol, EnvOTLPProtocol} {
		if p := getenv(name); p != "" && p != "http/protobuf" {
			return nil, fmt.Errorf("%s=%q: only http/protobuf is supported", name, p)
		}
	}
	endpoint, err := TracesEndpoint(getenv)
	if err != nil {
		return nil, err
	}
	opts := []otlptracehttp.Option{otlptracehttp.WithEndpointURL(endpoint)}
	if region, ok := xrayRegion(endpoint); ok {
		if awsCfg.Credentials == nil {
			return nil, fmt.Errorf("%s %s needs AWS credentials to sign with", EnvOTLPTracesEndpoint, endpoint)
		}
		opts = append(opts, otlptracehttp.WithHTTPClient(&http.Client{
			Timeout:   10 * time.Second,
			Transport: &SigV4Transport{Credentials: awsCfg.Credentials, Region: region, Service: "xray"},
		}))
	}
	exp, err := otlptracehttp.New(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("otlp trace exporter: %w", err)
	}
	return exp, nil
}

// TracesEndpoint is the URL OTLP spans go to: the traces endpoint variable,
// else the base endpoint with /v1/traces, else the local collector's.
func TracesEndpoint(getenv func(string) string) (string, error) {
	endpoint := getenv(EnvOTLPTracesEndpoint)
	source := EnvOTLPTracesEndpoint
	if endpoint == "" {
		if base := getenv(EnvOTLPEndpoint); base != "" {
			endpoint, source = strings.TrimSuffix(base, "/")+"/v1/traces", EnvOTLPEndpoint
		}
	}
	if endpoint == "" {
		return DefaultOTLPEndpoint, nil
	}
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("%s=%q: want an http(s) URL", source, endpoint)
	}
	return endpoint, nil
}

// xrayRegion returns the region of CloudWatch's OTLP traces endpoint,
// https://xray.<region>.amazonaws.com/v1/traces.
func xrayRegion(endpoint string) (string, bool) {
	u, err := url.Parse(endpoint)
	if err != nil {
		return "", false
	}
	labels := strings.Split(u.Hostname(), ".")
	if len(labels) < 4 || labels[0] != "xray" || !slices.Equal(labels[2:4], []string{"amazonaws", "com"}) {
		return "", false
	}
	return labels[1], true
}
