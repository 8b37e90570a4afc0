package deadline_test

import (
	"context"
	"testing"
	"time"

	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/deadline"
)

func TestBeforeEndsAtMostAQuarterOfTheTimeLeftEarly(t *testing.T) {
	const bound = 2 * time.Second
	// The margin depends on the time left when Before reads the clock: it is
	// checked against the time left just before and just after the call, so
	// that a test paused by a loaded machine between two lines cannot fail.
	for _, timeout := range []time.Duration{
		20 * time.Second, // ingest's timeout: the whole margin
		4 * time.Second,  // a quarter: about 1 s
		200 * time.Millisecond,
	} {
		invocation, cancel := context.WithTimeout(context.Background(), timeout)
		end, _ := invocation.Deadline()
		before := time.Now()
		ctx, stop := deadline.Before(invocation, bound)
		after := time.Now()
		got, ok := ctx.Deadline()
		// Past the parent's deadline, the work's context ends with it: no margin.
		most, least := max(0, min(bound, end.Sub(before)/4)), max(0, min(bound, end.Sub(after)/4))
		if margin := end.Sub(got); !ok || margin < least || margin > most {
			t.Errorf("timeout %v: margin %v, want between %v and %v", timeout, margin, least, most)
		}
		stop()
		if ctx.Err() == nil {
			t.Errorf("timeout %v: stop did not end the work's context", timeout)
		}
		cancel()
	}
}

func TestBeforeWithoutADeadlineSetsNone(t *testing.T) {
	ctx, stop := deadline.Before(context.Background(), time.Second)
	if _, ok := ctx.Deadline(); ok {
		t.Error("a context without a deadline got one")
	}
	stop()
	if ctx.Err() == nil {
		t.Error("stop did not end the work's context")
	}
}
