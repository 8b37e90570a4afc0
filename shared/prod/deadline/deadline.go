// Package deadline lets a Lambda handler answer for itself before Lambda
// stops it. Lambda discards the answer of an invocation that runs out of time:
// ingest's request then gets a bare 5xx with no log line or metric, and a
// worker's batch comes back whole, the messages it applied too. Work done on a
// context from Before ends first, leaving time to answer for what is done.
package deadline

import (
	"context"
	"time"
)

// Before returns ctx ending a margin before its deadline: at most max, and at
// most a quarter of the time left, so that a short invocation still works for
// most of it. Without a deadline, the work may run as long as ctx.
func Before(ctx context.Context, max time.Duration) (context.Context, context.CancelFunc) {
	end, ok := ctx.Deadline()
	if !ok {
		return context.WithCancel(ctx)
	}
	margin := min(max, time.Until(end)/4)
	return context.WithDeadline(ctx, end.Add(-margin))
}
