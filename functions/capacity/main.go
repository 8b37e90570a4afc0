// Command capacity prints the stack's capacity model (shared/testkit/capacity): for
// rates from 100 to 50,000 events/s what ingest, the workers, DynamoDB and the
// account need, the first limit that binds and what moves it; then the
// nightly batch of 200,000 and 2,000,000 events with one subscription and
// with two lanes. The README's Capacity section is its output.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/cost"
	"github.com/upvest-webhooks/upvest-webhooks/shared/testkit/capacity"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("capacity", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: capacity [-json] [-subscriptions n] [-worker-max-concurrency n] [-hot-domain-max-concurrency n] [-worker-batch-size n] [-warm-write-units n]")
		fmt.Fprintln(stderr, "Prints the capacity model of the stack at its defaults, or with the settings given, as Markdown (or JSON).")
		fs.PrintDefaults()
	}
	s := capacity.Defaults
	asJSON := fs.Bool("json", false, "print JSON instead of Markdown")
	fs.IntVar(&s.Subscriptions, "subscriptions", s.Subscriptions, "Upvest subscriptions (lanes) feeding the stack")
	fs.IntVar(&s.WorkerMaxConcurrency, "worker-max-concurrency", s.WorkerMaxConcurrency, "workerMaxConcurrency (per domain)")
	fs.IntVar(&s.HotDomainMaxConcurrency, "hot-domain-max-concurrency", s.HotDomainMaxConcurrency, "the hot domain's own maximum (workerMaxConcurrencyByDomain); 0: none")
	fs.IntVar(&s.WorkerBatchSize, "worker-batch-size", s.WorkerBatchSize, "workerBatchSize")
	fs.IntVar(&s.WarmWriteUnits, "warm-write-units", s.WarmWriteUnits, "warmWriteUnitsPerSecond of the on-demand tables")
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	if s.Subscriptions < 1 || s.WorkerMaxConcurrency < 2 || s.WorkerBatchSize < 1 || s.HotDomainMaxConcurrency < 0 || s.WarmWriteUnits < 0 {
		fmt.Fprintln(stderr, "capacity: subscriptions ≥ 1, worker-max-concurrency ≥ 2, worker-batch-size ≥ 1, others ≥ 0")
		return 2
	}
	rows := make([]capacity.Row, len(capacity.Rates))
	for i, rate := range capacity.Rates {
		rows[i] = capacity.Model(rate, s, capacity.Measured, capacity.NightlyMix, cost.USEast1)
	}
	var batches []capacity.Batch
	for _, n := range []int{200_000, 2_000_000} {
		for _, lanes := range []bool{false, true} {
			batches = append(batches, capacity.NightlyBatch(n, lanes, s, capacity.Measured))
		}
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(map[string]any{"settings": s, "costs": capacity.Measured, "rates": rows, "nightly_batches": batches}); err != nil {
			fmt.Fprintln(stderr, "capacity:", err)
			return 1
		}
		return 0
	}
	fmt.Fprint(stdout, capacity.Markdown(s, rows, batches))
	return 0
}
