package ops

import (
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/longrun"
)

// stringList is a repeatable flag; each use may also hold a comma-separated list.
type stringList []string

func (s *stringList) String() string { return strings.Join(*s, ",") }

func (s *stringList) Set(v string) error {
	for _, part := range strings.Split(v, ",") {
		if part = strings.TrimSpace(part); part != "" {
			*s = append(*s, part)
		}
	}
	return nil
}

// runFlags are the flags every long run (filtered replay, rebuild) shares.
type runFlags struct {
	rate       float64
	segments   int
	checkpoint string
	fresh      bool
	json       bool
	set        map[string]bool
}

func addRunFlags(fs *flag.FlagSet, rf *runFlags, unit string) {
	fs.Float64Var(&rf.rate, "rate", longrun.DefaultWriteUnitsPerSecond, "at most this many "+unit+" per second (0: no limit)")
	fs.IntVar(&rf.segments, "segments", 4, "parallel Scan segments of the ledger (a resumed run must use the same)")
	fs.StringVar(&rf.checkpoint, "checkpoint", "", "resume file (default ./ops-<subcommand>-<...>.checkpoint.json); removed when the run completes")
	fs.BoolVar(&rf.fresh, "fresh", false, "ignore (and overwrite) an existing checkpoint file: start over")
	fs.BoolVar(&rf.json, "json", false, "print the summary as JSON (progress goes to stderr)")
}

func (rf *runFlags) check() error {
	if rf.rate < 0 || rf.segments < 1 || rf.segments > 64 {
		return fmt.Errorf("%w: -rate must be >= 0 and -segments between 1 and 64", ErrUsage)
	}
	return nil
}

// checkpointFile is the run's checkpoint file, named after the job by default.
func (rf *runFlags) checkpointFile(name string) (*longrun.CheckpointFile, error) {
	path := rf.checkpoint
	if path == "" {
		path = longrun.DefaultCheckpointPath(name)
	}
	f := &longrun.CheckpointFile{Path: path}
	if rf.fresh {
		if err := f.Finish(); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// ledgerSource names the ledger a long run reads, for its checkpoint's identity:
// a run on the local ledger must not resume one on the deployed, or on another table.
func ledgerSource(local bool, table string) string {
	if local {
		return "local ledger " + table
	}
	return "deployed ledger " + table
}

func progressTo(w io.Writer, label string) *longrun.Progress {
	return &longrun.Progress{W: w, Terminal: longrun.IsTerminal(w), Label: label}
}
