package app

import (
	"io"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/upvest-webhooks/upvest-webhooks/shared/config"
	"github.com/upvest-webhooks/upvest-webhooks/shared/ledger"
	"github.com/upvest-webhooks/upvest-webhooks/shared/observability"
	"github.com/upvest-webhooks/upvest-webhooks/shared/state"
	"github.com/upvest-webhooks/upvest-webhooks/shared/worker"
)

// Worker builds one domain's worker; the DynamoDB client is built once. Its
// JSON logs and EMF metrics go to out (stdout in Lambda).
func Worker(cfg config.Worker, awsCfg aws.Config, out io.Writer, opts ...Option) *worker.Worker {
	o := collect(opts)
	db := dynamodb.NewFromConfig(o.tracing.InstrumentAWS(awsCfg))
	service := observability.WorkerService(string(cfg.Domain))
	w := worker.New(cfg.Domain,
		state.NewDynamo(db, cfg.StateTable),
		ledger.NewDynamo(db, cfg.LedgerTable),
		observability.NewLogger(out, service),
		observability.NewMetrics(out, service),
	)
	if o.tracing.Enabled() {
		w.WithTracing(o.tracing.TracerProvider())
	}
	return w
}
