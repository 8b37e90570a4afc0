// Package longrun holds what long operator runs (replays, rebuilds) share: a
// write-unit rate limiter, a checkpoint file to resume from, and progress on a
// terminal or as plain lines.
package longrun

import (
	"context"
	"sync"
	"time"
)

// DefaultWriteUnitsPerSecond is the rate a rebuild or replay writes at unless
// told otherwise: a tenth of an on-demand table's default per-partition and
// warm throughput (1,000 WCU/s per partition; on-demand tables start at 4,000
// WCU/s), so live traffic keeps nine tenths of even a cold table.
const DefaultWriteUnitsPerSecond = 100

// Clock is time as the limiter and progress see it: the wall clock, or a fake
// one in tests, so that a rate is checked without waiting for it.
type Clock interface {
	Now() time.Time
	// SleepUntil waits until t or until ctx is done.
	SleepUntil(ctx context.Context, t time.Time) error
}

// WallClock is the real clock.
type WallClock struct{}

func (WallClock) Now() time.Time { return time.Now() }

func (WallClock) SleepUntil(ctx context.Context, until time.Time) error {
	d := time.Until(until)
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Limiter spaces units (write units) at a fixed rate, shared by every
// goroutine of a run. It reserves time slots: a call for n units waits until
// the slot after everything reserved before it, then takes n/rate seconds.
// There is no burst, so over any run of many calls the units per second stay
// at the rate (the first call's units are the only excess). A rate of 0 or
// less means no limit.
type Limiter struct {
	rate  float64
	clock Clock
	mu    sync.Mutex
	next  time.Time // when the next reservation may start
	total float64   // units accounted
}

// NewLimiter returns a limiter at rate units per second on clock (nil: wall clock).
func NewLimiter(rate float64, clock Clock) *Limiter {
	if clock == nil {
		clock = WallClock{}
	}
	return &Limiter{rate: rate, clock: clock}
}

// Wait reserves n units and waits for their slot.
func (l *Limiter) Wait(ctx context.Context, n float64) error {
	if l == nil || l.rate <= 0 {
		return ctx.Err()
	}
	l.mu.Lock()
	now := l.clock.Now()
	start := l.next
	if start.Before(now) {
		start = now
	}
	l.next = start.Add(l.span(n))
	l.total += n
	l.mu.Unlock()
	return l.clock.SleepUntil(ctx, start)
}

// Settle corrects a reservation once the true cost is known (DynamoDB's
// consumed capacity): the difference moves the next slot, so that estimates
// that were low or high do not drift the rate.
func (l *Limiter) Settle(reserved, actual float64) {
	if l == nil || l.rate <= 0 || actual == reserved {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.next = l.next.Add(l.span(actual - reserved))
	l.total += actual - reserved
}

// Units is the units accounted so far, corrections included.
func (l *Limiter) Units() float64 {
	if l == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total
}

func (l *Limiter) span(n float64) time.Duration {
	return time.Duration(n / l.rate * float64(time.Second))
}
