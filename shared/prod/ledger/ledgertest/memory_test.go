package ledgertest_test

import (
	"testing"
	"time"

	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/ledger"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/ledger/ledgertest"
)

func TestMemoryKeepsTheLedgerContract(t *testing.T) {
	ledgertest.RunContract(t, func(_ *testing.T, now func() time.Time) ledger.Store {
		return ledgertest.NewMemory(now)
	})
}
