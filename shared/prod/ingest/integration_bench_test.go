package ingest_test

import (
	"encoding/json"
	"fmt"
	"testing"
)

// BenchmarkSignedRequestToLocalServers measures one signed 10-event request
// through the real handler, DynamoDB Local and the SQS server: signature check,
// ten conditional puts, one SendMessageBatch, ten status updates. Local servers
// are slower than the real services; the figure is for comparing changes.
func BenchmarkSignedRequestToLocalServers(b *testing.B) {
	h := newHarness(b)
	const perRequest = 10
	b.ReportAllocs()
	for b.Loop() {
		evs := make([]json.RawMessage, perRequest)
		for i := range evs {
			evs[i], _ = withFreshID(b, []byte(fmt.Sprintf(`{"id":"x","created_at":"2024-01-01T00:00:00Z","type":"ORDER.NEW","object":{"id":"o-%d","status":"NEW"},"webhook_id":"w"}`, i)))
		}
		if status, _ := h.post(b, envelope(b, evs...), false); status != 200 {
			b.Fatalf("status %d", status)
		}
	}
	b.ReportMetric(float64(b.N*perRequest)/b.Elapsed().Seconds(), "events/s")
}
