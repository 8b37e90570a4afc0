// Package workerapp assembles one domain's worker from its configuration. The
// worker Lambda and the local runner share it; it is apart from the ingest
// assembly (ingestapp) so that each binary links only what it runs.
package workerapp

import (
	"io"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/app"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/config"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/ledger"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/observability"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/state"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/worker"
)

// New builds one domain's worker; the DynamoDB client is built once. Its
// JSON logs and EMF metrics go to out (stdout in Lambda).
func New(cfg config.Worker, awsCfg aws.Config, out io.Writer, opts ...app.Option) *worker.Worker {
	o := app.Collect(opts)
	db := dynamodb.NewFromConfig(o.Tracing.InstrumentAWS(awsCfg))
	service := observability.WorkerService(string(cfg.Domain))
	w := worker.New(cfg.Domain,
		state.NewDynamo(db, cfg.StateTable),
		ledger.NewDynamo(db, cfg.LedgerTable),
		observability.NewLogger(out, service),
		observability.NewMetrics(out, service),
	)
	if o.Tracing.Enabled() {
		w.WithTracing(o.Tracing.TracerProvider())
	}
	return w
}
