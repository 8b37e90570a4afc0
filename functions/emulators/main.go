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
	"strconv"
	"syscall"

	"github.com/upvest-webhooks/upvest-webhooks/shared/localaws"
)

func main() { os.Exit(run()) }

func run() int {
	dynamoPort := flag.Int("dynamodb-port", envInt("LOCALAWS_DYNAMODB_PORT", localaws.DefaultDynamoDBPort), "DynamoDB Local port (env LOCALAWS_DYNAMODB_PORT)")
	sqsPort := flag.Int("sqs-port", envInt("LOCALAWS_SQS_PORT", localaws.DefaultSQSPort), "fauxqs (SQS) port (env LOCALAWS_SQS_PORT)")
	logDir := flag.String("log-dir", envString("LOCALAWS_LOG_DIR", ".local/logs"), "server logs (env LOCALAWS_LOG_DIR)")
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

func envString(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}

func envInt(name string, fallback int) int {
	v := os.Getenv(name)
	if v == "" {
		return fallback
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		fmt.Fprintf(os.Stderr, "emulators: %s=%q is not a port number\n", name, v)
		os.Exit(2)
	}
	return n
}
