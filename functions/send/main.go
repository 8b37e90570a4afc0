// Command send posts Upvest-style signed webhook requests to a receiver, for
// local runs and demos:
//
//	go run ./functions/send [flags] <file-or-folder>...
//	go run ./functions/send [flags] -generate 10
//	go run ./functions/send keygen [-dir DIR]
//
// The dev key and JWKS are read from (and keygen writes them to) LOCAL_DIR
// (default .local), where `make run` keeps them.
// It prints one line per request and exits non-zero unless every request was
// answered 200.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"time"

	"github.com/upvest-webhooks/upvest-webhooks/shared/local/webhookclient"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/config"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/signature"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "keygen" {
		return keygen(args[1:], stdout, stderr)
	}
	fs := flag.NewFlagSet("send", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: send [flags] <file-or-folder>... | send [flags] -generate N | send keygen [-dir DIR]")
		fmt.Fprintln(stderr, "exit codes: 0 every request answered 200, 1 not, or a failure, 2 bad command line")
		fs.PrintDefaults()
	}
	local, err := config.LoadLocal(os.Getenv)
	if err != nil {
		fmt.Fprintln(stderr, "send:", err)
		return 2
	}
	url := fs.String("url", local.WebhookURL, "receiver URL (env "+config.EnvSendURL+", else the local endpoint at "+config.EnvLocalAddr+")")
	keyPath := fs.String("key", filepath.Join(local.Dir, webhookclient.DevKeyFile), "private key PEM (P-521)")
	kid := fs.String("kid", "", "key id (default: the only kid in -jwks)")
	jwksPath := fs.String("jwks", filepath.Join(local.Dir, webhookclient.DevJWKSFile), "JWKS to read the kid from when -kid is not given")
	batch := fs.Int("batch", 10, "events per request")
	freshIDs := fs.Bool("fresh-ids", false, "give every event a new id (samples repeat ids)")
	tamper := fs.Bool("tamper", false, "flip a body byte after signing (the receiver must answer 401)")
	generate := fs.Int("generate", 0, "also send N synthetic ORDER lifecycles (4 events each)")
	draftFlag := fs.String("draft", "06", "signature draft: 06 (digest) or 15 (content-digest), as Upvest's signers make them")
	if err := fs.Parse(args); err != nil {
		return parseFailure(err)
	}
	if fs.NArg() == 0 && *generate <= 0 {
		fs.Usage()
		return 2
	}
	if *batch < 1 {
		fmt.Fprintln(stderr, "send: -batch must be at least 1")
		return 2
	}
	draft, err := signature.ParseDraft(*draftFlag)
	if err != nil {
		fmt.Fprintln(stderr, "send: -draft:", err)
		return 2
	}

	key, keyID, err := webhookclient.LoadSigningKey(*keyPath, *kid, *jwksPath)
	if err != nil {
		fmt.Fprintf(stderr, "send: %v (make one with: go run ./functions/send keygen)\n", err)
		return 1
	}
	evs, err := collectEvents(fs.Args(), *generate, *freshIDs)
	if err != nil {
		fmt.Fprintln(stderr, "send:", err)
		return 1
	}

	client := &webhookclient.Client{URL: *url, Key: key, KeyID: keyID, Tamper: *tamper, Draft: draft}
	n, failed := 0, 0
	_, err = client.PostAll(ctx, evs, *batch, func(r webhookclient.Result) {
		n++
		if !r.OK() {
			failed++
		}
		fmt.Fprintf(stdout, "#%d %d events=%d %s\n", n, r.Status, r.Events, r.Body)
	})
	if err != nil {
		fmt.Fprintln(stderr, "send:", err)
		return 1
	}
	if failed > 0 {
		fmt.Fprintf(stderr, "send: %d of %d requests not answered 200\n", failed, n)
		return 1
	}
	return 0
}

func collectEvents(paths []string, generate int, freshIDs bool) ([]json.RawMessage, error) {
	var evs []json.RawMessage
	if len(paths) > 0 {
		loaded, err := webhookclient.LoadEvents(paths...)
		if err != nil {
			return nil, err
		}
		if freshIDs {
			if loaded, err = webhookclient.WithFreshIDs(loaded); err != nil {
				return nil, err
			}
		}
		evs = append(evs, loaded...)
	}
	if generate > 0 {
		generated, err := webhookclient.GenerateOrderLifecycles(generate, time.Now())
		if err != nil {
			return nil, err
		}
		evs = append(evs, generated...)
	}
	return evs, nil
}

func keygen(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("keygen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	local, err := config.LoadLocal(os.Getenv)
	if err != nil {
		fmt.Fprintln(stderr, "keygen:", err)
		return 2
	}
	dir := fs.String("dir", local.Dir, "folder for "+webhookclient.DevKeyFile+" and "+webhookclient.DevJWKSFile+" (env "+config.EnvLocalDir+")")
	if err := fs.Parse(args); err != nil {
		return parseFailure(err)
	}
	kid, err := webhookclient.WriteDevKey(*dir)
	if err != nil {
		fmt.Fprintln(stderr, "keygen:", err)
		return 1
	}
	fmt.Fprintln(stdout, kid)
	return 0
}

// parseFailure is the exit code after a failed flag parse, which printed the
// usage: 0 when it was asked for with -h, 2 for a bad command line.
func parseFailure(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	return 2
}
