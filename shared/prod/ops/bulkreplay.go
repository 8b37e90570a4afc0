package ops

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"text/tabwriter"
	"time"

	"github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/config"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/cost"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/fanout"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/ingest"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/ledger"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/longrun"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/observability"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/replay"
)

// filterFlags are `replay`'s selection by filter.
type filterFlags struct {
	domains, types, statuses  stringList
	since, until, by, idsFrom string
	plan                      bool
	run                       runFlags
}

var filterFlagNames = []string{"domain", "type", "status", "since", "until", "by", "ids-from", "plan"}

func addFilterFlags(fs *flag.FlagSet) *filterFlags {
	f := &filterFlags{}
	fs.Var(&f.domains, "domain", "events the routing table sends to this domain now (repeatable)")
	fs.Var(&f.types, "type", "a category (ORDER) or a type (ORDER.FILLED) (repeatable)")
	fs.Var(&f.statuses, "status", "RECEIVED, ENQUEUED or PARKED (repeatable); records settled before the upgrade count as RECEIVED")
	fs.StringVar(&f.since, "since", "", "from this time, inclusive (RFC 3339, or a date: midnight UTC)")
	fs.StringVar(&f.until, "until", "", "up to this time, exclusive (RFC 3339, or a date: midnight UTC)")
	fs.StringVar(&f.by, "by", string(replay.ByReceived), "which time -since/-until compare: received (when ingest recorded it) or created (the event's created_at)")
	fs.StringVar(&f.idsFrom, "ids-from", "", "only the event ids in this file, one a line (- for stdin)")
	fs.BoolVar(&f.plan, "plan", false, "count the matches by domain, type and status, and estimate the cost; send nothing")
	addRunFlags(fs, &f.run, "events sent")
	return f
}

// used reports whether the command line selects by filter.
func (f *filterFlags) used(fs *flag.FlagSet) bool {
	used := false
	fs.Visit(func(fl *flag.Flag) {
		for _, n := range filterFlagNames {
			if fl.Name == n {
				used = true
			}
		}
	})
	return used
}

func (f *filterFlags) filter(stdin io.Reader) (replay.Filter, error) {
	var out replay.Filter
	for _, d := range f.domains {
		dom, ok := events.ParseDomain(d)
		if !ok {
			return out, fmt.Errorf("%w: -domain %q: one of %v", ErrUsage, d, events.Domains())
		}
		out.Domains = append(out.Domains, dom)
	}
	for _, t := range f.types {
		if _, err := replay.ParseType(t); err != nil {
			return out, fmt.Errorf("%w: %v", ErrUsage, err)
		}
		out.Types = append(out.Types, t)
	}
	for _, s := range f.statuses {
		st, err := replay.ParseStatus(s)
		if err != nil {
			return out, fmt.Errorf("%w: %v", ErrUsage, err)
		}
		out.Statuses = append(out.Statuses, st)
	}
	var err error
	if f.since != "" {
		if out.Since, err = replay.ParseTime("-since", f.since); err != nil {
			return out, fmt.Errorf("%w: %v", ErrUsage, err)
		}
	}
	if f.until != "" {
		if out.Until, err = replay.ParseTime("-until", f.until); err != nil {
			return out, fmt.Errorf("%w: %v", ErrUsage, err)
		}
	}
	if !out.Since.IsZero() && !out.Until.IsZero() && !out.Since.Before(out.Until) {
		return out, fmt.Errorf("%w: -since must be before -until", ErrUsage)
	}
	switch replay.TimeField(f.by) {
	case replay.ByReceived, replay.ByCreated:
		out.By = replay.TimeField(f.by)
	default:
		return out, fmt.Errorf("%w: -by %q: received or created", ErrUsage, f.by)
	}
	if f.idsFrom != "" {
		r := stdin
		if f.idsFrom != "-" {
			file, err := os.Open(f.idsFrom)
			if err != nil {
				return out, fmt.Errorf("%w: -ids-from: %v", ErrUsage, err)
			}
			defer file.Close()
			r = file
		}
		if out.IDs, err = replay.ReadIDs(r); err != nil {
			return out, err
		}
	}
	return out, f.run.check()
}

// bulkReplay replays (or with -plan counts) the records a filter selects.
func (c *CLI) bulkReplay(ctx context.Context, local, dryRun bool, ff *filterFlags) error {
	f, err := ff.filter(os.Stdin)
	if err != nil {
		return err
	}
	plan := ff.plan || dryRun
	t, err := c.connectWithLedger(ctx, local, config.OpsNeeds{Domains: events.Domains(), Queues: true})
	if err != nil {
		return err
	}
	l := ledger.NewDynamo(t.db, t.res.LedgerTable)
	publisher := fanout.NewSQS(t.sqs, t.res.QueueURLs)
	requests := ingest.New(nil, nil, l, publisher, observability.NewLogger(c.Stderr, "ops-replay"),
		observability.NewMetrics(io.Discard, "ops-replay"), ingest.Options{})
	b := &replay.Bulk{
		Ledger: l, Publisher: publisher, Plan: plan, Segments: ff.run.segments,
		Replayer: &replay.Replayer{Ledger: l, Publisher: publisher, Requests: requests, DryRun: plan},
		Progress: progressTo(c.Stderr, "replay"), Source: ledgerSource(local, t.res.LedgerTable),
	}
	if total, err := l.ApproxItemCount(ctx, t.db.DescribeTable); err == nil {
		b.Total = total
	}
	if !plan {
		b.Limiter = longrun.NewLimiter(ff.run.rate, nil)
		// Named after the whole identity, so that different runs get different files.
		sum := sha256.Sum256([]byte(f.Describe() + " from " + b.Source))
		if b.Checkpoint, err = ff.run.checkpointFile("replay-" + hex.EncodeToString(sum[:4])); err != nil {
			return err
		}
		fmt.Fprintf(c.Stderr, "replay: checkpoint %s (Ctrl-C and run the same command again to resume)\n", b.Checkpoint.Path)
	}
	sum, runErr := b.Run(ctx, f)
	est := EstimateReplay(sum, ff.run.rate)
	if ff.run.json {
		out := struct {
			replay.BulkSummary
			Estimate ReplayEstimate `json:"estimate"`
		}{sum, est}
		if err := writeJSON(c.Stdout, out); err != nil {
			return err
		}
	} else if err := writeBulkSummary(c.Stdout, sum, est); err != nil {
		return err
	}
	if runErr != nil {
		return fmt.Errorf("replay stopped (run the same command again to resume): %w", runErr)
	}
	return nil
}

// ReplayEstimate is what a replay costs on AWS, at list prices (cost.USEast1).
type ReplayEstimate struct {
	ReadUnits     float64 `json:"scan_read_units"`
	SQSRequests   float64 `json:"sqs_requests"` // sends, receives and deletes, 10 messages a request
	WriteUnits    float64 `json:"write_units"`  // at least one conditional state write per event
	Invocations   float64 `json:"lambda_invocations"`
	USD           float64 `json:"usd"`
	DurationAtSec float64 `json:"seconds_at_rate"` // 0: no rate limit
}

// EstimateReplay prices a replay from its plan: the Scan again (what the plan
// read), one SendMessageBatch per 10 events, and per 10 events a worker's
// receive, delete and invocation; each event at least one state write.
func EstimateReplay(s replay.BulkSummary, rate float64) ReplayEstimate {
	p := cost.USEast1
	batches := math.Ceil(float64(s.Sent) / 10)
	e := ReplayEstimate{ReadUnits: s.ReadUnits, SQSRequests: 3 * batches, WriteUnits: float64(s.Sent), Invocations: batches}
	e.USD = e.ReadUnits*p.DynamoDBRRU + e.SQSRequests*p.SQSRequest + e.WriteUnits*p.DynamoDBWRU + e.Invocations*p.LambdaRequest
	if rate > 0 {
		e.DurationAtSec = float64(s.Sent) / rate
	}
	return e
}

func writeBulkSummary(w io.Writer, s replay.BulkSummary, e ReplayEstimate) error {
	verb := "sent"
	if s.Plan {
		verb = "would send"
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DOMAIN\tTYPE\tSTATUS\tEVENTS")
	for _, g := range s.Groups {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\n", g.Domain, g.Type, g.Status, g.Count)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for o, n := range s.NotSent {
		fmt.Fprintf(w, "not sent: %d %s\n", n, o)
	}
	resumed := ""
	if s.Resumed {
		resumed = " (resumed; counts include the earlier run)"
	}
	fmt.Fprintf(w, "%s %d event(s); %d ledger items read, %.1f read units%s\n", verb, s.Sent, s.Evaluated, s.ReadUnits, resumed)
	dur := "no rate limit"
	if e.DurationAtSec > 0 {
		dur = "about " + (time.Duration(e.DurationAtSec * float64(time.Second))).Round(time.Second).String() + " at -rate"
	}
	_, err := fmt.Fprintf(w, "cost estimate (%s, on demand): $%.4f = scan %.0f RRU + %.0f SQS requests + >= %.0f state WRU + %.0f Lambda invocations; %s\n",
		cost.USEast1.Region, e.USD, e.ReadUnits, e.SQSRequests, e.WriteUnits, e.Invocations, dur)
	return err
}
