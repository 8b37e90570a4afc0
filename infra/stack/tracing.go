package stack

import (
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/jsii-runtime-go"

	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/observability"
)

// xraySpanActions are what CloudWatch's OTLP traces endpoint
// (https://xray.<region>.amazonaws.com/v1/traces) checks: PutSpans to send
// spans, PutSpansForIndexing to index them as trace summaries (Transaction
// Search). Active tracing's PutTraceSegments does not cover them. Neither
// action has resource-level permissions (AWS's "Actions, resources, and
// condition keys for AWS X-Ray"), so the resource is "*".
var xraySpanActions = []string{"xray:PutSpans", "xray:PutSpansForIndexing"}

// grantTraceExport lets a function that exports OpenTelemetry traces send
// them to the endpoint otelTraces names: only with otelTraces=xray (the other
// modes print or send to a local collector, which needs no AWS permission).
func grantTraceExport(fn *GoFunction, cfg Config) {
	if cfg.OTelTraces == OTelXRay {
		fn.allow(xraySpanActions, jsii.String("*"))
	}
}

// exportsTraces reports whether the functions send spans somewhere that can
// refuse them (OTLP to X-Ray or to a collector), so failed exports can happen.
func (c Config) exportsTraces() bool {
	return c.OTelTraces == OTelXRay || c.OTelTraces == OTelCollector
}

// tracesNotExportedMetrics are the TracesNotExported counters (shared/prod/tracing)
// of the functions that export traces: ingest and every worker.
func tracesNotExportedMetrics(p MonitoringProps) []awscloudwatch.IMetric {
	metrics := []awscloudwatch.IMetric{emf(p.Config, observability.MetricTracesNotExported, ServiceIngest)}
	for _, pl := range p.Pipelines {
		metrics = append(metrics, emf(p.Config, observability.MetricTracesNotExported, WorkerService(pl.Domain)))
	}
	return metrics
}
