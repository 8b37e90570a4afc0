package chaos

import (
	"context"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/upvest-webhooks/upvest-webhooks/shared/local/webhookclient"
)

// StormOptions shape the sending.
type StormOptions struct {
	Client      *webhookclient.Client
	Concurrency int // requests in flight (default 8)
	// RedeliveryRate is the share of requests Upvest sends again after a 200
	// (default 0.3); half of those go at the same time as the first delivery.
	RedeliveryRate float64
	// BackoffUnit scales Upvest's retry schedule (1, 2, 3, 5, 8, ... units,
	// capped at MaxBackoff); tests shorten it.
	BackoffUnit time.Duration
	MaxBackoff  time.Duration
	Seed        uint64
	// Progress is told each request acknowledged (first time only).
	Progress func(acked, total int)
}

// StormResult is what the storm saw.
type StormResult struct {
	Acked                  map[*Request]bool
	Attempts               int // requests sent, retries and redeliveries included
	Retries                int // attempts after an answer other than 200, or none
	Redeliveries           int // requests sent again after a 200
	ConcurrentRedeliveries int
	Answers                map[int]int // status → count (0: no answer)
}

// Backoff is Upvest's retry schedule: 1, 2, 3, 5, 8, 13, ... units, capped.
func Backoff(attempt int, unit, limit time.Duration) time.Duration {
	a, b := 1, 2
	for range attempt {
		a, b = b, a+b
	}
	d := time.Duration(a) * unit
	if limit > 0 && d > limit {
		d = limit
	}
	return d
}

// Storm sends every request of the plan until each is answered 200 (or ctx
// ends), shuffled as planned, with redeliveries.
func Storm(ctx context.Context, p *Plan, opts StormOptions) StormResult {
	if opts.Concurrency < 1 {
		opts.Concurrency = 8
	}
	if opts.RedeliveryRate == 0 {
		opts.RedeliveryRate = 0.3
	}
	if opts.BackoffUnit == 0 {
		opts.BackoffUnit = time.Second
	}
	rng := rand.New(rand.NewPCG(opts.Seed, opts.Seed+7))
	var mu sync.Mutex
	res := StormResult{Acked: map[*Request]bool{}, Answers: map[int]int{}}
	var acked atomic.Int64

	deliver := func(r *Request) {
		for attempt := 0; ctx.Err() == nil; attempt++ {
			out, err := opts.Client.PostBody(ctx, r.Body)
			mu.Lock()
			res.Attempts++
			if err != nil {
				res.Answers[0]++
			} else {
				res.Answers[out.Status]++
			}
			if err == nil && out.OK() {
				first := !res.Acked[r]
				res.Acked[r] = true
				mu.Unlock()
				if first && opts.Progress != nil {
					opts.Progress(int(acked.Add(1)), len(p.Requests)+len(p.Redeliveries))
				}
				return
			}
			res.Retries++
			mu.Unlock()
			select {
			case <-ctx.Done():
			case <-time.After(Backoff(attempt, opts.BackoffUnit, opts.MaxBackoff)):
			}
		}
	}

	var later []*Request
	jobs := make(chan *Request)
	var wg sync.WaitGroup
	for range opts.Concurrency {
		wg.Go(func() {
			for r := range jobs {
				deliver(r)
			}
		})
	}
	var twins sync.WaitGroup
	for _, r := range p.Requests {
		if rng.Float64() < opts.RedeliveryRate {
			res.Redeliveries++
			if rng.IntN(2) == 0 {
				res.ConcurrentRedeliveries++
				twins.Go(func() { deliver(r) }) // the same request, at the same time
			} else {
				later = append(later, r)
			}
		}
		select {
		case jobs <- r:
		case <-ctx.Done():
		}
	}
	rng.Shuffle(len(later), func(i, j int) { later[i], later[j] = later[j], later[i] })
	for _, r := range later {
		select {
		case jobs <- r:
		case <-ctx.Done():
		}
	}
	close(jobs)
	wg.Wait()
	twins.Wait()
	for _, r := range p.Redeliveries { // after every other request was acknowledged
		deliver(r)
	}
	return res
}
