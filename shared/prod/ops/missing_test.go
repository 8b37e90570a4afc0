package ops_test

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/shared/local/localaws/awstest"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/ops"
)

// A stack output exported wrong (a typo, another stack's name) names a table
// that does not exist: each subcommand says which variable names which
// missing table before it reads or writes anything, instead of DynamoDB's
// "Cannot do operations on a non-existent table" after a summary that says
// it rebuilt, with the advice to run the same command again.
func TestDeployedRunsAgainstAMissingTableSayWhichOne(t *testing.T) {
	t.Parallel()
	env := awstest.Env(t)
	missing := env.Names.Prefix + "no-such-table"
	vars := map[string]string{}
	for _, d := range events.Domains() {
		name := strings.ToUpper(string(d))
		vars["STATE_TABLE_"+name] = env.StateTables[d]
		vars["QUEUE_URL_"+name] = env.QueueURLs[d]
		vars["DLQ_URL_"+name] = env.DLQURLs[d]
	}
	checkpoint := filepath.Join(t.TempDir(), "cp.json")
	for _, tc := range []struct {
		variable string
		args     []string
	}{
		{"LEDGER_TABLE", []string{"rebuild", "-checkpoint", checkpoint, "orders"}},
		{"STATE_TABLE_ORDERS", []string{"rebuild", "-checkpoint", checkpoint, "orders"}},
		{"STATE_TABLE_ORDERS", []string{"rebuild", "-entity", "ORDER#x", "orders"}},
		{"LEDGER_TABLE", []string{"replay", "-checkpoint", checkpoint, "-domain", "orders"}},
		{"LEDGER_TABLE", []string{"replay", "-plan", "-domain", "orders"}},
		{"LEDGER_TABLE", []string{"parked", "orders"}},
	} {
		getenv := func(k string) string {
			if k == tc.variable {
				return missing
			}
			if k == "LEDGER_TABLE" {
				return env.LedgerTable
			}
			return vars[k]
		}
		var out, errOut bytes.Buffer
		c := &ops.CLI{Getenv: getenv, Stdout: &out, Stderr: &errOut, AWS: func(context.Context) (aws.Config, error) { return env.Config, nil }}
		err := c.Run(context.Background(), tc.args)
		if err == nil || !strings.Contains(err.Error(), tc.variable+"="+missing) || !strings.Contains(err.Error(), "does not exist") {
			t.Errorf("%s=%s %v: error %v; want it to name the variable and its missing table", tc.variable, missing, tc.args, err)
		}
		if out.Len() > 0 {
			t.Errorf("%s=%s %v printed a result:\n%s", tc.variable, missing, tc.args, out.String())
		}
	}
}
