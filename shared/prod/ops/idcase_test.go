package ops_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/upvest-webhooks/upvest-webhooks/shared/local/localaws/awstest"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/ledger"
)

// Ingest records an event id that is a UUID in lower case, whatever case
// Upvest sent it in; an operator who copies the id from Upvest in capitals
// still finds the event with inspect, replay <id> and replay -ids-from.
func TestOpsFindsAnEventByItsIDInEitherCase(t *testing.T) {
	t.Parallel()
	env := awstest.Env(t)
	l := ledger.NewDynamo(env.DynamoDB, env.LedgerTable)
	e, r := orderEvent(t)
	claim(t, l, ledger.Record{EventID: e.ID, EventType: e.Type, Domain: r.Domain, EntityKey: r.EntityKey, Raw: e.Raw, Status: ledger.Parked, Reason: "a bug since fixed"})
	upper := strings.ToUpper(e.ID)
	if upper == e.ID {
		t.Fatalf("id %s has no letters", e.ID)
	}

	out, err := cli(t, env, "inspect", "-local", upper)
	if err != nil || !strings.Contains(out, "record:            "+e.ID) || !strings.Contains(out, "outcome:           parked: a bug since fixed") {
		t.Errorf("inspect %s: %v\n%s", upper, err, out)
	}
	out, err = cli(t, env, "replay", "-local", "-dry-run", upper)
	if err != nil || !strings.Contains(out, e.ID+" would-requeue orders") {
		t.Errorf("replay -dry-run %s: %v\n%s", upper, err, out)
	}
	ids := filepath.Join(t.TempDir(), "ids.txt")
	if err := os.WriteFile(ids, []byte(upper+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err = cli(t, env, "replay", "-local", "-plan", "-json", "-ids-from", ids)
	var plan struct {
		Sent    int            `json:"sent"`
		NotSent map[string]int `json:"not_sent"`
	}
	if err != nil || json.Unmarshal([]byte(out), &plan) != nil || plan.Sent != 1 || len(plan.NotSent) != 0 {
		t.Errorf("replay -plan -ids-from with %s: %v\n%s", upper, err, out)
	}
}
