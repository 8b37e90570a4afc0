package deadline_test

import (
	"context"
	"testing"
	"time"

	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/deadline"
)

func TestBeforeEndsAtMostAQuarterOfTheTimeLeftEarly(t *testing.T) {
	const max = 2 * time.Second
	for _, c := range []struct{ timeout, margin time.Duration }{
		{20 * time.Second, max}, // ingest's timeout: the whole margin
		{4 * time.Second, time.Second},
		{200 * time.Millisecond, 50 * time.Millisecond},
	} {
		invocation, cancel := context.WithTimeout(context.Background(), c.timeout)
		end, _ := invocation.Deadline()
		ctx, stop := deadline.Before(invocation, max)
		got, ok := ctx.Deadline()
		if margin := end.Sub(got); !ok || margin < c.margin-50*time.Millisecond || margin > c.margin {
			t.Errorf("timeout %v: margin %v, want %v", c.timeout, margin, c.margin)
		}
		stop()
		if ctx.Err() == nil {
			t.Errorf("timeout %v: stop did not end the work's context", c.timeout)
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
