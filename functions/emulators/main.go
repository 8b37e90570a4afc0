// Command emulators runs the local AWS servers (DynamoDB Local, fauxqs for SQS).
//
//	go run ./functions/emulators [flags]                 # until Ctrl-C
//	go run ./functions/emulators [flags] -- go test ./... # run a command against them, then stop
//
// With a command it exits with the command's exit code.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/upvest-webhooks/upvest-webhooks/shared/config"
	"github.com/upvest-webhooks/upvest-webhooks/shared/localaws"
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
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	servers, err := localaws.Start(ctx, localaws.Options{
		DynamoDBPort: *dynamoPort, SQSPort: *sqsPort, LogDir: *logDir, ToolsDir: *toolsDir,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "emulators:", err)
		return 1
	}
	defer stopServers(servers)
	fmt.Fprintf(os.Stderr, "emulators: %s=%s %s=%s (logs in %s)\n",
		localaws.EnvDynamoDBEndpoint, servers.DynamoDBEndpoint, localaws.EnvSQSEndpoint, servers.SQSEndpoint, servers.LogDir)

	if flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "emulators: running; Ctrl-C to stop")
		<-ctx.Done()
		return 0
	}
	code, err := servers.RunCommand(ctx, flag.Args())
	if err != nil {
		fmt.Fprintln(os.Stderr, "emulators:", err)
	}
	return code
}

func stopServers(s *localaws.Servers) {
	if err := s.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "emulators: stop:", err)
	}
}
