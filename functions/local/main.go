// Command local runs the whole pipeline on this machine (`make run`): DynamoDB
// Local and the SQS server, the tables and queues, the ingest endpoint, a
// worker per domain, and the state changes as they happen. Ctrl-C stops it all.
// When both servers already answer on their ports (`make emulators`), it
// attaches to them and leaves them running when it stops.
//
// Settings: LOCAL_ADDR, LOCAL_DYNAMODB_PORT, LOCAL_SQS_PORT, LOCAL_DIR
// (shared/prod/config.LoadLocal), UPVEST_JWKS_FILE, and the ingest variables.
// Unless UPVEST_JWKS_FILE is set, it also serves a fake Upvest API (on
// LOCAL_UPVEST_ADDR, default any free port) and writes LOCAL_DIR/upvest-api.json
// for `ops webhooks -local` and `ops golive -local`.
// For `make chaos`: LOCAL_VISIBILITY_TIMEOUT (the queues' visibility timeout,
// whole seconds; default as deployed) and UPVEST_FAULTS / UPVEST_FAULTS_LOG
// (shared/local/faults: faults injected at the SDK boundary; off unless set).
package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/upvest-webhooks/upvest-webhooks/shared/local/faults"
	"github.com/upvest-webhooks/upvest-webhooks/shared/local/localaws"
	"github.com/upvest-webhooks/upvest-webhooks/shared/local/localrun"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/config"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/schema"
)

// envVisibilityTimeout shortens the queues' visibility timeout, so that a
// message a killed process held comes back soon (make chaos).
const envVisibilityTimeout = "LOCAL_VISIBILITY_TIMEOUT"

// envFakeUpvestAddr is where the fake Upvest API listens (default: any free port on 127.0.0.1).
const envFakeUpvestAddr = "LOCAL_UPVEST_ADDR"

// help is what -h prints: local takes no arguments, only environment variables.
const help = `usage: local (make run)

Runs the whole pipeline on this machine: DynamoDB Local and the SQS server (or
attaches to those of make emulators), the tables and queues, the ingest
endpoint, a worker per domain and a fake Upvest API; prints the state changes
as they happen. Ctrl-C stops it all.

It takes no arguments; settings are environment variables:
  LOCAL_ADDR, LOCAL_DYNAMODB_PORT, LOCAL_SQS_PORT, LOCAL_DIR   where it listens and keeps its files
  UPVEST_JWKS_FILE                                           your own keys instead of the dev key (no fake Upvest)
  LOCAL_UPVEST_ADDR                                          the fake Upvest API's address (default: a free port)
  LOCAL_VISIBILITY_TIMEOUT                                   the queues' visibility timeout, whole seconds
  UPVEST_FAULTS, UPVEST_FAULTS_LOG, UPVEST_FAULTS_SEED        faults injected at the SDK boundary (make chaos)
Every setting is checked before anything starts. Exit codes: 0 stopped, 1 failed, 2 bad command line.
`

func main() {
	if len(os.Args) > 1 {
		if a := os.Args[1]; len(os.Args) == 2 && (a == "-h" || a == "-help" || a == "--help" || a == "help") {
			fmt.Print(help)
			return
		}
		fmt.Fprintf(os.Stderr, "local: no arguments expected, got %q (settings are environment variables)\n\n%s", os.Args[1:], help)
		os.Exit(2)
	}
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "local:", err)
		os.Exit(1)
	}
}

// settings are the environment's settings, checked before anything starts.
type settings struct {
	local      config.Local
	visibility time.Duration
}

func loadSettings(getenv func(string) string) (settings, error) {
	cfg, err := config.LoadLocal(getenv)
	if err != nil {
		return settings{}, err
	}
	if _, _, err := net.SplitHostPort(cfg.Addr); err != nil {
		return settings{}, fmt.Errorf("%s=%q: want host:port (%v)", config.EnvLocalAddr, cfg.Addr, err)
	}
	visibility := localaws.DefaultVisibilityTimeout
	if v := getenv(envVisibilityTimeout); v != "" {
		if visibility, err = time.ParseDuration(v); err != nil || visibility < time.Second || visibility%time.Second != 0 {
			return settings{}, fmt.Errorf("%s=%q: want whole seconds, at least 1s", envVisibilityTimeout, v)
		}
	}
	if _, err := faults.Parse(getenv(faults.EnvFaults)); err != nil {
		return settings{}, err
	}
	if v := getenv(faults.EnvFaultsSeed); v != "" {
		if _, err := strconv.ParseUint(v, 10, 64); err != nil {
			return settings{}, fmt.Errorf("%s=%q: not a decimal seed", faults.EnvFaultsSeed, v)
		}
	}
	return settings{local: cfg, visibility: visibility}, nil
}

// checkListenAddr fails when the endpoint's address is taken, before the
// servers take their time to start and are stopped again.
func checkListenAddr(addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("%s=%s: %w (another make run?); stop what holds it, or choose another address with %s",
			config.EnvLocalAddr, addr, err, config.EnvLocalAddr)
	}
	return l.Close()
}

func run() error {
	set, err := loadSettings(os.Getenv)
	if err != nil {
		return err
	}
	cfg := set.local
	if err := checkListenAddr(cfg.Addr); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := localaws.StopWithParent(); err != nil {
		return err
	}

	jwksFile := os.Getenv(config.EnvJWKSFile)
	var fakeUpvest *localrun.FakeUpvest
	if jwksFile == "" {
		keys, err := localrun.EnsureDevKeys(cfg.Dir)
		if err != nil {
			return err
		}
		jwksFile = keys.JWKSPath
		verb := "using"
		if keys.Created {
			verb = "generated"
		}
		fmt.Printf("%s dev signing key %s (kid %s); its JWKS is %s\n", verb, keys.PrivateKeyPath, keys.KeyID, keys.JWKSPath)
		// A fake Upvest API, so that the go-live path runs locally; it signs
		// its test deliveries with the dev key.
		addr := os.Getenv(envFakeUpvestAddr)
		if addr == "" {
			addr = "127.0.0.1:0"
		}
		fakeUpvest, err = localrun.StartFakeUpvest(cfg.Dir, addr, keys, func(f string, a ...any) { fmt.Printf(f+"\n", a...) })
		if err != nil {
			return err
		}
		defer fakeUpvest.Stop()
		fmt.Printf("Fake Upvest API on %s (its client's credentials in %s, for `ops webhooks -local` and `ops golive -local`)\n", fakeUpvest.URL, fakeUpvest.FilePath)
	}

	logDir := filepath.Join(cfg.Dir, "logs")
	servers, err := localaws.Attach(ctx, cfg.DynamoDBPort, cfg.SQSPort)
	switch {
	case err == nil:
		fmt.Printf("Attached to DynamoDB Local %s and SQS %s, already running (they stay up when this stops)\n",
			servers.DynamoDBEndpoint, servers.SQSEndpoint)
	case errors.Is(err, localaws.ErrNotRunning):
		servers, err = localaws.Start(ctx, localaws.Options{DynamoDBPort: cfg.DynamoDBPort, SQSPort: cfg.SQSPort, LogDir: logDir})
		if err != nil {
			return err
		}
		fmt.Printf("DynamoDB Local %s, SQS %s (logs in %s)\n", servers.DynamoDBEndpoint, servers.SQSEndpoint, servers.LogDir)
	default:
		return err
	}
	defer servers.Stop()
	awsCfg, err := localaws.Config(ctx, servers.DynamoDBEndpoint, servers.SQSEndpoint)
	if err != nil {
		return err
	}
	injector, closeFaultLog, err := faults.FromEnv(os.Getenv)
	if err != nil {
		return err
	}
	defer closeFaultLog()
	var adjustAWS func(*aws.Config)
	if injector != nil {
		adjustAWS = injector.Install
		fmt.Printf("Injecting faults at the SDK boundary: %s (%s=%d replays the draws)\n", os.Getenv(faults.EnvFaults), faults.EnvFaultsSeed, injector.Seed())
	}
	visibility := set.visibility
	// Info and metric lines go to the log file; the terminal keeps state
	// changes, warnings and errors.
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return fmt.Errorf("create the log dir: %w", err)
	}
	logPath := filepath.Join(logDir, "local.log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open the log file: %w", err)
	}
	defer logFile.Close()
	fmt.Printf("Logs and metrics in %s (warnings and errors show here too)\n", logPath)
	return localrun.Run(ctx, localrun.Options{
		AWS: awsCfg, Names: schema.LocalNames, Addr: cfg.Addr, JWKSFile: jwksFile,
		VisibilityTimeout: visibility, MaxReceiveCount: localaws.DefaultMaxReceiveCount,
		Workers: true, Changes: os.Stdout, ChangesSinceNow: servers.Attached(), AdjustAWS: adjustAWS, Logs: localrun.ConsoleLogs(os.Stderr, logFile),
		Ready: func(url string) {
			fmt.Printf("\nUpvest webhook endpoint: POST %s\n", url)
			fmt.Println("Try, in another terminal (signed with the dev key):")
			if env := cfg.Overrides(); env != "" {
				fmt.Printf("  export %s   # this run's settings, there too\n", env)
			}
			fmt.Println("  go run ./functions/send -generate 3                                 # three ORDER lifecycles")
			fmt.Println("  go run ./functions/send -fresh-ids events/testdata/upvest/samples   # Upvest's example events")
			if fakeUpvest != nil {
				fmt.Println("Go live against the fake Upvest:")
				fmt.Println("  go run ./functions/ops webhooks create -local -title local   # a subscription on this endpoint, enabled")
				fmt.Println("  go run ./functions/ops golive -local                          # probe, keys, subscription, test delivery")
			}
			fmt.Println("Ctrl-C here stops everything.")
			fmt.Println("State changes appear below as they happen.")
		},
	})
}
