package perf

import (
	"net/http"
	"sync"
	"testing"
	"time"
)

type blockingClient struct{ release chan struct{} }

func (c blockingClient) Do(*http.Request) (*http.Response, error) {
	<-c.release
	return &http.Response{StatusCode: http.StatusOK}, nil
}

// waitOutstanding waits until the meter has want requests outstanding.
func waitOutstanding(t *testing.T, m *IdleMeter, want int) {
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

// The meter counts only the time with no DynamoDB request outstanding; other
// services' requests neither make it busy nor idle.
func TestIdleMeterCountsTimeWithNoDynamoDBRequestOutstanding(t *testing.T) {
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	next := blockingClient{release: make(chan struct{})}
	m := NewIdleMeter(next, 1)
	m.now, m.since = func() time.Time { return clock }, clock
	request := func(target string) *http.Request {
		r, _ := http.NewRequest(http.MethodPost, "http://localhost/", nil)
		r.Header.Set("X-Amz-Target", target)
		return r
	}

	clock = clock.Add(2 * time.Second) // idle: nothing sent yet
	done := make(chan struct{})
	go func() { _, _ = m.Do(request("DynamoDB_20120810.PutItem")); close(done) }()
	waitOutstanding(t, m, 1)
	go func() { _, _ = m.Do(request("AmazonSQS.ReceiveMessage")) }() // not DynamoDB: no effect
	clock = clock.Add(3 * time.Second)                               // busy
	if got := m.Read(); got.Idle != 2*time.Second || got.InFlight != 3*time.Second {
		t.Fatalf("reading while a put is outstanding = %+v, want 2s idle and 3s of one request in flight", got)
	}
	next.release <- struct{}{} // one of the two returns; which does not matter for what follows
	next.release <- struct{}{}
	<-done
	waitOutstanding(t, m, 0)
	clock = clock.Add(4 * time.Second) // idle again
	got := m.Read()
	if got.Idle != 6*time.Second {
		t.Fatalf("idle = %v, want 6s (2s before the put, 4s after it)", got.Idle)
	}
	if mean := got.MeanInFlight(9 * time.Second); mean != 1 {
		t.Fatalf("mean in flight while busy = %v, want 1 (one put over the 3 busy seconds)", mean)
	}
}

// Requests beyond the slots wait for one, so they do not count as in flight:
// the mean in flight while busy tells how full a side kept the slots.
func TestIdleMeterCountsInFlightUpToItsSlots(t *testing.T) {
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	next := blockingClient{release: make(chan struct{})}
	m := NewIdleMeter(next, 2)
	m.now, m.since = func() time.Time { return clock }, clock
	before := m.Read()
	var done sync.WaitGroup
	send := func() {
		done.Go(func() {
			r, _ := http.NewRequest(http.MethodPost, "http://localhost/", nil)
			r.Header.Set("X-Amz-Target", "DynamoDB_20120810.UpdateItem")
			_, _ = m.Do(r)
		})
	}
	send()
	waitOutstanding(t, m, 1)
	clock = clock.Add(time.Second) // one in flight
	send()
	send()
	waitOutstanding(t, m, 3)
	clock = clock.Add(2 * time.Second) // three outstanding, two of them in flight
	for range 3 {
		next.release <- struct{}{}
	}
	done.Wait()
	clock = clock.Add(time.Second) // idle
	got := m.Read().Sub(before)
	if got.Idle != time.Second || got.InFlight != 5*time.Second {
		t.Fatalf("reading = %+v, want 1s idle and 5 request-seconds in flight (1×1s + 2×2s)", got)
	}
	if mean := got.MeanInFlight(4 * time.Second); mean != 5.0/3 {
		t.Fatalf("mean in flight while busy = %v, want 5/3", mean)
	}
}
