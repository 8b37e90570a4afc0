package perf

import (
	"net/http"
	"testing"
	"time"
)

type blockingClient struct{ release chan struct{} }

func (c blockingClient) Do(*http.Request) (*http.Response, error) {
	<-c.release
	return &http.Response{StatusCode: http.StatusOK}, nil
}

// The meter counts only the time with no DynamoDB request outstanding; other
// services' requests neither make it busy nor idle.
func TestIdleMeterCountsTimeWithNoDynamoDBRequestOutstanding(t *testing.T) {
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	next := blockingClient{release: make(chan struct{})}
	m := NewIdleMeter(next)
	m.now, m.since = func() time.Time { return clock }, clock
	request := func(target string) *http.Request {
		r, _ := http.NewRequest(http.MethodPost, "http://localhost/", nil)
		r.Header.Set("X-Amz-Target", target)
		return r
	}
	started := func(want int) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
			m.mu.Lock()
			n := m.outstanding
			m.mu.Unlock()
			if n == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("outstanding = %d, want %d", n, want)
			}
		}
	}

	clock = clock.Add(2 * time.Second) // idle: nothing sent yet
	done := make(chan struct{})
	go func() { _, _ = m.Do(request("DynamoDB_20120810.PutItem")); close(done) }()
	started(1)
	go func() { _, _ = m.Do(request("AmazonSQS.ReceiveMessage")) }() // not DynamoDB: no effect
	clock = clock.Add(3 * time.Second)                               // busy
	if got := m.Idle(); got != 2*time.Second {
		t.Fatalf("idle while a put is outstanding = %v, want 2s", got)
	}
	next.release <- struct{}{} // one of the two returns; which does not matter for what follows
	next.release <- struct{}{}
	<-done
	started(0)
	clock = clock.Add(4 * time.Second) // idle again
	if got := m.Idle(); got != 6*time.Second {
		t.Fatalf("idle = %v, want 6s (2s before the put, 4s after it)", got)
	}
}
