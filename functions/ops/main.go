// Command ops is the operations tool: what became of an event, parked records,
// replays, dead-letter redrives and Upvest's keys, on AWS or on `make run`.
//
//	go run ./functions/ops inspect [-local] <event id | request:<sha256>>
//	go run ./functions/ops parked [-local] [DOMAIN | requests]
//	go run ./functions/ops replay [-local] [-dry-run] (-parked DOMAIN | -unrouted | <id>...)
//	go run ./functions/ops redrive [-local] [-max N] DOMAIN
//	go run ./functions/ops keys fetch|sync
//
// Deployed: the stack outputs as LEDGER_TABLE, STATE_TABLE_<DOMAIN>,
// QUEUE_URL_<DOMAIN> and DLQ_URL_<DOMAIN>, with the operator's AWS
// credentials. -local: the tables and queues of `make run`. The logic lives in
// shared/ops.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/upvest-webhooks/upvest-webhooks/shared/ops"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// Keys stays nil until the key sync (shared/keysync) is wired in.
	cli := &ops.CLI{Getenv: os.Getenv, Stdout: os.Stdout, Stderr: os.Stderr}
	err := cli.Run(ctx, os.Args[1:])
	switch {
	case err == nil:
		return
	case errors.Is(err, ops.ErrUsage):
		fmt.Fprintf(os.Stderr, "ops: %v\n\n%s", err, ops.Usage)
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "ops:", err)
		os.Exit(1)
	}
}
