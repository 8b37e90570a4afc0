package ops_test

import (
	"github.com/upvest-webhooks/upvest-webhooks/shared/local/localaws/awstest"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/config"
)

// resources are env's tables and queues as the ops tool names them.
func resources(env awstest.Environment) config.Ops {
	return config.Ops{LedgerTable: env.LedgerTable, StateTables: env.StateTables, QueueURLs: env.QueueURLs, DLQURLs: env.DLQURLs}
}
