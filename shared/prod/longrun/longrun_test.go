package longrun_test

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/ledger"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/longrun"
	"github.com/upvest-webhooks/upvest-webhooks/shared/testkit/testclock"
)

var epoch = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

func TestLimiterHoldsItsRateAcrossGoroutines(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		rate    float64
		workers int
		calls   int
		units   float64
		actual  float64 // what "DynamoDB" charged per call
	}{
		{"one writer, one unit", 100, 1, 1000, 1, 1},
		{"eight writers", 100, 8, 250, 1, 1},
		{"estimates low, settled high", 50, 4, 200, 1, 2},
		{"estimates high, settled low", 50, 4, 200, 3, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := testclock.New(epoch)
			l := longrun.NewLimiter(tc.rate, clock)
			var wg sync.WaitGroup
			for range tc.workers {
				wg.Go(func() {
					for range tc.calls {
						if err := l.Wait(context.Background(), tc.units); err != nil {
							t.Error(err)
							return
						}
						l.Settle(tc.units, tc.actual)
					}
				})
			}
			wg.Wait()
			total := float64(tc.workers*tc.calls) * tc.actual
			if l.Units() != total {
				t.Fatalf("accounted %.0f units, want %.0f", l.Units(), total)
			}
			// The last reservation ends at the run's end; its start is what the clock shows.
			got := total / clock.Now().Sub(epoch).Seconds()
			if got < tc.rate*0.9 || got > tc.rate*1.1 {
				t.Fatalf("%.1f units/s, want %.0f ± 10 %%", got, tc.rate)
			}
		})
	}
}

func TestLimiterWithoutRateAndCancelled(t *testing.T) {
	t.Parallel()
	clock := testclock.New(epoch)
	if err := longrun.NewLimiter(0, clock).Wait(context.Background(), 1e9); err != nil || !clock.Now().Equal(epoch) {
		t.Fatalf("no limit: %v, clock moved to %v", err, clock.Now())
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := longrun.NewLimiter(1, nil).Wait(ctx, 10); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled wait: %v", err)
	}
}

func TestCheckpointResumesOnlyItsOwnJob(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "cp.json")
	f := &longrun.CheckpointFile{Path: path}
	if _, resumed, err := f.Load("rebuild orders into t", 2); err != nil || resumed {
		t.Fatalf("fresh load: resumed %v, %v", resumed, err)
	}
	if err := f.Advance(1, ledger.Cursor{After: "id-7"}, map[string]int{"applied": 3}); err != nil {
		t.Fatal(err)
	}
	again := &longrun.CheckpointFile{Path: path}
	cp, resumed, err := again.Load("rebuild orders into t", 2)
	if err != nil || !resumed || cp.Cursors[1].After != "id-7" || cp.Cursors[0] != (ledger.Cursor{}) || cp.Counters["applied"] != 3 {
		t.Fatalf("resume: %+v %v %v", cp, resumed, err)
	}
	if _, _, err := (&longrun.CheckpointFile{Path: path}).Load("rebuild holdings into t", 2); !errors.Is(err, longrun.ErrOtherJob) {
		t.Fatalf("another job's checkpoint: %v, want ErrOtherJob", err)
	}
	if _, _, err := (&longrun.CheckpointFile{Path: path}).Load("rebuild orders into t", 4); !errors.Is(err, longrun.ErrOtherJob) {
		t.Fatalf("other segment count: %v, want ErrOtherJob", err)
	}
	if err := again.Finish(); err != nil {
		t.Fatal(err)
	}
	if _, resumed, err := again.Load("rebuild orders into t", 2); err != nil || resumed {
		t.Fatalf("after Finish: resumed %v, %v", resumed, err)
	}
}

func TestProgressPrintsRateAndETA(t *testing.T) {
	t.Parallel()
	clock := testclock.New(epoch)
	var out bytes.Buffer
	p := &longrun.Progress{W: &out, Clock: clock, Every: time.Second, Label: "rebuild orders"}
	p.Start(1000, 0)
	_ = clock.SleepUntil(context.Background(), epoch.Add(2*time.Second))
	p.Add(200, 100) // 100 items/s read, 50 events/s: 800 items left, 8 s
	p.Done()
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	want := "rebuild orders: 200/~1000 ledger items read, 100 events, 50 events/s, ETA 8s"
	if len(lines) != 2 || lines[0] != want {
		t.Fatalf("progress lines %q, want first %q", lines, want)
	}

	var bar bytes.Buffer
	p = &longrun.Progress{W: &bar, Terminal: true, Clock: clock, Label: "replay"}
	p.Start(100, 0)
	_ = clock.SleepUntil(context.Background(), epoch.Add(10*time.Second))
	p.Add(50, 50)
	if !strings.Contains(bar.String(), "\r") || !strings.Contains(bar.String(), "[###############---------------]  50%") {
		t.Fatalf("terminal progress %q: want a bar redrawn in place", bar.String())
	}
}
