// Command local runs the whole pipeline on this machine (`make run`): DynamoDB
// Local and the SQS server, the tables and queues, the ingest endpoint, a
// worker per domain, and the state changes as they happen. Ctrl-C stops it all.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/upvest-webhooks/upvest-webhooks/shared/config"
	"github.com/upvest-webhooks/upvest-webhooks/shared/localaws"
	"github.com/upvest-webhooks/upvest-webhooks/shared/localrun"
	"github.com/upvest-webhooks/upvest-webhooks/shared/schema"
)

func main() {
	addr := flag.String("addr", envOr("LOCAL_ADDR", "127.0.0.1:8080"), "webhook endpoint address (env LOCAL_ADDR)")
	dynamoPort := flag.Int("dynamodb-port", envInt("LOCAL_DYNAMODB_PORT", localaws.DefaultDynamoDBPort), "DynamoDB Local port (env LOCAL_DYNAMODB_PORT)")
	sqsPort := flag.Int("sqs-port", envInt("LOCAL_SQS_PORT", localaws.DefaultSQSPort), "SQS server port (env LOCAL_SQS_PORT)")
	stateDir := flag.String("dir", envOr("LOCAL_DIR", ".local"), "dev keys and server logs (env LOCAL_DIR)")
	flag.Parse()
	if err := run(*addr, *dynamoPort, *sqsPort, *stateDir); err != nil {
		fmt.Fprintln(os.Stderr, "local:", err)
		os.Exit(1)
	}
}

func run(addr string, dynamoPort, sqsPort int, dir string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	jwksFile := os.Getenv(config.EnvJWKSFile)
	if jwksFile == "" {
		keys, err := localrun.EnsureDevKeys(dir)
		if err != nil {
			return err
		}
		jwksFile = keys.JWKSPath
		verb := "using"
		if keys.Created {
			verb = "generated"
		}
		fmt.Printf("%s dev signing key %s (kid %s); its JWKS is %s\n", verb, keys.PrivateKeyPath, keys.KeyID, keys.JWKSPath)
	}

	servers, err := localaws.Start(ctx, localaws.Options{DynamoDBPort: dynamoPort, SQSPort: sqsPort, LogDir: filepath.Join(dir, "logs")})
	if err != nil {
		return err
	}
	defer servers.Stop()
	fmt.Printf("DynamoDB Local %s, SQS %s (logs in %s)\n", servers.DynamoDBEndpoint, servers.SQSEndpoint, servers.LogDir)
	awsCfg, err := localaws.Config(ctx, servers.DynamoDBEndpoint, servers.SQSEndpoint)
	if err != nil {
		return err
	}
	return localrun.Run(ctx, localrun.Options{
		AWS: awsCfg, Names: schema.LocalNames, Addr: addr, JWKSFile: jwksFile,
		VisibilityTimeout: localaws.DefaultVisibilityTimeout, MaxReceiveCount: localaws.DefaultMaxReceiveCount,
		Workers: true, Changes: os.Stdout, Logs: os.Stderr,
		Ready: func(url string) {
			fmt.Printf("\nUpvest webhook endpoint: POST %s\n", url)
			fmt.Println("Try, in another terminal (signed with the dev key):")
			fmt.Println("  go run ./functions/send -generate 3                                 # three ORDER lifecycles")
			fmt.Println("  go run ./functions/send -fresh-ids events/testdata/upvest/samples   # Upvest's example events")
			fmt.Println("Ctrl-C here stops everything.")
			fmt.Println("State changes appear below as they happen.")
		},
	})
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return n
	}
	return def
}
