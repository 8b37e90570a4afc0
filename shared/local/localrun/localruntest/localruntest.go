// Package localruntest starts the local run's pipeline (what `make run` runs)
// for a test, on the test's private tables and queues, with a client that
// signs requests with the pipeline's dev key.
package localruntest

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/upvest-webhooks/upvest-webhooks/shared/local/localaws/awstest"
	"github.com/upvest-webhooks/upvest-webhooks/shared/local/localrun"
	"github.com/upvest-webhooks/upvest-webhooks/shared/local/webhookclient"
)

// Options adjust the pipeline; the zero value runs ingest only.
type Options struct {
	Workers           bool          // run a worker per domain
	Changes           io.Writer     // where state changes are printed; nil: not tailed
	VisibilityTimeout time.Duration // default awstest.DefaultVisibilityTimeout
	MaxReceiveCount   int           // default awstest.DefaultMaxReceiveCount
	// EditJWKS may change the verification key set before the pipeline reads it.
	EditJWKS func(t testing.TB, path string)
}

// Start runs the pipeline until the test ends (a run that ends with an error
// fails the test) and returns a client for its endpoint.
func Start(t testing.TB, env awstest.Environment, opts Options) *webhookclient.Client {
	t.Helper()
	if opts.VisibilityTimeout == 0 {
		opts.VisibilityTimeout = awstest.DefaultVisibilityTimeout
	}
	if opts.MaxReceiveCount == 0 {
		opts.MaxReceiveCount = awstest.DefaultMaxReceiveCount
	}
	keys, err := localrun.EnsureDevKeys(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if opts.EditJWKS != nil {
		opts.EditJWKS(t, keys.JWKSPath)
	}
	key, kid, err := webhookclient.LoadSigningKey(keys.PrivateKeyPath, "", keys.JWKSPath)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready, done := make(chan string, 1), make(chan error, 1)
	go func() {
		done <- localrun.Run(ctx, localrun.Options{
			AWS: env.Config, Names: env.Names, Addr: "127.0.0.1:0", JWKSFile: keys.JWKSPath,
			VisibilityTimeout: opts.VisibilityTimeout, MaxReceiveCount: opts.MaxReceiveCount,
			Workers: opts.Workers, Changes: opts.Changes,
			Getenv: func(string) string { return "" },
			Ready:  func(url string) { ready <- url },
		})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("local run ended with %v", err)
		}
	})
	select {
	case url := <-ready:
		return &webhookclient.Client{URL: url, Key: key, KeyID: kid}
	case err := <-done:
		t.Fatalf("local run did not start: %v", err)
	case <-time.After(2 * time.Minute):
		t.Fatal("local run did not start within 2 minutes")
	}
	return nil
}
