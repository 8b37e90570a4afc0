// Command tail prints the changes of the local state tables as they happen,
// one line each, until Ctrl-C:
//
//	go run ./functions/tail [-domain orders] [-from-start]
//
// It reads the streams of `make run`'s DynamoDB Local (AWS_ENDPOINT_URL_DYNAMODB,
// else LOCAL_DYNAMODB_PORT, default 8000; see config.LoadLocal) and decodes them
// with the code a stream-triggered Lambda uses.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"

	upvest "github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/shared/local/localaws"
	"github.com/upvest-webhooks/upvest-webhooks/shared/local/streamtail"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/config"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/observability"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/schema"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/streams"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp): // -h printed the help
	case errors.Is(err, errUsage):
		fmt.Fprintln(os.Stderr, "tail:", err)
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "tail:", err)
		os.Exit(1)
	}
}

// errUsage marks a bad command line (exit 2).
var errUsage = errors.New("usage")

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	flags := flag.NewFlagSet("tail", flag.ContinueOnError)
	flags.SetOutput(stderr)
	flags.Usage = func() {
		fmt.Fprintln(stderr, "usage: tail [-domain D] [-from-start] [-poll D]; Ctrl-C stops it (exit 0)")
		fmt.Fprintln(stderr, "exit codes: 0 stopped, 1 failed, 2 bad command line")
		flags.PrintDefaults()
	}
	domain := flags.String("domain", "", "follow only this domain's state table (default: all)")
	fromStart := flags.Bool("from-start", false, "print the changes already in the streams (up to 24 h) before the new ones")
	poll := flags.Duration("poll", time.Second, "pause between reads of an idle shard")
	if err := flags.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if flags.NArg() > 0 {
		return fmt.Errorf("%w: no arguments expected, got %q", errUsage, flags.Args())
	}
	if *poll <= 0 {
		return fmt.Errorf("%w: -poll must be positive", errUsage)
	}
	domains := upvest.Domains()
	if *domain != "" {
		d, ok := upvest.ParseDomain(*domain)
		if !ok {
			return fmt.Errorf("%w: unknown domain %q (one of %v)", errUsage, *domain, upvest.Domains())
		}
		domains = []upvest.Domain{d}
	}

	cfg, err := localConfig(ctx)
	if err != nil {
		return err
	}
	arns, err := streamtail.StateStreamARNs(ctx, dynamodb.NewFromConfig(cfg), schema.LocalNames, domains)
	if err != nil {
		return fmt.Errorf("%w (is the local stack running? see `make run`)", err)
	}
	tailer := &streamtail.Tailer{
		Client:       dynamodbstreams.NewFromConfig(cfg),
		StreamARNs:   arns,
		FromStart:    *fromStart,
		PollInterval: *poll,
		Consumer:     &streams.Consumer{Sink: streams.FormatLines(stdout), Logger: observability.NewLogger(stderr, "tail")},
		Ready:        func() { fmt.Fprintf(stderr, "tail: following %d state table(s); Ctrl-C to stop\n", len(arns)) },
	}
	if err := tailer.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// localConfig points the clients at DynamoDB Local, with the project's local
// region and dummy credentials (localaws.Config), so no profile of the
// developer can point the tail at a real account.
func localConfig(ctx context.Context) (aws.Config, error) {
	local, err := config.LoadLocal(os.Getenv)
	if err != nil {
		return aws.Config{}, err
	}
	cfg, err := localaws.Config(ctx, local.DynamoDBEndpoint, local.SQSEndpoint)
	if err != nil {
		return aws.Config{}, fmt.Errorf("local AWS config: %w", err)
	}
	return cfg, nil
}
