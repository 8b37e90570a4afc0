// Package localrun runs the whole pipeline on one machine: the ingest handler
// behind a real HTTP endpoint, a worker per domain polling its queue, and the
// state tables' streams printed as they change. The handlers are the same code
// the Lambdas run; only the plumbing around them is local.
package localrun

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/shared/local/apigwhttp"
	"github.com/upvest-webhooks/upvest-webhooks/shared/local/localaws"
	"github.com/upvest-webhooks/upvest-webhooks/shared/local/sqspoller"
	"github.com/upvest-webhooks/upvest-webhooks/shared/local/streamtail"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/app"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/app/ingestapp"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/app/workerapp"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/config"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/observability"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/permissions"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/schema"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/streams"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/tracing"
)

// WebhookPath is where the local endpoint listens, as the deployed API does.
const WebhookPath = "/webhooks"

// Options configure a local run.
type Options struct {
	AWS      aws.Config
	Names    schema.Names
	Addr     string // listen address, e.g. 127.0.0.1:8080
	JWKSFile string // Upvest's (or the dev) verification keys

	VisibilityTimeout time.Duration // like the deployed queues
	MaxReceiveCount   int

	Workers bool      // run a worker per domain
	Changes io.Writer // where state changes are printed; nil: not tailed
	// ChangesSinceNow tails only changes made from now on: servers that were
	// already running (`make emulators`) hold earlier runs' changes.
	ChangesSinceNow bool

	// Getenv supplies the ingest settings a user may override (PUBLIC_PATH,
	// SIGNATURE_CLOCK_SKEW, ...); resource names always come from provisioning.
	Getenv func(string) string
	// Logs receives every component's JSON log lines.
	Logs io.Writer
	// Ready is called with the webhook URL once everything runs.
	Ready func(webhookURL string)
	// AdjustAWS, when set, changes the config the handlers use, after
	// provisioning (which always runs on AWS as given): `make chaos` installs
	// its fault injection here.
	AdjustAWS func(*aws.Config)
}

// Run provisions the tables and queues, serves the endpoint and runs the
// workers until ctx is cancelled.
func Run(ctx context.Context, opts Options) error {
	if opts.Getenv == nil {
		opts.Getenv = os.Getenv
	}
	if opts.Logs == nil {
		opts.Logs = io.Discard
	}
	res, err := localaws.Provision(ctx, opts.AWS, opts.Names,
		localaws.WithVisibilityTimeout(opts.VisibilityTimeout), localaws.WithMaxReceiveCount(opts.MaxReceiveCount))
	if err != nil {
		return fmt.Errorf("provision local tables and queues: %w", err)
	}
	if opts.AdjustAWS != nil {
		opts.AWS = opts.AWS.Copy()
		opts.AdjustAWS(&opts.AWS)
	}
	fixed := res.IngestEnv()
	fixed[config.EnvJWKSFile] = opts.JWKSFile
	fixed[config.EnvJWKSParameter] = ""
	ingestCfg, err := config.LoadIngest(func(name string) string {
		if v, ok := fixed[name]; ok {
			return v
		}
		return opts.Getenv(name)
	})
	if err != nil {
		return err
	}
	// Tracing as in Lambda: off unless OTEL_TRACES_EXPORTER asks; console
	// spans go with the logs.
	traces, err := tracing.FromEnv(ctx, opts.Getenv, tracing.Settings{
		Service: "local", Console: opts.Logs, AWS: opts.AWS, Log: observability.NewLogger(opts.Logs, "tracing"),
	})
	if err != nil {
		return fmt.Errorf("tracing: %w", err)
	}
	defer func() {
		flushCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = traces.Shutdown(flushCtx) // best effort: the run is over
	}()
	// Each function's clients may do what the stack grants it, and no more.
	ingestAWS := localaws.PolicyFor(permissions.Ingest, res, "").Enforce(opts.AWS)
	service, err := ingestapp.New(ctx, ingestCfg, ingestAWS, opts.Logs, app.WithTracing(traces))
	if err != nil {
		return err
	}

	// The worker Lambda's own loader, fed the environment the stack sets.
	workerCfgs := map[events.Domain]config.Worker{}
	for _, d := range events.Domains() {
		env := res.WorkerEnv(d)
		if workerCfgs[d], err = config.LoadWorker(func(name string) string { return env[name] }); err != nil {
			return err
		}
	}

	listener, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", opts.Addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle(WebhookPath, apigwhttp.Handler(service.Handle,
		apigwhttp.WithRouteKey("POST "+WebhookPath), apigwhttp.WithLogger(observability.NewLogger(opts.Logs, "http"))))
	server := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	background := func(name string, run func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := run(); err != nil && ctx.Err() == nil {
				cancel(fmt.Errorf("%s: %w", name, err))
			}
		}()
	}
	background("http server", func() error {
		if err := server.Serve(listener); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	if opts.Workers {
		queues := sqs.NewFromConfig(opts.AWS)
		for _, d := range events.Domains() {
			workerAWS := localaws.PolicyFor(permissions.Worker, res, d).Enforce(opts.AWS)
			w := workerapp.New(workerCfgs[d], workerAWS, opts.Logs, app.WithTracing(traces))
			poller := &sqspoller.Poller{Client: queues, QueueURL: res.QueueURLs[d], Handler: w.Handle,
				Logger: observability.NewLogger(opts.Logs, "poller-"+string(d))}
			background("worker "+string(d), func() error { return poller.Run(ctx) })
		}
	}
	if opts.Changes != nil {
		arns := map[string]string{}
		for d, arn := range res.StateStreamARNs {
			arns[string(d)] = arn
		}
		// From the start of the streams when the local tables are new, so that
		// this is every change of this run, including any made before the tail
		// is up. The records go through the stream Lambda's handler, failures included.
		tailer := &streamtail.Tailer{
			Client: dynamodbstreams.NewFromConfig(opts.AWS), StreamARNs: arns, FromStart: !opts.ChangesSinceNow,
			Consumer: &streams.Consumer{Sink: streams.FormatLines(opts.Changes), Logger: observability.NewLogger(opts.Logs, "stream-tail")},
		}
		background("stream tail", func() error { return tailer.Run(ctx) })
	}
	if opts.Ready != nil {
		opts.Ready("http://" + listener.Addr().String() + WebhookPath)
	}

	<-ctx.Done()
	shutdownCtx, stop := context.WithTimeout(context.Background(), 10*time.Second)
	defer stop()
	shutdownErr := server.Shutdown(shutdownCtx)
	wg.Wait()
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
		return cause
	}
	return shutdownErr
}
