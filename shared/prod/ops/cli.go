package ops

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/shared/local/localaws"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/awssdk"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/config"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/fanout"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/ingest"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/keysync"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/ledger"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/observability"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/replay"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/schema"
)

// Usage is the tool's help text.
const Usage = `usage: go run ./functions/ops <subcommand> [-local] ...

  inspect [-local] [-peek N] [-json] <event id | request:<sha256>>
        the ledger record, the state row it led to, and whether its message is in its queue or DLQ
  parked  [-local] [-json] [DOMAIN | requests]
        list parked records (all partitions when none is named)
  replay  [-local] [-dry-run] [-json] (-parked DOMAIN | -parked requests | -unrouted | <id>...)
        send kept-aside records through the pipeline again
  replay  [-local] [-plan] [-domain D]... [-type CATEGORY[.ACTION]]... [-since T] [-until T] [-by received|created]
          [-status RECEIVED|ENQUEUED|PARKED]... [-ids-from FILE] [-rate N] [-segments N] [-checkpoint FILE] [-fresh] [-json]
        send every event the filter selects to its queue again, with its id; -plan counts and prices, sends nothing
  rebuild [-local] [-into TABLE [-verify]] [-since T] [-until T] [-rate WU/s] [-segments N] [-checkpoint FILE] [-fresh] [-json] DOMAIN
        recompute a domain's state table from the ledger, in place or into TABLE; resumable
  rebuild [-local] (-entity PK... | -entities-from FILE) [-json] DOMAIN
        repair rows: re-derive each from its events, leaving out far-future ones
  redrive [-local] [-max N] [-json] DOMAIN
        move the domain's dead-letter messages back to its queue
  keys    fetch | sync
        fetch Upvest's JWKS, or sync it into the SSM parameter
  webhooks list | show | create | update | enable | disable | delete | test [-local] [-json] ...
        Upvest's webhook subscriptions (ops webhooks -h for each action's flags)
  golive  [-local] [-json] [-webhook-id ID] [-wait D]
        the go-live check: endpoint, keys, subscription and a test delivery

Each subcommand's -h prints its flags.

-local works on the tables and queues of ` + "`make run`" + ` (LOCAL_DYNAMODB_PORT, LOCAL_SQS_PORT).
Long runs show progress on stderr, stop cleanly on Ctrl-C and resume from their checkpoint file.
Exit codes: 0 done, 1 failed, 2 bad command line, 3 -verify found differences, 130 interrupted.
Otherwise your AWS credentials and the stack outputs as environment variables:
LEDGER_TABLE, STATE_TABLE_<DOMAIN>, QUEUE_URL_<DOMAIN>, DLQ_URL_<DOMAIN> (see README, Operations).
`

// ErrUsage marks a command line the tool does not understand.
var ErrUsage = errors.New("usage")

// errHelp stops a subcommand whose -h printed its help; Run returns nil for it.
var errHelp = errors.New("help printed")

// HelpFor is the help to print after a bad command line: the subcommand's
// lines of Usage (all of webhooks' help), or all of Usage for no or an unknown subcommand.
func HelpFor(args []string) string {
	if len(args) == 0 {
		return Usage
	}
	if args[0] == "webhooks" {
		return WebhooksUsage
	}
	var lines []string
	in := false
	for _, line := range strings.Split(Usage, "\n") {
		switch {
		case strings.HasPrefix(line, "  "+args[0]+" "):
			in = true
		case strings.HasPrefix(line, "        ") && in:
		default:
			in = false
		}
		if in {
			lines = append(lines, line)
		}
	}
	if len(lines) == 0 {
		return Usage
	}
	return "usage: go run ./functions/ops\n\n" + strings.Join(lines, "\n") + "\n\nSee go run ./functions/ops -h for -local, exit codes and the deployed variables.\n"
}

// CLI is the ops tool's command line; functions/ops fills it in.
type CLI struct {
	Getenv func(string) string
	Stdout io.Writer
	Stderr io.Writer
	Keys   KeySyncer // nil: `keys` says it is not configured
	// LocalNames are the names of -local's tables and queues; zero: schema.LocalNames.
	LocalNames schema.Names
	// AWS loads the configuration for deployed resources; nil: the SDK's default chain.
	AWS func(ctx context.Context) (aws.Config, error)
	// UpvestAPI builds the Upvest API client of `webhooks` and `golive`; nil:
	// from the key sync's variables, or with -local the file `make run` writes.
	UpvestAPI func(ctx context.Context, local bool) (*keysync.Client, error)
}

// Run runs one subcommand. An error wrapping ErrUsage is a bad command line.
func (c *CLI) Run(ctx context.Context, args []string) error {
	if err := c.run(ctx, args); !errors.Is(err, errHelp) {
		return err
	}
	return nil
}

func (c *CLI) run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: no subcommand", ErrUsage)
	}
	switch sub, rest := args[0], args[1:]; sub {
	case "inspect":
		return c.inspect(ctx, rest)
	case "parked":
		return c.parked(ctx, rest)
	case "replay":
		return c.replay(ctx, rest)
	case "redrive":
		return c.redrive(ctx, rest)
	case "rebuild":
		return c.rebuild(ctx, rest)
	case "keys":
		if len(rest) == 1 && isHelp(rest[0]) {
			_, err := io.WriteString(c.Stdout, HelpFor(args))
			return err
		}
		if len(rest) != 1 || rest[0] != "fetch" && rest[0] != "sync" {
			return fmt.Errorf("%w: keys fetch|sync", ErrUsage)
		}
		return Keys(ctx, c.Keys, rest[0], c.Stdout)
	case "webhooks":
		return c.webhooks(ctx, rest)
	case "golive":
		return c.golive(ctx, rest)
	case "help":
		_, err := io.WriteString(c.Stdout, HelpFor(rest))
		return err
	case "-h", "-help", "--help":
		_, err := io.WriteString(c.Stdout, Usage)
		return err
	default:
		return fmt.Errorf("%w: unknown subcommand %q", ErrUsage, sub)
	}
}

// target is what a subcommand works on.
type target struct {
	res config.Ops
	db  *dynamodb.Client
	sqs *sqs.Client
}

func (c *CLI) connect(ctx context.Context, local bool, need config.OpsNeeds) (target, error) {
	var res config.Ops
	var cfg aws.Config
	var err error
	if local {
		lc, err := config.LoadLocal(c.Getenv)
		if err != nil {
			return target{}, err
		}
		if cfg, err = localaws.Config(ctx, lc.DynamoDBEndpoint, lc.SQSEndpoint); err != nil {
			return target{}, err
		}
		names := c.LocalNames
		if names == (schema.Names{}) {
			names = schema.LocalNames
		}
		if res, err = LocalResources(ctx, cfg, names); err != nil {
			return target{}, err
		}
		res = res.WithOverrides(c.Getenv)
	} else {
		if res, err = config.LoadOps(c.Getenv, need); err != nil {
			return target{}, err
		}
		load := c.AWS
		if load == nil {
			load = func(ctx context.Context) (aws.Config, error) { return awssdk.LoadDefault(ctx) }
		}
		if cfg, err = load(ctx); err != nil {
			return target{}, fmt.Errorf("aws configuration: %w", err)
		}
	}
	return target{res: res, db: dynamodb.NewFromConfig(cfg), sqs: sqs.NewFromConfig(cfg)}, nil
}

// connectWithLedger is connect for a subcommand that starts from the ledger:
// one that does not exist is refused before anything is read or written.
func (c *CLI) connectWithLedger(ctx context.Context, local bool, need config.OpsNeeds) (target, error) {
	need.Ledger = true
	t, err := c.connect(ctx, local, need)
	if err != nil {
		return target{}, err
	}
	return t, t.mustExist(ctx, schema.EnvLedgerTable, t.res.LedgerTable)
}

// mustExist refuses a table that does not exist before a subcommand reads or
// writes anything, naming the variable that named it: a typo or another
// stack's output would otherwise end in DynamoDB's "Cannot do operations on
// a non-existent table", or in a rebuild of nothing that succeeds. Any other
// answer (an operator without dynamodb:DescribeTable) is left to the run itself.
func (t target) mustExist(ctx context.Context, variable, table string) error {
	_, err := t.db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
	var missing *dbtypes.ResourceNotFoundException
	if errors.As(err, &missing) {
		return fmt.Errorf("%s=%s: the table does not exist (check the variable against the stack outputs, and the AWS region)", variable, table)
	}
	return nil
}

// flags is a subcommand's flag set. It prints nothing itself: parse returns
// the errors, and -h prints the subcommand's help.
func (c *CLI) flags(name string) (*flag.FlagSet, *bool) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	// No backquotes in a flag's text: the flag package would take the quoted word as the value's name.
	return fs, fs.Bool("local", false, "work on the local run (make run): its tables, queues and fake Upvest")
}

// parse parses a subcommand's flags. On -h it prints the subcommand's help
// and flags to stdout and returns errHelp, which Run turns into success.
func (c *CLI) parse(fs *flag.FlagSet, args []string) error {
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprintf(c.Stdout, "%s\nflags of %s:\n", HelpFor(strings.Fields(fs.Name())), fs.Name())
		fs.SetOutput(c.Stdout)
		fs.PrintDefaults()
		return errHelp
	}
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrUsage, fs.Name(), err)
	}
	return nil
}

// writeJSON writes v as indented JSON, as every -json of the tool prints.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func isHelp(arg string) bool {
	return arg == "-h" || arg == "-help" || arg == "--help" || arg == "help"
}

func (c *CLI) inspect(ctx context.Context, args []string) error {
	fs, local := c.flags("inspect")
	limit := fs.Int("peek", DefaultPeekLimit, "look at up to this many messages per queue")
	asJSON := fs.Bool("json", false, "print the report as JSON (see README, The ops tool)")
	if err := c.parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("%w: inspect [-local] [-peek N] [-json] <event id>", ErrUsage)
	}
	if err := checkRecordKey(fs.Arg(0)); err != nil {
		return err
	}
	key := replay.CanonicalID(fs.Arg(0))
	t, err := c.connectWithLedger(ctx, *local, config.OpsNeeds{Domains: events.Domains(), StateTables: true, Queues: true, DLQs: true})
	if err != nil {
		return err
	}
	in := &Inspector{Ledger: ledger.NewDynamo(t.db, t.res.LedgerTable), DB: t.db, Queues: t.sqs, Resources: t.res, PeekLimit: *limit}
	rep, err := in.Inspect(ctx, key)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(c.Stdout, rep.JSON())
	}
	return rep.Write(c.Stdout)
}

func (c *CLI) parked(ctx context.Context, args []string) error {
	fs, local := c.flags("parked")
	asJSON := fs.Bool("json", false, "print {\"records\": [{\"partition\", \"event_id\", \"received_at\", \"reason\"}]}")
	if err := c.parse(fs, args); err != nil {
		return err
	}
	partitions := ParkedPartitions()
	switch fs.NArg() {
	case 0:
	case 1:
		p, err := ParsePartition(fs.Arg(0))
		if err != nil {
			return fmt.Errorf("%w: %v", ErrUsage, err)
		}
		partitions = []string{p}
	default:
		return fmt.Errorf("%w: parked [-local] [-json] [DOMAIN|requests]", ErrUsage)
	}
	t, err := c.connectWithLedger(ctx, *local, config.OpsNeeds{})
	if err != nil {
		return err
	}
	recs, err := Parked(ctx, t.db, t.res.LedgerTable, partitions)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(c.Stdout, struct {
			Records []ParkedRecord `json:"records"`
		}{append([]ParkedRecord{}, recs...)})
	}
	return WriteParked(c.Stdout, recs)
}

func (c *CLI) replay(ctx context.Context, args []string) error {
	fs, local := c.flags("replay")
	dryRun := fs.Bool("dry-run", false, "say what would be replayed, change nothing")
	var sel ReplaySelection
	fs.StringVar(&sel.Parked, "parked", "", "replay every record parked in this domain, or \"requests\" for kept request bodies")
	fs.BoolVar(&sel.Unrouted, "unrouted", false, "replay every event of the unrouted domain")
	filters := addFilterFlags(fs)
	if err := c.parse(fs, args); err != nil {
		return err
	}
	if filters.used(fs) {
		if sel.Parked != "" || sel.Unrouted || fs.NArg() > 0 {
			return fmt.Errorf("%w: replay by filter takes no -parked, -unrouted or ids (use -status PARKED, -domain unrouted, -ids-from)", ErrUsage)
		}
		return c.bulkReplay(ctx, *local, *dryRun, filters)
	}
	for _, key := range fs.Args() {
		if err := checkRecordKey(key); err != nil {
			return err
		}
		sel.Keys = append(sel.Keys, replay.CanonicalID(key))
	}
	if err := sel.Check(); err != nil {
		return err
	}
	if set := setFlags(fs, "rate", "segments", "checkpoint", "fresh"); len(set) > 0 {
		return fmt.Errorf("%w: %v: only replay by filter is a long run; -parked, -unrouted and ids take -local, -dry-run and -json", ErrUsage, set)
	}
	t, err := c.connectWithLedger(ctx, *local, config.OpsNeeds{Domains: events.Domains(), Queues: true})
	if err != nil {
		return err
	}
	l := ledger.NewDynamo(t.db, t.res.LedgerTable)
	publisher := fanout.NewSQS(t.sqs, t.res.QueueURLs)
	// Re-ingesting a kept request needs no signature check: it was verified when it came.
	requests := ingest.New(nil, nil, l, publisher, observability.NewLogger(c.Stderr, "ops-replay"),
		observability.NewMetrics(io.Discard, "ops-replay"), ingest.Options{})
	r := &replay.Replayer{Ledger: l, Publisher: publisher, Requests: requests, DryRun: *dryRun}
	return Replay(ctx, r, l, sel, c.Stdout, filters.run.json)
}

// maxRecordKeyBytes is well within DynamoDB's 2048-byte partition key; event
// ids are UUIDs and request keys "request:" and 64 hex digits.
const maxRecordKeyBytes = 1024

// checkRecordKey refuses a key the ledger cannot hold, as a bad command line
// rather than DynamoDB's ValidationException.
func checkRecordKey(key string) error {
	switch {
	case strings.TrimSpace(key) == "":
		return fmt.Errorf("%w: the event id is empty: give an event id or request:<sha256>", ErrUsage)
	case strings.TrimSpace(key) != key:
		return fmt.Errorf("%w: the event id %q has spaces around it", ErrUsage, key)
	case len(key) > maxRecordKeyBytes:
		return fmt.Errorf("%w: the event id is %d bytes long, more than any record's (%d)", ErrUsage, len(key), maxRecordKeyBytes)
	}
	return nil
}

// setFlags returns those of names the command line set, as -name.
func setFlags(fs *flag.FlagSet, names ...string) []string {
	var set []string
	fs.Visit(func(fl *flag.Flag) {
		if slices.Contains(names, fl.Name) {
			set = append(set, "-"+fl.Name)
		}
	})
	return set
}

func (c *CLI) redrive(ctx context.Context, args []string) error {
	fs, local := c.flags("redrive")
	max := fs.Int("max", 0, "move at most this many messages (0: all)")
	asJSON := fs.Bool("json", false, "print {\"domain\", \"moved\": [event ids], \"came_back\": N}, also when stopped by an error")
	if err := c.parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 || *max < 0 {
		return fmt.Errorf("%w: redrive [-local] [-max N] [-json] DOMAIN", ErrUsage)
	}
	d, ok := events.ParseDomain(fs.Arg(0))
	if !ok {
		return fmt.Errorf("%w: unknown domain %q (one of %v)", ErrUsage, fs.Arg(0), events.Domains())
	}
	t, err := c.connect(ctx, *local, config.OpsNeeds{Domains: []events.Domain{d}, Queues: true, DLQs: true})
	if err != nil {
		return err
	}
	progress := progressTo(c.Stderr, "redrive "+string(d))
	progress.Items = "dead letters received"
	res, err := RedriveShowing(ctx, t.sqs, t.res.DLQURLs[d], t.res.QueueURLs[d], *max, progress)
	if *asJSON {
		out := struct {
			Domain   events.Domain `json:"domain"`
			Moved    []string      `json:"moved"`
			CameBack int           `json:"came_back"`
		}{d, append([]string{}, res.Moved...), res.CameBack}
		if jerr := writeJSON(c.Stdout, out); jerr != nil {
			return errors.Join(err, jerr)
		}
		return err
	}
	for _, id := range res.Moved {
		fmt.Fprintf(c.Stdout, "moved %s\n", id)
	}
	if res.CameBack > 0 {
		fmt.Fprintf(c.Stdout, "%d message(s) failed again into the DLQ during this redrive and were left there\n", res.CameBack)
	}
	fmt.Fprintf(c.Stdout, "%d message(s) moved from the %s dead-letter queue back to its queue\n", len(res.Moved), d)
	return err
}
