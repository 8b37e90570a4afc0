package ops

import (
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"time"

	"github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/shared/local/localaws"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/config"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/ledger"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/longrun"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/rebuild"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/replay"
)

const rebuildUsage = "rebuild [-local] [-into TABLE [-verify]] [-since T] [-until T] [-entity PK]... [-entities-from FILE] [-rate WU/s] [-segments N] [-checkpoint FILE] [-fresh] [-json] DOMAIN"

// rebuild recomputes a domain's state table from the ledger (see shared/prod/rebuild).
func (c *CLI) rebuild(ctx context.Context, args []string) error {
	fs, local := c.flags("rebuild")
	into := fs.String("into", "", "write into this table (created with the state table's shape if missing) instead of the live one")
	verify := fs.Bool("verify", false, "with -into: then compare the rebuilt table with the live one, row by row, and print the differences")
	var entities stringList
	fs.Var(&entities, "entity", "repair this row (its pk; repeatable): re-derive it from its events, leaving out far-future ones, and overwrite it if unchanged since read")
	entitiesFrom := fs.String("entities-from", "", "repair the rows whose pks are in this file, one a line (- for stdin), with one Scan")
	since := fs.String("since", "", "only events received from this time, inclusive (RFC 3339, or a date: midnight UTC)")
	until := fs.String("until", "", "only events received before this time (RFC 3339, or a date: midnight UTC)")
	var rf runFlags
	addRunFlags(fs, &rf, "write units")
	if err := c.parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("%w: %s", ErrUsage, rebuildUsage)
	}
	d, ok := events.ParseDomain(fs.Arg(0))
	if !ok {
		return fmt.Errorf("%w: unknown domain %q (one of %v)", ErrUsage, fs.Arg(0), events.Domains())
	}
	if err := rf.check(); err != nil {
		return err
	}
	if *verify && *into == "" {
		return fmt.Errorf("%w: -verify compares the table of -into with the live one: give -into", ErrUsage)
	}
	if *verify && (*since != "" || *until != "") {
		// The live table holds every row; a window's rebuild only the rows its
		// events touch, each as of the window's end: every other row would differ.
		return fmt.Errorf("%w: -verify compares whole tables; a rebuild with -since or -until holds only its window's rows", ErrUsage)
	}
	if *entitiesFrom != "" {
		ids, err := readLines(*entitiesFrom)
		if err != nil {
			return err
		}
		entities = append(entities, ids...)
	}
	repair := len(entities) > 0 || *entitiesFrom != ""
	if repair && (*into != "" || *verify || *since != "" || *until != "") {
		return fmt.Errorf("%w: -entity repairs live rows from all their events; it takes no -into, -verify, -since or -until", ErrUsage)
	}
	var window [2]time.Time
	for i, v := range []struct{ flag, val string }{{"-since", *since}, {"-until", *until}} {
		if v.val == "" {
			continue
		}
		t, err := replay.ParseTime(v.flag, v.val)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrUsage, err)
		}
		window[i] = t
	}
	if !window[0].IsZero() && !window[1].IsZero() && !window[0].Before(window[1]) {
		return fmt.Errorf("%w: -since must be before -until", ErrUsage)
	}
	t, err := c.connectWithLedger(ctx, *local, config.OpsNeeds{Domains: []events.Domain{d}, StateTables: true})
	if err != nil {
		return err
	}
	live := t.res.StateTables[d]
	if *into == "" { // -into is created when missing
		if err := t.mustExist(ctx, config.StateTableEnv(d), live); err != nil {
			return err
		}
	}
	l := ledger.NewDynamo(t.db, t.res.LedgerTable)
	r := &rebuild.Rebuilder{Ledger: l, DB: t.db, Table: live, Domain: d, Segments: rf.segments, Since: window[0], Until: window[1],
		Source: ledgerSource(*local, t.res.LedgerTable)}

	if repair {
		reps, err := r.RepairEntities(ctx, t.db, entities)
		if perr := c.print(rf.json, reps, func(w io.Writer) {
			for _, rep := range reps {
				fmt.Fprintf(w, "%s: %d event(s) in the ledger, %d left out as far in the future %v\n", rep.PK, rep.Events, len(rep.FarFuture), rep.FarFuture)
				if rep.Note != "" {
					fmt.Fprintln(w, "  "+rep.Note)
				}
				fmt.Fprintf(w, "  row held event %s, now holds %s (reset: %t, %d write(s) applied)\n", orNone(rep.Before), orNone(rep.After), rep.Reset, rep.Applied)
			}
		}); perr != nil {
			return perr
		}
		return err
	}

	if *into != "" {
		if *into == live {
			return fmt.Errorf("%w: -into names the live table; leave -into out to rebuild in place", ErrUsage)
		}
		if err := notAPipelineTable(*into, t.res.WithOverrides(c.Getenv)); err != nil {
			return err
		}
		r.Table = *into
		if err := localaws.EnsureStateTable(ctx, t.db, *into); err != nil {
			return err
		}
	}
	r.Limiter = longrun.NewLimiter(rf.rate, nil)
	r.Progress = progressTo(c.Stderr, "rebuild "+string(d))
	if total, err := l.ApproxItemCount(ctx, t.db.DescribeTable); err == nil {
		r.Total = total
	}
	if r.Checkpoint, err = rf.checkpointFile("rebuild-" + string(d) + "-" + r.Table); err != nil {
		return err
	}
	fmt.Fprintf(c.Stderr, "rebuild %s into %s at up to %.0f write units/s; checkpoint %s (Ctrl-C and run the same command again to resume)\n",
		d, r.Table, rf.rate, r.Checkpoint.Path)
	sum, runErr := r.Run(ctx)
	out := struct {
		rebuild.Summary
		Verify      *rebuild.VerifySummary `json:"verify,omitempty"`
		Differences []rebuild.Difference   `json:"differences,omitempty"`
	}{Summary: sum}
	if runErr == nil && *verify {
		const shown = 1000 // the first differences; the counts cover all
		vs, err := rebuild.Verify(ctx, t.db, live, r.Table, func(diff rebuild.Difference) {
			if len(out.Differences) < shown {
				out.Differences = append(out.Differences, diff)
			}
		})
		if err != nil {
			return err
		}
		out.Verify = &vs
	}
	if err := c.print(rf.json, out, func(w io.Writer) {
		resumed := ""
		if sum.Resumed {
			resumed = " (resumed; counts include the earlier run)"
		}
		fmt.Fprintf(w, "rebuilt %s into %s%s: %d events read of %d ledger items in %s (%.0f events/s)\n",
			sum.Domain, sum.Table, resumed, sum.Events, sum.Evaluated, time.Duration(sum.ElapsedSec*float64(time.Second)).Round(time.Millisecond), sum.EventsPerSec)
		fmt.Fprintf(w, "  %d applied, %d already there (stale %d, duplicate %d)\n", sum.Applied, sum.Stale+sum.Duplicate, sum.Stale, sum.Duplicate)
		fmt.Fprintf(w, "  left out: %d parked, %d unusable, %d far in the future, %d of categories now routed elsewhere\n",
			sum.Parked, sum.Unusable, sum.FarFuture, sum.Moved)
		fmt.Fprintf(w, "  %.1f read units, %.1f write units\n", sum.ReadUnits, sum.WriteUnits)
		if out.Verify != nil {
			v := out.Verify
			for _, diff := range out.Differences {
				fmt.Fprintf(w, "%s %s %v live event %s, rebuilt event %s\n", diff.Kind, diff.PK, diff.Fields, orNone(diff.Live), orNone(diff.Built))
			}
			fmt.Fprintf(w, "verify: %d rows compared, %d equal, %d differ, %d missing in live, %d live rows no event supports (reported, not deleted)\n",
				v.Compared, v.Equal, v.Changed, v.Missing, v.Unsupported)
		}
	}); err != nil {
		return err
	}
	if runErr != nil {
		return fmt.Errorf("rebuild stopped (run the same command again to resume): %w", runErr)
	}
	if out.Verify != nil && out.Verify.Equal != out.Verify.Compared {
		return ErrDifferences
	}
	return nil
}

// notAPipelineTable refuses as -into the ledger or another domain's live
// state table: a rebuild would write this domain's rows into it.
func notAPipelineTable(into string, res config.Ops) error {
	if into == res.LedgerTable {
		return fmt.Errorf("%w: -into %s is the ledger table; -into takes a new or scratch table", ErrUsage, into)
	}
	for d, table := range res.StateTables {
		if into == table {
			return fmt.Errorf("%w: -into %s is the live state table of %s; -into takes a new or scratch table", ErrUsage, into, d)
		}
	}
	return nil
}

// readLines reads non-empty lines that are not comments from a file or stdin ("-").
func readLines(path string) ([]string, error) {
	var r io.Reader = os.Stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrUsage, err)
		}
		defer f.Close()
		r = f
	}
	set, err := replay.ReadIDs(r)
	if err != nil {
		return nil, err
	}
	return slices.Sorted(maps.Keys(set)), nil
}

// ErrDifferences is -verify's finding that the tables differ (exit code 3).
var ErrDifferences = fmt.Errorf("the rebuilt table differs from the live one")

// print writes v as JSON, or as text.
func (c *CLI) print(asJSON bool, v any, text func(io.Writer)) error {
	if asJSON {
		return writeJSON(c.Stdout, v)
	}
	text(c.Stdout)
	return nil
}

// orNone names an absent event id in a line meant for people: a row holding
// only its children's view has no event of its own.
func orNone(eventID string) string {
	if eventID == "" {
		return "(none)"
	}
	return eventID
}
