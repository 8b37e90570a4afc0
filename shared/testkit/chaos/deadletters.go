package chaos

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/ops"
)

// Queues are a run's queues and their dead-letter queues, by domain.
type Queues struct {
	SQS    ops.QueueAPI
	Queues map[events.Domain]string
	DLQs   map[events.Domain]string
}

// RedriveReport is what the run found in its dead-letter queues, and what
// redriving them did.
type RedriveReport struct {
	Before   map[events.Domain]int      // messages in each DLQ after the storm and the wait
	Redriven map[events.Domain][]string // event ids the redrive moved back, per domain
	CameBack int                        // redriven messages that failed into a DLQ again during the redrive
	After    map[events.Domain]int      // messages in each DLQ after the redrive and the second wait
}

// Total adds up per-domain counts.
func Total(counts map[events.Domain]int) int {
	n := 0
	for _, c := range counts {
		n += c
	}
	return n
}

// RedrivenCount is the number of messages moved back.
func (r RedriveReport) RedrivenCount() int {
	n := 0
	for _, ids := range r.Redriven {
		n += len(ids)
	}
	return n
}

// PerDomain is per-domain detail, e.g. "ORDER 2, POSITION 1".
func PerDomain(counts map[events.Domain]int) string {
	var parts []string
	for d, n := range counts {
		if n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", d, n))
		}
	}
	sort.Strings(parts)
	if len(parts) == 0 {
		return "none"
	}
	return fmt.Sprint(parts)
}

// RedriveDeadLetters does what the operator does when the PipelineStuck
// alarm fires: count the messages in every dead-letter queue, run the ops
// tool's redrive (ops.Redrive) on each domain that has any, let the pipeline
// work (settle), and count again.
func RedriveDeadLetters(ctx context.Context, q Queues, settle func(context.Context) error) (RedriveReport, error) {
	rep := RedriveReport{Redriven: map[events.Domain][]string{}}
	var err error
	if rep.Before, err = q.CountDeadLetters(ctx); err != nil {
		return rep, err
	}
	for _, d := range sortedDomains(rep.Before) {
		if rep.Before[d] == 0 {
			continue
		}
		res, err := ops.Redrive(ctx, q.SQS, q.DLQs[d], q.Queues[d], 0)
		rep.Redriven[d] = res.Moved
		rep.CameBack += res.CameBack
		if err != nil {
			return rep, fmt.Errorf("redrive %s: %w", d, err)
		}
	}
	if rep.RedrivenCount() > 0 {
		if err := settle(ctx); err != nil {
			return rep, err
		}
	}
	rep.After, err = q.CountDeadLetters(ctx)
	return rep, err
}

// CountDeadLetters returns the messages in each dead-letter queue (visible,
// in flight and delayed: nobody consumes a DLQ, so all of them wait there).
func (q Queues) CountDeadLetters(ctx context.Context) (map[events.Domain]int, error) {
	out := map[events.Domain]int{}
	for d, url := range q.DLQs {
		n, err := q.depth(ctx, url)
		if err != nil {
			return nil, fmt.Errorf("count the dead letters of %s: %w", d, err)
		}
		out[d] = n
	}
	return out, nil
}

// WaitIdle returns once every queue (not the DLQs) has held nothing, neither
// visible nor in flight nor delayed, at polls checks in a row, every interval
// apart: no worker is handling a message and none is waiting for one, so
// what is not settled by then is in a DLQ (or lost).
func (q Queues) WaitIdle(ctx context.Context, polls int, interval time.Duration) error {
	for quiet := 0; quiet < polls; {
		total := 0
		for d, url := range q.Queues {
			n, err := q.depth(ctx, url)
			if err != nil {
				return fmt.Errorf("depth of the %s queue: %w", d, err)
			}
			total += n
		}
		if total == 0 {
			quiet++
		} else {
			quiet = 0
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(interval):
		}
	}
	return nil
}

func (q Queues) depth(ctx context.Context, url string) (int, error) {
	names := []sqstypes.QueueAttributeName{
		sqstypes.QueueAttributeNameApproximateNumberOfMessages,
		sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
		sqstypes.QueueAttributeNameApproximateNumberOfMessagesDelayed,
	}
	out, err := q.SQS.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url), AttributeNames: names})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, name := range names {
		v, _ := strconv.Atoi(out.Attributes[string(name)])
		n += v
	}
	return n, nil
}

func sortedDomains(m map[events.Domain]int) []events.Domain {
	out := make([]events.Domain, 0, len(m))
	for d := range m {
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}
