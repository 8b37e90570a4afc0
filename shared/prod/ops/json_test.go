package ops_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/shared/local/localaws/awstest"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/ledger"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/ops"
)

// parked and redrive print -json for scripts, as the other subcommands do;
// an empty result is an empty list, not null.
func TestParkedAndRedrivePrintJSON(t *testing.T) {
	t.Parallel()
	env := awstest.Env(t)
	l := ledger.NewDynamo(env.DynamoDB, env.LedgerTable)
	order, _ := orderEvent(t)
	claim(t, l, ledger.Record{EventID: order.ID, EventType: order.Type, Domain: events.Orders, Raw: order.Raw, Status: ledger.Parked, Reason: "orders reason"})

	var parked struct {
		Records []struct {
			Partition string `json:"partition"`
			Key       string `json:"event_id"`
			Reason    string `json:"reason"`
		} `json:"records"`
	}
	out, err := cli(t, env, "parked", "-local", "-json", "orders")
	if err != nil || json.Unmarshal([]byte(out), &parked) != nil || len(parked.Records) != 1 ||
		parked.Records[0].Partition != "orders" || parked.Records[0].Key != order.ID || parked.Records[0].Reason != "orders reason" {
		t.Errorf("parked -json: %v\n%s", err, out)
	}
	out, err = cli(t, env, "parked", "-local", "-json", "payments")
	if err != nil || out != "{\n  \"records\": []\n}\n" {
		t.Errorf("parked -json of an empty partition: %v\n%q", err, out)
	}

	deadLetters(t, env, env.DLQURLs[events.Payments], 1)
	var redriven struct {
		Domain   string   `json:"domain"`
		Moved    []string `json:"moved"`
		CameBack int      `json:"came_back"`
	}
	out, err = cli(t, env, "redrive", "-local", "-json", "payments")
	if err != nil || json.Unmarshal([]byte(out), &redriven) != nil || redriven.Domain != "payments" || len(redriven.Moved) != 1 || redriven.Moved[0] != "dead-0" {
		t.Errorf("redrive -json: %v\n%s", err, out)
	}
	out, err = cli(t, env, "redrive", "-local", "-json", "payments")
	if err != nil || json.Unmarshal([]byte(out), &redriven) != nil || redriven.Moved == nil || len(redriven.Moved) != 0 {
		t.Errorf("redrive -json of an empty DLQ: %v\n%s", err, out)
	}
}

// inspect -json tells a script the outcome, the row and the queues by name.
func TestInspectPrintsJSON(t *testing.T) {
	t.Parallel()
	env := awstest.Env(t)
	l := ledger.NewDynamo(env.DynamoDB, env.LedgerTable)
	e, r := orderEvent(t)
	claim(t, l, ledger.Record{EventID: e.ID, EventType: e.Type, Domain: r.Domain, EntityKey: r.EntityKey, Raw: e.Raw, Status: ledger.Received})
	out, err := cli(t, env, "inspect", "-local", "-json", e.ID)
	var rep ops.ReportJSON
	if err != nil || json.Unmarshal([]byte(out), &rep) != nil {
		t.Fatalf("inspect -json: %v\n%s", err, out)
	}
	if rep.Record != e.ID || rep.Kind != "event" || rep.Outcome != ops.OutcomePending || rep.Domain != "orders" || rep.EntityKey != r.EntityKey ||
		rep.StateRow != nil || rep.OrderView != nil || len(rep.Queues) != 2 || rep.Queues[0].Name != "queue" || rep.Queues[0].Skipped != "" {
		t.Errorf("inspect -json of a pending event:\n%s", out)
	}
	if _, err := cli(t, env, "inspect", "-local", "-json", "no-such-event"); !errors.Is(err, ops.ErrUnknownEvent) {
		t.Errorf("inspect -json of an unknown id: %v", err)
	}
}
