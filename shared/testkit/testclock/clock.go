// Package testclock is a settable clock for tests: time stands still until
// the test moves it, so nothing depends on how fast the machine is.
package testclock

import (
	"context"
	"sync"
	"time"
)

// Clock stands at its time until advanced; the zero value stands at the zero
// time. It is safe for concurrent use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// New returns a clock standing at t.
func New(t time.Time) *Clock { return &Clock{now: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock on.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// SleepUntil moves the clock to until (never back) and returns at once, so
// that a rate limiter (longrun.Clock) is checked exactly, without waiting.
func (c *Clock) SleepUntil(ctx context.Context, until time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if until.After(c.now) {
		c.now = until
	}
	return ctx.Err()
}
