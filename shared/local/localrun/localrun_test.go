package localrun_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	upvest "github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/events/upvesttest"
	"github.com/upvest-webhooks/upvest-webhooks/shared/local/localaws/awstest"
	"github.com/upvest-webhooks/upvest-webhooks/shared/local/localrun/localruntest"
	"github.com/upvest-webhooks/upvest-webhooks/shared/local/webhookclient"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/config"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/ledger"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/message"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/ops"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/schema"
	"github.com/upvest-webhooks/upvest-webhooks/shared/testkit/syncbuf"
)

// End-to-end: the send client → the local HTTP endpoint → the real handler →
// DynamoDB Local and the SQS server (→ workers → state tables → streams).

type pipeline struct {
	env     awstest.Environment
	client  *webhookclient.Client
	changes *syncbuf.Buffer
}

func startPipeline(t *testing.T, workers bool) *pipeline {
	t.Helper()
	return startPipelineWithKeys(t, workers, nil)
}

// startPipelineWithKeys lets editJWKS change the verification key set before
// the pipeline reads it.
func startPipelineWithKeys(t *testing.T, workers bool, editJWKS func(t testing.TB, path string)) *pipeline {
	t.Helper()
	p := &pipeline{env: awstest.Env(t), changes: &syncbuf.Buffer{}}
	p.client = localruntest.Start(t, p.env, localruntest.Options{Workers: workers, Changes: p.changes, EditJWKS: editJWKS})
	return p
}

func (p *pipeline) post(t *testing.T, evs []json.RawMessage, batch int) []webhookclient.Result {
	t.Helper()
	results, err := p.client.PostAll(context.Background(), evs, batch, nil)
	if err != nil {
		t.Fatal(err)
	}
	return results
}

func officialSamples(t *testing.T) []json.RawMessage {
	t.Helper()
	dir := upvesttest.SamplesDir(t)
	evs, err := webhookclient.LoadEvents(dir)
	if err != nil || len(evs) == 0 {
		t.Fatalf("Upvest samples under %s: %v", dir, err)
	}
	fresh, err := webhookclient.WithFreshIDs(evs)
	if err != nil {
		t.Fatal(err)
	}
	return fresh
}

func (p *pipeline) ledger(t *testing.T) map[string]string {
	t.Helper()
	statuses := map[string]string{}
	var start map[string]types.AttributeValue
	for {
		out, err := p.env.DynamoDB.Scan(context.Background(), &dynamodb.ScanInput{
			TableName: aws.String(p.env.LedgerTable), ExclusiveStartKey: start, ConsistentRead: aws.Bool(true),
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range out.Items {
			statuses[str(it[schema.LedgerPK])] = str(it[schema.LedgerStatus])
		}
		if start = out.LastEvaluatedKey; len(start) == 0 {
			return statuses
		}
	}
}

func str(v types.AttributeValue) string {
	switch v := v.(type) {
	case *types.AttributeValueMemberS:
		return v.Value
	case *types.AttributeValueMemberN:
		return v.Value
	}
	return ""
}

func routes(t *testing.T, evs []json.RawMessage) map[string]upvest.Route {
	t.Helper()
	out := map[string]upvest.Route{}
	for _, raw := range evs {
		e, err := upvest.ParseEvent(raw)
		if err != nil {
			t.Fatal(err)
		}
		r, err := upvest.Classify(e)
		if err != nil {
			t.Fatal(err)
		}
		out[e.ID] = r
	}
	return out
}

// TestSignedSamplesThroughTheLocalEndpoint is the ingest issue's "done when":
// every official sample answers 200 and lands once in the ledger and once in
// its domain queue; the same requests again add nothing; a tampered body is
// refused with 401 and stores nothing.
func TestSignedSamplesThroughTheLocalEndpoint(t *testing.T) {
	p := startPipeline(t, false)
	evs := officialSamples(t)
	byID := routes(t, evs)

	for _, r := range p.post(t, evs, 5) {
		if !r.OK() {
			t.Fatalf("status %d: %s", r.Status, r.Body)
		}
	}
	ledger := p.ledger(t)
	if len(ledger) != len(evs) {
		t.Errorf("ledger holds %d records, want %d", len(ledger), len(evs))
	}
	wantPerDomain := map[upvest.Domain]int{}
	for id, r := range byID {
		if ledger[id] != "RECEIVED" { // until a worker's outcome; none runs here
			t.Errorf("%s (%s): ledger status %q", id, r.Category, ledger[id])
		}
		wantPerDomain[r.Domain]++
	}
	for _, d := range upvest.Domains() {
		want := wantPerDomain[d]
		var got []string
		if want > 0 {
			for _, m := range awstest.ReceiveAll(t, p.env.SQS, p.env.QueueURLs[d], want, 30*time.Second) {
				got = append(got, aws.ToString(m.MessageAttributes[message.AttrEventID].StringValue))
			}
		} else if n := awstest.DrainCount(t, p.env.SQS, p.env.QueueURLs[d]); n != 0 {
			got = make([]string, n)
		}
		if len(got) != want {
			t.Errorf("%s queue holds %d messages, want %d", d, len(got), want)
		}
		for _, id := range got {
			if byID[id].Domain != d {
				t.Errorf("%s queue holds %s, which routes to %s", d, id, byID[id].Domain)
			}
		}
	}

	// Again, batched differently: nothing new is recorded (the events, not
	// yet applied, are sent again: RECEIVED is not trusted).
	for _, r := range p.post(t, evs, 7) {
		if !r.OK() || !strings.Contains(r.Body, `"received":0`) || !strings.Contains(r.Body, `"parked":0`) {
			t.Fatalf("redelivery: status %d %s", r.Status, r.Body)
		}
	}
	if n := len(p.ledger(t)); n != len(evs) {
		t.Errorf("a redelivery changed the ledger: %d records", n)
	}

	p.client.Tamper = true
	fresh, err := webhookclient.WithFreshIDs(evs[:3])
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range p.post(t, fresh, 3) {
		if r.Status != 401 {
			t.Errorf("tampered request: status %d, want 401", r.Status)
		}
	}
	if n := len(p.ledger(t)); n != len(evs) {
		t.Errorf("a tampered request changed the ledger: %d records", n)
	}
}

// TestShuffledOrderLifecycleEndsInNewestState is the workers issue's "done
// when": the ORDER lifecycle sent in shuffled order, and then again, leaves one
// order row with status FILLED, its executions view right, and exactly one
// stream record per real change.
func TestShuffledOrderLifecycleEndsInNewestState(t *testing.T) {
	p := startPipeline(t, true)
	evs, err := webhookclient.GenerateOrderLifecycles(1, time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	byID := routes(t, evs)
	order := ""
	for _, r := range byID {
		if r.Category == "ORDER" {
			order = r.EntityKey
		}
	}
	perm := rand.Perm(len(evs))
	t.Logf("sending in order %v", perm)
	for _, i := range perm {
		for _, r := range p.post(t, []json.RawMessage{evs[i]}, 1) {
			if !r.OK() {
				t.Fatalf("status %d: %s", r.Status, r.Body)
			}
		}
	}
	// Wait until the workers have settled every event: the outcome ops
	// derives from the ledger record and the state row is applied or settled
	// (the ledger keeps RECEIVED: workers write no settled outcome).
	outcomes := p.outcomes(t, byID, 90*time.Second)
	if outcomes[order] != ops.OutcomeApplied {
		t.Errorf("outcomes %v: the newest ORDER event must be the one applied", outcomes)
	}

	// And the whole lifecycle again: RECEIVED records are sent again, and the
	// workers' conditional writes make that a no-op (no stream record).
	for _, r := range p.post(t, evs, 10) {
		if !r.OK() || !strings.Contains(r.Body, fmt.Sprintf(`"refanned":%d`, len(evs))) {
			t.Fatalf("redelivery: status %d %s", r.Status, r.Body)
		}
	}
	p.outcomes(t, byID, 90*time.Second)

	row := awstest.GetItem(t, p.env.DynamoDB, p.env.StateTables[upvest.Orders], schema.StatePK, order)
	if str(row[schema.StateStatus]) != "FILLED" || str(row[schema.StateEventType]) != "ORDER.FILLED" {
		t.Errorf("order row: status %q from %q, want FILLED from ORDER.FILLED", str(row[schema.StateStatus]), str(row[schema.StateEventType]))
	}
	view, ok := row["executions_view"].(*types.AttributeValueMemberM)
	if !ok || len(view.Value) != 1 {
		t.Fatalf("executions view %v, want one execution", row["executions_view"])
	}
	for _, entry := range view.Value {
		if e, ok := entry.(*types.AttributeValueMemberM); !ok || str(e.Value["status"]) != "FILLED" {
			t.Errorf("execution entry %v, want status FILLED", entry)
		}
	}

	// One stream record per real change: the row's version counts its
	// changes, at least the FILLED ORDER and its execution's entry and at most
	// one per ORDER or EXECUTION event; the stream shows each version once.
	events := 0
	for _, r := range byID {
		if r.Category == "ORDER" || r.Category == "EXECUTION" {
			events++
		}
	}
	version, err := strconv.Atoi(str(row[schema.StateVersion]))
	if err != nil || version < 2 || version > events {
		t.Fatalf("order row version %q, want 2 to %d (one per applied ORDER or EXECUTION event)", str(row[schema.StateVersion]), events)
	}
	short := strings.SplitN(order, "#", 2)[1][:8]
	records := func() []string {
		var out []string
		for _, line := range strings.Split(p.changes.String(), "\n") {
			if strings.Contains(line, "ORDER#"+short) {
				out = append(out, line)
			}
		}
		return out
	}
	for deadline := time.Now().Add(30 * time.Second); len(records()) < version && time.Now().Before(deadline); {
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(2 * time.Second) // give a surplus record the chance to show up
	got := records()
	if len(got) != version {
		t.Errorf("%d stream records for the order row, want %d:\n%s", len(got), version, p.changes.String())
	}
	for v := 1; v <= version; v++ {
		n := 0
		for _, line := range got {
			if strings.Contains(line, fmt.Sprintf(" v%d ", v)) || strings.HasSuffix(line, fmt.Sprintf(" v%d", v)) {
				n++
			}
		}
		if n != 1 {
			t.Errorf("version %d in %d stream records, want exactly one:\n%s", v, n, strings.Join(got, "\n"))
		}
	}
}

// outcomes waits until every event's outcome, as ops derives it from its
// ledger record and its entity's state row, is applied or settled, and
// returns them by entity key for the applied ones (entity key → applied).
func (p *pipeline) outcomes(t *testing.T, byID map[string]upvest.Route, timeout time.Duration) map[string]ops.Outcome {
	t.Helper()
	in := &ops.Inspector{Ledger: ledger.NewDynamo(p.env.DynamoDB, p.env.LedgerTable), DB: p.env.DynamoDB,
		Resources: config.Ops{LedgerTable: p.env.LedgerTable, StateTables: p.env.StateTables}}
	deadline := time.Now().Add(timeout)
	for {
		byEntity, pending := map[string]ops.Outcome{}, []string{}
		for id, r := range byID {
			rep, err := in.Outcome(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			switch rep.Outcome {
			case ops.OutcomeApplied:
				byEntity[r.EntityKey] = ops.OutcomeApplied
			case ops.OutcomeSettled:
			default:
				pending = append(pending, id+" "+string(rep.Outcome))
			}
		}
		if len(pending) == 0 {
			return byEntity
		}
		if time.Now().After(deadline) {
			t.Fatalf("events not settled by the workers: %v", pending)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
