// Command replay sends kept-aside records through the pipeline again: parked
// events once their cause is fixed, kept requests once the code knows their
// shape, and events of the unrouted domain once the routing table knows their
// category.
//
//	go run ./functions/replay [-local] [-dry-run] -parked orders
//	go run ./functions/replay [-local] [-dry-run] -parked requests
//	go run ./functions/replay [-local] [-dry-run] -unrouted
//	go run ./functions/replay [-local] [-dry-run] <event id>...
//
// Deployed: LEDGER_TABLE and QUEUE_URL_<DOMAIN> as the ingest function has
// them (see the stack outputs), with the operator's AWS credentials. -local:
// the tables and queues of `make run`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/shared/config"
	"github.com/upvest-webhooks/upvest-webhooks/shared/fanout"
	"github.com/upvest-webhooks/upvest-webhooks/shared/ingest"
	"github.com/upvest-webhooks/upvest-webhooks/shared/ledger"
	"github.com/upvest-webhooks/upvest-webhooks/shared/localaws"
	"github.com/upvest-webhooks/upvest-webhooks/shared/observability"
	"github.com/upvest-webhooks/upvest-webhooks/shared/replay"
	"github.com/upvest-webhooks/upvest-webhooks/shared/schema"
)

func main() {
	local := flag.Bool("local", false, "use the tables and queues of `make run`")
	dryRun := flag.Bool("dry-run", false, "say what would be replayed, change nothing")
	parked := flag.String("parked", "", "replay every record parked in this domain, or \"requests\" for kept request bodies")
	unrouted := flag.Bool("unrouted", false, "replay every event of the unrouted domain")
	flag.Parse()
	if err := run(*local, *dryRun, *parked, *unrouted, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "replay:", err)
		os.Exit(1)
	}
}

func run(local, dryRun bool, parked string, unrouted bool, ids []string) error {
	ctx := context.Background()
	cfg, err := resources(ctx, local)
	if err != nil {
		return err
	}
	db, queues := dynamodb.NewFromConfig(cfg.aws), sqs.NewFromConfig(cfg.aws)
	l := ledger.NewDynamo(db, cfg.LedgerTable)

	switch {
	case parked != "" && (unrouted || len(ids) > 0), unrouted && len(ids) > 0:
		return errors.New("say one of -parked DOMAIN, -unrouted or event ids")
	case parked != "":
		if _, ok := events.ParseDomain(parked); !ok && parked != ledger.RequestsPartition {
			return fmt.Errorf("unknown domain %q (one of %v, or %s)", parked, events.Domains(), ledger.RequestsPartition)
		}
		if ids, err = l.Parked(ctx, parked); err != nil {
			return err
		}
	case unrouted:
		if ids, err = l.Unrouted(ctx); err != nil {
			return err
		}
	case len(ids) == 0:
		return errors.New("nothing to replay: say -parked DOMAIN, -unrouted or event ids")
	}

	publisher := fanout.NewSQS(queues, cfg.QueueURLs)
	logger := observability.NewLogger(os.Stderr, "replay")
	// Re-ingesting a kept request needs no signature check: it was verified when it came.
	requests := ingest.New(nil, nil, l, publisher, logger, observability.NewMetrics(io.Discard, "replay"), ingest.Options{})
	r := &replay.Replayer{Ledger: l, Publisher: publisher, Requests: requests, DryRun: dryRun}
	results, err := r.Replay(ctx, ids)
	for _, res := range results {
		fmt.Printf("%s %s %s %s\n", res.EventID, res.Outcome, res.Domain, res.Reason)
	}
	if err != nil {
		return err
	}
	fmt.Printf("%d event(s) looked at\n", len(results))
	return nil
}

// target is where to replay: the resource names and the AWS configuration.
type target struct {
	config.Replay
	aws aws.Config
}

func resources(ctx context.Context, local bool) (target, error) {
	if !local {
		c, err := config.LoadReplay(os.Getenv)
		if err != nil {
			return target{}, err
		}
		awsCfg, err := awsconfig.LoadDefaultConfig(ctx)
		if err != nil {
			return target{}, fmt.Errorf("aws configuration: %w", err)
		}
		return target{Replay: c, aws: awsCfg}, nil
	}
	localCfg, err := config.LoadLocal(os.Getenv)
	if err != nil {
		return target{}, err
	}
	awsCfg, err := localaws.Config(ctx, localCfg.DynamoDBEndpoint, localCfg.SQSEndpoint)
	if err != nil {
		return target{}, err
	}
	// Idempotent: finds the tables and queues `make run` made.
	res, err := localaws.Provision(ctx, awsCfg, schema.LocalNames)
	if err != nil {
		return target{}, fmt.Errorf("local tables and queues (is `make run` up?): %w", err)
	}
	return target{Replay: config.Replay{LedgerTable: res.LedgerTable, QueueURLs: res.QueueURLs}, aws: awsCfg}, nil
}
