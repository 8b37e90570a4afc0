package longrun

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/ledger"
)

// Checkpoint is where a run stands, saved to a file after every page it
// finished, so that a run stopped by Ctrl-C or a crash resumes where it was.
// Pages are redone at most once (the one in hand when it stopped); every
// write a run makes is conditional or idempotent, so redoing one is harmless.
type Checkpoint struct {
	// Job says what the run does (subcommand and the options that change
	// what it selects or writes); a checkpoint of another job is refused.
	Job      string          `json:"job"`
	Cursors  []ledger.Cursor `json:"cursors"` // one per Scan segment
	Counters map[string]int  `json:"counters,omitempty"`
}

// CheckpointFile saves and loads one run's checkpoint.
type CheckpointFile struct {
	Path string // "": no checkpoint is kept
	mu   sync.Mutex
	cp   Checkpoint
}

// ErrOtherJob means a checkpoint file holds another run's position.
var ErrOtherJob = errors.New("checkpoint file belongs to another run")

// Load returns the saved checkpoint for job, or a fresh one with the given
// number of segments when there is no file. resumed says whether it was saved.
func (f *CheckpointFile) Load(job string, segments int) (cp Checkpoint, resumed bool, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cp = Checkpoint{Job: job, Cursors: make([]ledger.Cursor, segments), Counters: map[string]int{}}
	if f.Path == "" {
		return f.copy(), false, nil
	}
	b, err := os.ReadFile(f.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return f.copy(), false, nil
	}
	if err != nil {
		return Checkpoint{}, false, fmt.Errorf("read checkpoint: %w", err)
	}
	var saved Checkpoint
	if err := json.Unmarshal(b, &saved); err != nil {
		return Checkpoint{}, false, fmt.Errorf("checkpoint %s is damaged (delete it to start over): %w", f.Path, err)
	}
	if saved.Job != job || len(saved.Cursors) != segments {
		return Checkpoint{}, false, fmt.Errorf("%w: %s is for %q with %d segments; this run is %q with %d (use another -checkpoint file, or -fresh to start over)",
			ErrOtherJob, f.Path, saved.Job, len(saved.Cursors), job, segments)
	}
	if saved.Counters == nil {
		saved.Counters = map[string]int{}
	}
	f.cp = saved
	return f.copy(), true, nil
}

// Advance records that a segment finished a page, adds the page's counters,
// and saves the file (written aside and renamed, so a crash never leaves half a file).
func (f *CheckpointFile) Advance(segment int, next ledger.Cursor, counters map[string]int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cp.Cursors[segment] = next
	for k, n := range counters {
		f.cp.Counters[k] += n
	}
	if f.Path == "" {
		return nil
	}
	b, err := json.MarshalIndent(f.cp, "", "  ")
	if err != nil {
		return fmt.Errorf("encode checkpoint: %w", err)
	}
	tmp := f.Path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("write checkpoint: %w", err)
	}
	if err := os.Rename(tmp, f.Path); err != nil {
		return fmt.Errorf("write checkpoint: %w", err)
	}
	return nil
}

// Counters returns the counters so far, those of the runs before a resume included.
func (f *CheckpointFile) Counters() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.copy().Counters
}

// Finish removes the file of a run that completed: running the same command
// again starts over (and, every write being conditional, changes nothing).
func (f *CheckpointFile) Finish() error {
	if f.Path == "" {
		return nil
	}
	if err := os.Remove(f.Path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove checkpoint: %w", err)
	}
	return nil
}

func (f *CheckpointFile) copy() Checkpoint {
	cp := Checkpoint{Job: f.cp.Job, Cursors: append([]ledger.Cursor(nil), f.cp.Cursors...), Counters: map[string]int{}}
	for k, n := range f.cp.Counters {
		cp.Counters[k] = n
	}
	return cp
}

// DefaultCheckpointPath is the checkpoint file of a job in the working
// directory, named after it so that different runs do not share one.
func DefaultCheckpointPath(name string) string {
	return filepath.Join(".", "ops-"+name+".checkpoint.json")
}
