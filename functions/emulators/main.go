// Command emulators runs the local AWS servers (DynamoDB Local, fauxqs for SQS).
//
//	go run ./functions/emulators [flags]                 # provision, then serve until Ctrl-C (`make emulators`)
//	go run ./functions/emulators [flags] -- go test ./... # run a command against them, then stop
//
// Without a command it provisions the local pipeline's tables and queues, so
// that `make run` (which attaches to servers already up) and the local tools
// find them. With a command it exits with the command's exit code.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/upvest-webhooks/upvest-webhooks/shared/local/localaws"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/config"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/schema"
)

func main() { os.Exit(run()) }

func run() int {
	local, err := config.LoadLocal(os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "emulators:", err)
		return 2
	}
	dynamoPort := flag.Int("dynamodb-port", local.DynamoDBPort, "DynamoDB Local port (env "+config.EnvLocalDynamoDBPort+")")
	sqsPort := flag.Int("sqs-port", local.SQSPort, "fauxqs (SQS) port (env "+config.EnvLocalSQSPort+")")
	logDir := flag.String("log-dir", filepath.Join(local.Dir, "logs"), "server logs (default under env "+config.EnvLocalDir+")")
	toolsDir := flag.String("tools-dir", "", "npm-installed servers (default <repo>/infra/node_modules)")
	dataDir := flag.String("data-dir", "", "keep DynamoDB's tables on disk here across restarts (default: in memory); SQS queues are never kept")
	flag.Usage = func() {
		out := flag.CommandLine.Output()
		fmt.Fprintln(out, "usage: emulators [flags]                  provision the local tables and queues, then serve until Ctrl-C")
		fmt.Fprintln(out, "       emulators [flags] -- COMMAND [ARG]... run COMMAND with AWS_ENDPOINT_URL_DYNAMODB and")
		fmt.Fprintln(out, "                                          AWS_ENDPOINT_URL_SQS pointing at them, then stop them")
		fmt.Fprintln(out, "exit codes: with a command, the command's; else 0 stopped, 1 failed, 2 bad command line")
		flag.PrintDefaults()
	}
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := localaws.StopWithParent(); err != nil {
		fmt.Fprintln(os.Stderr, "emulators:", err)
		return 1
	}

	servers, err := localaws.Start(ctx, localaws.Options{
		DynamoDBPort: *dynamoPort, SQSPort: *sqsPort, LogDir: *logDir, ToolsDir: *toolsDir, DataDir: *dataDir,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "emulators:", err)
		return 1
	}
	defer stopServers(servers)
	fmt.Fprintf(os.Stderr, "emulators: %s=%s %s=%s (logs in %s)\n",
		localaws.EnvDynamoDBEndpoint, servers.DynamoDBEndpoint, localaws.EnvSQSEndpoint, servers.SQSEndpoint, servers.LogDir)

	if flag.NArg() == 0 {
		if err := provision(ctx, servers); err != nil {
			fmt.Fprintln(os.Stderr, "emulators:", err)
			return 1
		}
		if *dataDir != "" {
			fmt.Fprintf(os.Stderr, "emulators: DynamoDB data kept in %s (SQS messages are not kept across restarts)\n", *dataDir)
		}
		fmt.Fprintln(os.Stderr, "emulators: tables and queues provisioned; running; Ctrl-C to stop")
		<-ctx.Done()
		return 0
	}
	code, err := servers.RunCommand(ctx, flag.Args())
	if err != nil {
		fmt.Fprintln(os.Stderr, "emulators:", err)
	}
	return code
}

// provision creates the local pipeline's tables and queues, as `make run` does.
func provision(ctx context.Context, s *localaws.Servers) error {
	cfg, err := localaws.Config(ctx, s.DynamoDBEndpoint, s.SQSEndpoint)
	if err != nil {
		return err
	}
	if _, err := localaws.Provision(ctx, cfg, schema.LocalNames); err != nil {
		return fmt.Errorf("provision: %w", err)
	}
	return nil
}

func stopServers(s *localaws.Servers) {
	if err := s.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "emulators: stop:", err)
	}
}
