package ingest

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

// BenchmarkHandle100Events measures the handler's own work for a 100-event
// request (decode, classify, bookkeeping), with in-memory ledger and queues so
// that DynamoDB and SQS latency do not drown it.
func BenchmarkHandle100Events(b *testing.B) {
	events := make([]string, 100)
	for i := range events {
		events[i] = event(fmt.Sprintf("%08d-1111-4111-8111-111111111111", i), "ORDER.FILLED", `{"id":"o","status":"FILLED","updated_at":"2024-01-01T00:00:00Z"}`)
	}
	body := `{"payload":[` + strings.Join(events, ",") + `]}`
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		s := newService(fakeAuth{}, newFakeLedger(), &fakePublisher{}, Options{})
		resp, _ := s.Handle(context.Background(), request(body))
		if resp.StatusCode != 200 {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
}
