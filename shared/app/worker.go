package app

import (
	"log/slog"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/upvest-webhooks/upvest-webhooks/shared/config"
	"github.com/upvest-webhooks/upvest-webhooks/shared/ledger"
	"github.com/upvest-webhooks/upvest-webhooks/shared/observability"
	"github.com/upvest-webhooks/upvest-webhooks/shared/state"
	"github.com/upvest-webhooks/upvest-webhooks/shared/worker"
)

// Worker builds one domain's worker; the DynamoDB client is built once.
func Worker(cfg config.Worker, awsCfg aws.Config, log *slog.Logger) *worker.Worker {
	db := dynamodb.NewFromConfig(awsCfg)
	return worker.New(cfg.Domain,
		state.NewDynamo(db, cfg.StateTable),
		ledger.NewDynamo(db, cfg.LedgerTable),
		log,
		observability.NewMetrics(os.Stdout, "worker-"+string(cfg.Domain)),
	)
}
