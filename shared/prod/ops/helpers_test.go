package ops_test

import (
	"github.com/upvest-webhooks/upvest-webhooks/shared/config"
	"github.com/upvest-webhooks/upvest-webhooks/shared/localaws/awstest"
)

// resources are env's tables and queues as the ops tool names them.
func resources(env awstest.Environment) config.Ops {
	return config.Ops{LedgerTable: env.LedgerTable, StateTables: env.StateTables, QueueURLs: env.QueueURLs, DLQURLs: env.DLQURLs}
}
