// Command ops is the operations tool: what became of an event, parked records,
// replays, dead-letter redrives and Upvest's keys, on AWS or on `make run`.
//
//	go run ./functions/ops inspect [-local] <event id | request:<sha256>>
//	go run ./functions/ops parked [-local] [DOMAIN | requests]
//	go run ./functions/ops replay [-local] [-dry-run] (-parked DOMAIN | -unrouted | <id>...)
//	go run ./functions/ops redrive [-local] [-max N] DOMAIN
//	go run ./functions/ops replay [-local] [-plan] [-domain D] [-type T] [-since T] [-until T] [-status S] [-ids-from FILE]
//	go run ./functions/ops rebuild [-local] [-into TABLE [-verify]] [-entity PK] DOMAIN
//	go run ./functions/ops keys fetch|sync
//	go run ./functions/ops webhooks list|show|create|update|enable|disable|delete|test ...
//	go run ./functions/ops golive [-local] [-json]
//	go run ./functions/ops [<subcommand>] -h
//
// Deployed: the stack outputs as LEDGER_TABLE, STATE_TABLE_<DOMAIN>,
// QUEUE_URL_<DOMAIN> and DLQ_URL_<DOMAIN>, with the operator's AWS
// credentials. -local: the tables and queues of `make run`. The logic lives in
// shared/prod/ops.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/awssdk"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/config"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/keysync"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/observability"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/ops"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cli := &ops.CLI{Getenv: os.Getenv, Stdout: os.Stdout, Stderr: os.Stderr, Keys: keysFromEnv{}}
	err := cli.Run(ctx, os.Args[1:])
	switch {
	case err == nil:
		return
	case errors.Is(err, ops.ErrDifferences):
		fmt.Fprintln(os.Stderr, "ops:", err)
		os.Exit(3)
	case errors.Is(err, context.Canceled):
		fmt.Fprintln(os.Stderr, "ops: interrupted:", err)
		os.Exit(130)
	case errors.Is(err, ops.ErrUsage):
		fmt.Fprintf(os.Stderr, "ops: %v\n\n%s", err, ops.HelpFor(os.Args[1:]))
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "ops:", err)
		os.Exit(1)
	}
}

// keysFromEnv builds the key syncer from the key sync's variables (as the
// keysync Lambda has them) when `keys` runs, so other subcommands need none.
type keysFromEnv struct{}

var _ ops.KeySyncer = keysFromEnv{}

func (keysFromEnv) syncer(ctx context.Context) (*keysync.Syncer, error) {
	cfg, err := config.LoadKeySync(os.Getenv)
	if err != nil {
		return nil, fmt.Errorf("key sync: %w", err)
	}
	awsCfg, err := awssdk.LoadDefault(ctx)
	if err != nil {
		return nil, fmt.Errorf("aws configuration: %w", err)
	}
	return keysync.New(cfg, awsCfg, observability.NewLogger(os.Stderr, "ops")), nil
}

func (k keysFromEnv) Fetch(ctx context.Context) ([]byte, error) {
	s, err := k.syncer(ctx)
	if err != nil {
		return nil, err
	}
	return s.Fetch(ctx)
}

func (k keysFromEnv) Sync(ctx context.Context) (bool, error) {
	s, err := k.syncer(ctx)
	if err != nil {
		return false, err
	}
	return s.Sync(ctx)
}
