package testclock

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/longrun"
)

func TestClockMovesOnlyWhenAdvanced(t *testing.T) {
	start := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	c := New(start)
	if got := c.Now(); !got.Equal(start) {
		t.Fatalf("Now = %v, want %v", got, start)
	}
	c.Advance(1500 * time.Millisecond)
	if got, want := c.Now(), start.Add(1500*time.Millisecond); !got.Equal(want) {
		t.Fatalf("after Advance: Now = %v, want %v", got, want)
	}
	var zero Clock
	if !zero.Now().IsZero() {
		t.Fatalf("zero Clock: Now = %v, want the zero time", zero.Now())
	}
}

func TestClockIsSafeForConcurrentUse(t *testing.T) {
	c := New(time.Time{})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				c.Advance(time.Second)
				_ = c.Now()
			}
		})
	}
	wg.Wait()
	if got := c.Now().Sub(time.Time{}); got != 800*time.Second {
		t.Fatalf("after 800 advances of 1s: %v", got)
	}
}

// A Clock is a longrun.Clock: a rate limiter's sleeps move it, never back.
var _ longrun.Clock = (*Clock)(nil)

func TestSleepUntilMovesTheClockOnNeverBack(t *testing.T) {
	start := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	c := New(start)
	if err := c.SleepUntil(context.Background(), start.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := c.SleepUntil(context.Background(), start); err != nil {
		t.Fatal(err)
	}
	if got, want := c.Now(), start.Add(time.Minute); !got.Equal(want) {
		t.Fatalf("Now = %v, want %v: a sleep until the past moved the clock back", got, want)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.SleepUntil(ctx, start.Add(time.Hour)); !errors.Is(err, context.Canceled) {
		t.Fatalf("SleepUntil with a cancelled context = %v, want context.Canceled", err)
	}
}
