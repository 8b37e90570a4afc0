// Package observability gives every function the same structured JSON logs and
// CloudWatch metrics in Embedded Metric Format (EMF): metrics are log lines that
// CloudWatch turns into metrics, so no API call sits on the request path.
package observability

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"
	"sync"
	"time"
)

// Namespace is the CloudWatch namespace of every metric the project emits.
const Namespace = "UpvestWebhooks"

// Metric names. Alarms and dashboards in infra/ refer to these.
const (
	MetricReceived        = "EventsReceived"        // new events recorded in the ledger
	MetricDuplicate       = "EventsDuplicate"       // events (or kept requests) already recorded and settled
	MetricRefanned        = "EventsRefanned"        // RECEIVED records fanned out again
	MetricEnqueued        = "EventsEnqueued"        // events sent to a domain queue
	MetricParked          = "EventsParked"          // events kept aside as unusable (ingest or worker)
	MetricRequestsParked  = "RequestsParked"        // authentic bodies that are not envelopes, kept whole
	MetricUnrouted        = "EventsUnrouted"        // events of a category the routing table lacks
	MetricUnauthorized    = "RequestsUnauthorized"  // 401 (bad signature) and 403 (source address) answers
	MetricRejected        = "RequestsRejected"      // 405 (not POST) and 400 (body not base64) answers
	MetricFailed          = "RequestsFailed"        // 500 and 503 answers: a dependency failed, Upvest retries
	MetricApplied         = "EventsApplied"         // worker changed a state row
	MetricSkippedStale    = "EventsSkippedStale"    // worker saw an older event than the row
	MetricWorkerDuplicate = "EventsWorkerDuplicate" // worker saw an event already applied
	MetricAhead           = "EventsAhead"           // events parked because their ordering time lies too far past the clock (ingest or worker)
	MetricConflicting     = "EventsConflicting"     // redeliveries of a recorded id with other bytes, kept aside
	// MetricTracesNotExported counts invocations whose spans could not be
	// exported (shared/prod/tracing), e.g. a 403 from the OTLP endpoint.
	MetricTracesNotExported = "TracesNotExported"
)

// EnvStack names the deployment (the CloudFormation stack) a function runs
// in; the stack sets it. Its metrics then carry the dimension Stack as well
// as Service, so that two deployments in one account and region (sandbox and
// live) never count, and alarm, on each other's events. Unset (the local
// run), the metrics have Service alone.
const EnvStack = "UPVEST_STACK"

// Service names, the "Service" dimension of every metric; alarms in infra/ use them.
const ServiceIngest = "ingest"

// WorkerService is the service name of a domain's worker, e.g. "worker-orders".
func WorkerService(domain string) string { return "worker-" + domain }

// NewLogger returns a JSON logger tagged with the service name. The level
// comes from LOG_LEVEL (debug, info, warn, error; default info).
func NewLogger(w io.Writer, service string) *slog.Logger {
	level := slog.LevelInfo
	_ = level.UnmarshalText([]byte(os.Getenv("LOG_LEVEL")))
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level})).With("service", service)
}

// Metrics collects counters for one invocation and writes them as one EMF line.
// It is safe for concurrent use.
type Metrics struct {
	mu      sync.Mutex
	w       io.Writer
	service string
	stack   string // EnvStack; "" for no Stack dimension
	counts  map[string]float64
	now     func() time.Time
}

// NewMetrics writes EMF lines to w, with the dimension Service=service, and
// Stack=$UPVEST_STACK when that is set.
func NewMetrics(w io.Writer, service string) *Metrics {
	return &Metrics{w: w, service: service, stack: os.Getenv(EnvStack), counts: map[string]float64{}, now: time.Now}
}

// Add adds n to the named counter.
func (m *Metrics) Add(name string, n int) {
	if n == 0 {
		return
	}
	m.mu.Lock()
	m.counts[name] += float64(n)
	m.mu.Unlock()
}

// Flush writes the counters collected since the last flush as one EMF log line
// and resets them. It writes nothing when nothing was counted.
func (m *Metrics) Flush() error {
	m.mu.Lock()
	counts := m.counts
	m.counts = map[string]float64{}
	m.mu.Unlock()
	if len(counts) == 0 {
		return nil
	}
	names := make([]string, 0, len(counts))
	for name := range counts {
		names = append(names, name)
	}
	sort.Strings(names)
	defs := make([]map[string]string, len(names))
	doc := map[string]any{"Service": m.service}
	dimensions := []string{"Service"}
	if m.stack != "" {
		doc["Stack"] = m.stack
		dimensions = append(dimensions, "Stack")
	}
	for i, name := range names {
		defs[i] = map[string]string{"Name": name, "Unit": "Count"}
		doc[name] = counts[name]
	}
	doc["_aws"] = map[string]any{
		"Timestamp": m.now().UnixMilli(),
		"CloudWatchMetrics": []any{map[string]any{
			"Namespace":  Namespace,
			"Dimensions": [][]string{dimensions},
			"Metrics":    defs,
		}},
	}
	line, err := json.Marshal(doc)
	if err != nil {
		return fmt.Errorf("encode metrics: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, err := io.WriteString(m.w, strings.TrimSpace(string(line))+"\n"); err != nil {
		return fmt.Errorf("write metrics: %w", err)
	}
	return nil
}
