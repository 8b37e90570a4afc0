package rehearsal

import (
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	streamtypes "github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/shared/local/lambdaruntime"
	"github.com/upvest-webhooks/upvest-webhooks/shared/local/localaws"
	"github.com/upvest-webhooks/upvest-webhooks/shared/local/localaws/awstest"
	"github.com/upvest-webhooks/upvest-webhooks/shared/local/webhookclient"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/config"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/schema"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/signature"
)

// TestDeployRehearsal follows one order lifecycle through the deployed path:
// API Gateway → ingest → orders queue → orders worker → orders state table →
// its stream → stream consumer, each function its real bootstrap.
func TestDeployRehearsal(t *testing.T) {
	privatePEM, jwks, kid, err := signature.GenerateDevKey()
	if err != nil {
		t.Fatal(err)
	}
	key, err := signature.LoadPrivateKeyPEM(privatePEM)
	if err != nil {
		t.Fatal(err)
	}
	d := newDeployment(t, string(jwks))
	tp := d.tp

	// Which function each trigger invokes, as the template wires it.
	routeKey, ingestID := tp.routeTarget(t)
	ordersQueue := tp.outputRef(t, "QueueOrdersUrl")
	ordersTable := tp.outputRef(t, "StateTableOrdersName")
	workerID, workerESM := tp.triggeredBy(t, ordersQueue, "Arn")
	consumerID, consumerESM := tp.triggeredBy(t, ordersTable, "StreamArn")
	for what, esm := range map[string]map[string]any{"worker": workerESM, "stream consumer": consumerESM} {
		// Without it Lambda ignores the batch response the functions give.
		if types, _ := esm["FunctionResponseTypes"].([]any); len(types) != 1 || types[0] != "ReportBatchItemFailures" {
			t.Errorf("%s's event source mapping: FunctionResponseTypes %v", what, esm["FunctionResponseTypes"])
		}
	}
	ingestFn, workerFn, consumerFn := tp.function(t, ingestID), tp.function(t, workerID), tp.function(t, consumerID)

	// 1. Ingest: a signed API Gateway request with one order's lifecycle.
	ingest, _ := d.start(t, ingestFn, "ingest")
	evs, err := webhookclient.GenerateOrderLifecycles(1, time.Now().Add(-time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	body, err := webhookclient.Envelope(evs)
	if err != nil {
		t.Fatal(err)
	}
	resp := invoke(t, ingest, signedRequest(t, ingestFn, routeKey, key, kid, body))
	// Ingest reads the keys at start, in the background; the first request
	// waits for that read instead of making another.
	if n := d.ssm.reads.Load(); n != 1 {
		t.Errorf("ingest read the JWKS parameter %s from SSM %d times by the end of its first request, want once", d.cfg.JWKSParameter, n)
	}
	var answer struct {
		StatusCode int    `json:"statusCode"`
		Body       string `json:"body"`
	}
	decode(t, "ingest response", resp, &answer)
	var summary struct {
		Received   int `json:"received"`
		Duplicates int `json:"duplicates"`
	}
	if answer.StatusCode != 200 || json.Unmarshal([]byte(answer.Body), &summary) != nil || summary.Received != len(evs) || summary.Duplicates != 0 {
		t.Fatalf("ingest answered %d %s; want 200 with %d received", answer.StatusCode, answer.Body, len(evs))
	}
	var ids []string
	for _, ev := range evs {
		var e struct {
			ID string `json:"id"`
		}
		decode(t, "event", ev, &e)
		ids = append(ids, e.ID)
		if awstest.GetItem(t, d.aws.DynamoDB, d.aws.LedgerTable, schema.LedgerPK, e.ID) == nil {
			t.Errorf("no ledger record for event %s", e.ID)
		}
	}

	// 2. The orders worker, handed what ingest queued, as the SQS event source mapping does.
	queueURL := d.aws.QueueURLs[events.Orders]
	msgs := awstest.ReceiveAll(t, d.aws.SQS, queueURL, 1, 30*time.Second)
	worker, _ := d.start(t, workerFn, "worker")
	resp = invoke(t, worker, sqsEvent(t, msgs, queueARN(t, d, queueURL), localaws.Region))
	var batch struct {
		BatchItemFailures []struct {
			ItemIdentifier string `json:"itemIdentifier"`
		} `json:"batchItemFailures"`
	}
	decode(t, "worker response", resp, &batch)
	if len(batch.BatchItemFailures) != 0 {
		t.Errorf("worker reported failures %+v for %d messages", batch.BatchItemFailures, len(msgs))
	}
	deleteSucceeded(t, d, queueURL, msgs, batch.BatchItemFailures)
	if n := queueDepth(t, d, queueURL); n != 0 {
		t.Errorf("orders queue holds %d messages after the batch", n)
	}
	orderKey, orderStatus := "ORDER#"+orderID(t, evs[0]), "FILLED"
	row := awstest.GetItem(t, d.aws.DynamoDB, d.aws.StateTables[events.Orders], schema.StatePK, orderKey)
	if s, _ := row[schema.StateStatus].(*ddbtypes.AttributeValueMemberS); s == nil || s.Value != orderStatus {
		t.Errorf("state row %s: status %v, want %s (the newest event's)", orderKey, row[schema.StateStatus], orderStatus)
	}
	for _, id := range ids {
		if awstest.GetItem(t, d.aws.DynamoDB, d.aws.LedgerTable, schema.LedgerPK, id) == nil {
			t.Errorf("ledger record of %s gone after the worker", id)
		}
	}

	// 3. The stream consumer, handed the state table's stream records.
	streamARN := d.aws.StateStreamARNs[events.Orders]
	records := streamUntil(t, d, streamARN, orderKey, orderStatus)
	consumer, consumerOut := d.start(t, consumerFn, "streamconsumer")
	resp = invoke(t, consumer, dynamoDBEvent(t, records, streamARN, localaws.Region))
	batch.BatchItemFailures = nil
	decode(t, "stream consumer response", resp, &batch)
	if len(batch.BatchItemFailures) != 0 {
		t.Errorf("stream consumer reported failures %+v for %d records", batch.BatchItemFailures, len(records))
	}
	// The process may write its output after its answer reached the runtime API.
	for deadline := time.Now().Add(10 * time.Second); !printedChange(consumerOut.String(), orderKey, orderStatus) && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
	if !printedChange(consumerOut.String(), orderKey, orderStatus) {
		t.Errorf("stream consumer printed no change of %s to %s:\n%s", orderKey, orderStatus, consumerOut.String())
	}
}

// signedRequest is the API Gateway event of body posted to the ingest
// function fn's route, signed as Upvest signs it and sent from an Upvest
// egress IP the function admits.
func signedRequest(t testing.TB, fn function, routeKey string, key *ecdsa.PrivateKey, kid string, body []byte) []byte {
	t.Helper()
	publicPath, _ := fn.Env[config.EnvPublicPath].(string)
	if publicPath == "" {
		_, publicPath, _ = strings.Cut(routeKey, " ")
	}
	headers := map[string]string{"content-type": "application/json"}
	signed, err := signature.Sign(signature.Request{
		Method: "POST", Path: publicPath, Header: toHTTPHeader(headers), Body: body,
	}, key, kid, time.Now(), "")
	if err != nil {
		t.Fatal(err)
	}
	for name := range signed {
		headers[strings.ToLower(name)] = strings.Join(signed.Values(name), ", ")
	}
	return apiGatewayV2Event(t, routeKey, headers, body, allowedSourceIP(t, fn))
}

func invoke(t testing.TB, in *lambdaruntime.Instance, payload []byte) []byte {
	t.Helper()
	resp, err := in.Invoke(context.Background(), payload)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Err != nil {
		t.Fatalf("function error: %v", resp.Err)
	}
	return resp.Payload
}

func decode(t testing.TB, what string, data []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("%s %s: %v", what, data, err)
	}
}

func toHTTPHeader(h map[string]string) map[string][]string {
	out := map[string][]string{}
	for k, v := range h {
		out[k] = []string{v}
	}
	return out
}

// allowedSourceIP is an Upvest egress IP the function's IP_ALLOWLIST admits.
func allowedSourceIP(t testing.TB, fn function) string {
	t.Helper()
	spec, _ := fn.Env[config.EnvIPAllowlist].(string)
	if spec == "" {
		spec = "off"
	}
	list, err := signature.ParseAllowlist(spec)
	if err != nil {
		t.Fatalf("template's %s=%q: %v", config.EnvIPAllowlist, spec, err)
	}
	for _, ip := range append(append([]string{}, signature.SandboxEgressIPs...), signature.LiveEgressIPs...) {
		if list.Off() || list.Allows(ip) {
			return ip
		}
	}
	t.Fatalf("template's %s=%q admits none of Upvest's egress IPs", config.EnvIPAllowlist, spec)
	return ""
}

func queueARN(t testing.TB, d *deployment, url string) string {
	t.Helper()
	out, err := d.aws.SQS.GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(url), AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn},
	})
	if err != nil || out.Attributes["QueueArn"] == "" {
		t.Fatalf("ARN of %s: %v", url, err)
	}
	return out.Attributes["QueueArn"]
}

// deleteSucceeded deletes the messages the function did not report as
// failed, as the event source mapping does after a batch.
func deleteSucceeded(t testing.TB, d *deployment, url string, msgs []sqstypes.Message, failures []struct {
	ItemIdentifier string `json:"itemIdentifier"`
}) {
	t.Helper()
	failed := map[string]bool{}
	for _, f := range failures {
		failed[f.ItemIdentifier] = true
	}
	for _, m := range msgs {
		if failed[aws.ToString(m.MessageId)] {
			continue
		}
		_, err := d.aws.SQS.DeleteMessage(context.Background(), &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: m.ReceiptHandle})
		if err != nil {
			t.Fatalf("delete message %s: %v", aws.ToString(m.MessageId), err)
		}
	}
}

// queueDepth counts visible and in-flight messages.
func queueDepth(t testing.TB, d *deployment, url string) int {
	t.Helper()
	out, err := d.aws.SQS.GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(url),
		AttributeNames: []sqstypes.QueueAttributeName{
			sqstypes.QueueAttributeNameApproximateNumberOfMessages, sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
		},
	})
	if err != nil {
		t.Fatalf("attributes of %s: %v", url, err)
	}
	n := 0
	for _, name := range []string{"ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"} {
		v, err := strconv.Atoi(out.Attributes[name])
		if err != nil {
			t.Fatalf("%s of %s: %q", name, url, out.Attributes[name])
		}
		n += v
	}
	return n
}

func orderID(t testing.TB, ev json.RawMessage) string {
	t.Helper()
	var e struct {
		Object struct {
			ID string `json:"id"`
		} `json:"object"`
	}
	decode(t, "event", ev, &e)
	return e.Object.ID
}

// streamUntil reads the stream until it holds the change of key to status.
func streamUntil(t testing.TB, d *deployment, streamARN, key, status string) []streamtypes.Record {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		records := awstest.StreamRecords(t, d.aws.Streams, streamARN, 1, 30*time.Second)
		for _, r := range records {
			pk, _ := r.Dynamodb.Keys[schema.StatePK].(*streamtypes.AttributeValueMemberS)
			st, _ := r.Dynamodb.NewImage[schema.StateStatus].(*streamtypes.AttributeValueMemberS)
			if pk != nil && pk.Value == key && st != nil && st.Value == status {
				return records
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("stream %s: no record of %s reaching %s within 30s (%d records)", streamARN, key, status, len(records))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// printedChange reports whether the consumer's JSON lines include key's change to status.
func printedChange(out, key, status string) bool {
	for _, line := range strings.Split(out, "\n") {
		var c struct {
			Key       string `json:"key"`
			NewStatus string `json:"new_status"`
		}
		if json.Unmarshal([]byte(line), &c) == nil && c.Key == key && c.NewStatus == status {
			return true
		}
	}
	return false
}
