package observability

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/upvest-webhooks/upvest-webhooks/shared/testkit/golden"
)

func TestFlushWritesOneEMFLine(t *testing.T) {
	var out bytes.Buffer
	m := NewMetrics(&out, "ingest")
	m.now = func() time.Time { return time.UnixMilli(1_795_000_000_000) }
	m.Add(MetricReceived, 3)
	m.Add(MetricParked, 1)
	m.Add(MetricReceived, 2)
	m.Add(MetricDuplicate, 0) // zero counts are not metrics
	if err := m.Flush(); err != nil {
		t.Fatal(err)
	}
	golden.Assert(t, filepath.Join("testdata", "emf.golden.json"), out.Bytes())
	// The line must be what CloudWatch expects: the _aws block names every value.
	var doc struct {
		AWS struct {
			CloudWatchMetrics []struct {
				Namespace  string
				Dimensions [][]string
				Metrics    []struct{ Name string }
			}
		} `json:"_aws"`
		Service        string
		EventsReceived float64
	}
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Service != "ingest" || doc.EventsReceived != 5 || doc.AWS.CloudWatchMetrics[0].Namespace != Namespace {
		t.Errorf("decoded %+v", doc)
	}

	out.Reset()
	if err := m.Flush(); err != nil || out.Len() != 0 {
		t.Errorf("a flush with nothing counted wrote %q (err %v)", out.String(), err)
	}
}

func TestMetricsAreSafeForConcurrentUse(t *testing.T) {
	var out bytes.Buffer
	m := NewMetrics(&out, "worker-orders")
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m.Add(MetricApplied, 1)
		}()
	}
	wg.Wait()
	if err := m.Flush(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), `"EventsApplied":50`) {
		t.Errorf("got %s", out.String())
	}
}

func TestLoggerLevelFromEnvironment(t *testing.T) {
	t.Setenv("LOG_LEVEL", "warn")
	var out bytes.Buffer
	log := NewLogger(&out, "ingest")
	log.Info("hidden")
	log.Warn("shown", "event_id", "e-1")
	line := strings.TrimSpace(out.String())
	if strings.Contains(line, "hidden") || !strings.Contains(line, `"service":"ingest"`) || !strings.Contains(line, `"event_id":"e-1"`) {
		t.Errorf("log output %q", line)
	}
}

// With UPVEST_STACK set (the deployed stack sets it), every metric also has
// the dimension Stack, so two stacks in one account and region keep apart.
func TestFlushAddsTheStackDimension(t *testing.T) {
	t.Setenv(EnvStack, "upvest-webhooks-live")
	var out bytes.Buffer
	m := NewMetrics(&out, "worker-orders")
	m.Add(MetricParked, 1)
	if err := m.Flush(); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		AWS struct {
			CloudWatchMetrics []struct{ Dimensions [][]string }
		} `json:"_aws"`
		Service, Stack string
	}
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Service != "worker-orders" || doc.Stack != "upvest-webhooks-live" || len(doc.AWS.CloudWatchMetrics) != 1 ||
		!reflect.DeepEqual(doc.AWS.CloudWatchMetrics[0].Dimensions, [][]string{{"Service", "Stack"}}) {
		t.Errorf("line %s", out.String())
	}
}
