package faults_test

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"

	"github.com/upvest-webhooks/upvest-webhooks/shared/local/faults"
	"github.com/upvest-webhooks/upvest-webhooks/shared/local/localaws/awstest"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/schema"
)

func TestParse(t *testing.T) {
	c, err := faults.Parse("error=0.02, throttle=0.5,conn=0.01,final=0.001,timeout=0,partial=1,race=0.1,crash=worker-after-state@3")
	if err != nil {
		t.Fatal(err)
	}
	if c.Rates[faults.APIError] != 0.02 || c.Rates[faults.Throttle] != 0.5 || c.Rates[faults.Partial] != 1 ||
		c.Rates[faults.Conn] != 0.01 || c.Rates[faults.Final] != 0.001 ||
		c.CrashPoint != faults.WorkerAfterState || c.CrashAfter != 3 || !c.Enabled() {
		t.Errorf("parsed %+v", c)
	}
	if again, err := faults.Parse(c.String()); err != nil || again.String() != c.String() {
		t.Errorf("round trip %q: %q %v", c.String(), again.String(), err)
	}
	if c, err := faults.Parse(""); err != nil || c.Enabled() {
		t.Errorf("empty spec: %+v %v", c, err)
	}
	for _, bad := range []string{"error", "error=2", "error=x", "flood=0.1", "crash=somewhere@1", "crash=ingest-after-claim", "crash=ingest-after-claim@0"} {
		if _, err := faults.Parse(bad); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
}

func TestFromEnvOff(t *testing.T) {
	in, closeLog, err := faults.FromEnv(func(string) string { return "" })
	if err != nil || in != nil {
		t.Fatalf("no spec: %v %v", in, err)
	}
	if err := closeLog(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := faults.FromEnv(func(k string) string {
		if k == faults.EnvFaults {
			return "bogus=1"
		}
		return ""
	}); err == nil {
		t.Fatal("bad spec accepted")
	}
}

type recorder struct {
	mu    sync.Mutex
	kinds map[faults.Kind]int
	exits []int
}

func (r *recorder) record(k faults.Kind) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.kinds == nil {
		r.kinds = map[faults.Kind]int{}
	}
	r.kinds[k]++
}

func clients(t *testing.T, env awstest.Environment, spec string, r *recorder) (*dynamodb.Client, *sqs.Client) {
	t.Helper()
	cfg, err := faults.Parse(spec)
	if err != nil {
		t.Fatal(err)
	}
	in := faults.New(cfg, faults.Options{Record: r.record, Seed: 7,
		Exit: func(code int) { r.exits = append(r.exits, code) }})
	awsCfg := env.Config.Copy()
	in.Install(&awsCfg)
	return dynamodb.NewFromConfig(awsCfg), sqs.NewFromConfig(awsCfg)
}

func item(pk string) map[string]ddbtypes.AttributeValue {
	return map[string]ddbtypes.AttributeValue{schema.LedgerPK: &ddbtypes.AttributeValueMemberS{Value: pk}}
}

func exists(t *testing.T, env awstest.Environment, pk string) bool {
	t.Helper()
	out, err := env.DynamoDB.GetItem(context.Background(), &dynamodb.GetItemInput{
		TableName: aws.String(env.LedgerTable), Key: item(pk), ConsistentRead: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	return out.Item != nil
}

func apiCode(err error) string {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode()
	}
	return ""
}

// scripted returns a Draw that injects each kind of once the first time it
// is asked about it, and nothing else.
func scripted(once ...faults.Kind) func(faults.Kind) bool {
	var mu sync.Mutex
	left := map[faults.Kind]bool{}
	for _, k := range once {
		left[k] = true
	}
	return func(k faults.Kind) bool {
		mu.Lock()
		defer mu.Unlock()
		if left[k] {
			delete(left, k)
			return true
		}
		return false
	}
}

func scriptedClient(t *testing.T, env awstest.Environment, r *recorder, once ...faults.Kind) *dynamodb.Client {
	t.Helper()
	in := faults.New(faults.Config{}, faults.Options{Record: r.record, Draw: scripted(once...)})
	awsCfg := env.Config.Copy()
	in.Install(&awsCfg)
	return dynamodb.NewFromConfig(awsCfg)
}

// A throttle, a 500 or a failed connection on one attempt is retried by the
// SDK's standard retryer: the second attempt succeeds, and the caller sees
// nothing but success.
func TestRetryableFaultsAreRetriedByTheSDK(t *testing.T) {
	t.Parallel()
	env := awstest.Env(t)
	ctx := context.Background()
	for _, tc := range []struct {
		kind     faults.Kind
		wantCode string // of the first attempt's error ("" for a connection error)
	}{
		{faults.Throttle, "ProvisionedThroughputExceededException"},
		{faults.APIError, "InternalServerError"},
		{faults.Conn, ""},
	} {
		r := &recorder{}
		db := scriptedClient(t, env, r, tc.kind)
		pk := "retried-" + string(tc.kind)
		out, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(env.LedgerTable), Item: item(pk)})
		if err != nil {
			t.Fatalf("%s: the caller saw %v", tc.kind, err)
		}
		attempts, ok := retry.GetAttemptResults(out.ResultMetadata)
		if !ok || len(attempts.Results) != 2 {
			t.Fatalf("%s: attempts %+v, want 2", tc.kind, attempts)
		}
		first, second := attempts.Results[0], attempts.Results[1]
		if first.Err == nil || !first.Retryable || apiCode(first.Err) != tc.wantCode || second.Err != nil {
			t.Errorf("%s: first attempt %v (retryable %v, code %q), second %v", tc.kind, first.Err, first.Retryable, apiCode(first.Err), second.Err)
		}
		if !exists(t, env, pk) {
			t.Errorf("%s: item not written", tc.kind)
		}
		if r.kinds[tc.kind] != 1 || len(r.kinds) != 1 {
			t.Errorf("%s: recorded %v", tc.kind, r.kinds)
		}
	}
}

// A final error outlasts the retryer: every attempt fails, nothing is
// written, the caller sees the 500. A timeout takes effect and the caller
// sees it without a retry.
func TestFinalErrorsAndTimeoutsReachTheCaller(t *testing.T) {
	t.Parallel()
	env := awstest.Env(t)
	ctx := context.Background()
	for _, tc := range []struct {
		kind     faults.Kind
		wantCode string
		written  bool
	}{
		{faults.Final, "InternalServerError", false},
		{faults.Timeout, "", true},
	} {
		r := &recorder{}
		db := scriptedClient(t, env, r, tc.kind)
		pk := "item-" + string(tc.kind)
		_, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(env.LedgerTable), Item: item(pk)})
		if err == nil || apiCode(err) != tc.wantCode || (tc.written != errors.Is(err, faults.ErrInjectedTimeout)) {
			t.Errorf("%s: err %v (code %q)", tc.kind, err, apiCode(err))
		}
		var maxAttempts *retry.MaxAttemptsError
		if want := db.Options().Retryer.MaxAttempts(); tc.kind == faults.Final && (!errors.As(err, &maxAttempts) || maxAttempts.Attempt != want) {
			t.Errorf("final: %v; want the retryer to give up after its %d attempts", err, want)
		}
		if got := exists(t, env, pk); got != tc.written {
			t.Errorf("%s: item written %v, want %v", tc.kind, got, tc.written)
		}
		if r.kinds[tc.kind] != 1 || len(r.kinds) != 1 {
			t.Errorf("%s: recorded %v", tc.kind, r.kinds)
		}
	}
}

// Every SQS call the pipeline makes understands the injected answers too.
func TestSQSThrottleIsRetried(t *testing.T) {
	t.Parallel()
	env := awstest.Env(t)
	r := &recorder{}
	in := faults.New(faults.Config{}, faults.Options{Record: r.record, Draw: scripted(faults.Throttle)})
	awsCfg := env.Config.Copy()
	in.Install(&awsCfg)
	q := sqs.NewFromConfig(awsCfg)
	var url string
	for _, u := range env.QueueURLs {
		url = u
		break
	}
	out, err := q.SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String("m")})
	if err != nil {
		t.Fatal(err)
	}
	attempts, _ := retry.GetAttemptResults(out.ResultMetadata)
	if len(attempts.Results) != 2 || apiCode(attempts.Results[0].Err) != "RequestThrottled" || r.kinds[faults.Throttle] != 1 {
		t.Errorf("attempts %+v, recorded %v", attempts.Results, r.kinds)
	}
	if got := awstest.DrainCount(t, env.SQS, url); got != 1 {
		t.Errorf("queue holds %d messages, want 1", got)
	}
}

// A raced conditional write happens once: the caller or its twin wins, and
// the caller sees either success or the condition failing.
func TestRaceRunsATwinOfConditionalWrites(t *testing.T) {
	t.Parallel()
	env := awstest.Env(t)
	ctx := context.Background()
	r := &recorder{}
	db, _ := clients(t, env, "race=1", r)
	failures := 0
	for i := range 20 {
		_, err := db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: aws.String(env.LedgerTable), Key: item("raced-" + strconv.Itoa(i)),
			UpdateExpression:          aws.String("SET n = if_not_exists(n, :zero) + :one"),
			ConditionExpression:       aws.String("attribute_not_exists(n)"),
			ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":zero": &ddbtypes.AttributeValueMemberN{Value: "0"}, ":one": &ddbtypes.AttributeValueMemberN{Value: "1"}},
		})
		var failed *ddbtypes.ConditionalCheckFailedException
		switch {
		case errors.As(err, &failed):
			failures++
		case err != nil:
			t.Fatal(err)
		}
		out, err := env.DynamoDB.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(env.LedgerTable), Key: item("raced-" + strconv.Itoa(i)), ConsistentRead: aws.Bool(true)})
		if err != nil {
			t.Fatal(err)
		}
		if n := out.Item["n"].(*ddbtypes.AttributeValueMemberN).Value; n != "1" {
			t.Fatalf("raced write applied %s times", n)
		}
	}
	if r.kinds[faults.Race] != 20 {
		t.Errorf("recorded %v", r.kinds)
	}
	t.Logf("the twin won %d of 20 races", failures)

	// Unconditional writes are never raced.
	if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(env.LedgerTable), Item: item("plain")}); err != nil {
		t.Fatal(err)
	}
	if r.kinds[faults.Race] != 20 {
		t.Errorf("unconditional write raced: %v", r.kinds)
	}
}

// Setup calls carry no events; the Lambdas make none, so none fail.
func TestSetupCallsAreLeftAlone(t *testing.T) {
	t.Parallel()
	env := awstest.Env(t)
	r := &recorder{}
	db, q := clients(t, env, "error=1", r)
	ctx := context.Background()
	if _, err := db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(env.LedgerTable)}); err != nil {
		t.Errorf("DescribeTable: %v", err)
	}
	if _, err := q.ListQueues(ctx, &sqs.ListQueuesInput{}); err != nil {
		t.Errorf("ListQueues: %v", err)
	}
	if len(r.kinds) != 0 {
		t.Errorf("recorded %v", r.kinds)
	}
}

func TestPartialBatchSendsTheRestAndReportsTheFailed(t *testing.T) {
	t.Parallel()
	env := awstest.Env(t)
	ctx := context.Background()
	r := &recorder{}
	_, q := clients(t, env, "partial=1", r)
	var url string
	for _, u := range env.QueueURLs {
		url = u
		break
	}
	var entries []sqstypes.SendMessageBatchRequestEntry
	for i := range 10 {
		entries = append(entries, sqstypes.SendMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), MessageBody: aws.String("m" + strconv.Itoa(i))})
	}
	out, err := q.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(url), Entries: entries})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Failed) == 0 || len(out.Failed)+len(out.Successful) != 10 {
		t.Fatalf("%d failed, %d sent", len(out.Failed), len(out.Successful))
	}
	ids := map[string]bool{}
	for _, f := range out.Failed {
		ids[aws.ToString(f.Id)] = true
	}
	for _, s := range out.Successful {
		if ids[aws.ToString(s.Id)] {
			t.Errorf("entry %s both sent and failed", aws.ToString(s.Id))
		}
	}
	if got := awstest.DrainCount(t, env.SQS, url); got != len(out.Successful) {
		t.Errorf("queue holds %d messages, %d were reported sent", got, len(out.Successful))
	}
}

// The worker's crash point is its acknowledgement: after its state writes,
// at the DeleteMessageBatch call. Ledger and state writes never crash it (the
// worker writes no outcome to the ledger), and it fires once, at the count.
func TestCrashPoints(t *testing.T) {
	t.Parallel()
	env := awstest.Env(t)
	ctx := context.Background()
	r := &recorder{}
	db, queues := clients(t, env, "crash=worker-after-state@2", r)
	var stateTable, queueURL string
	for d, s := range env.StateTables {
		stateTable, queueURL = s, env.QueueURLs[d]
		break
	}
	for table, pk := range map[string]string{stateTable: schema.StatePK, env.LedgerTable: schema.LedgerPK} { // not crash points
		_, err := db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(table),
			Key:              map[string]ddbtypes.AttributeValue{pk: &ddbtypes.AttributeValueMemberS{Value: "x"}},
			UpdateExpression: aws.String("SET a = :a"), ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":a": &ddbtypes.AttributeValueMemberS{Value: "1"}}})
		if err != nil {
			t.Fatal(err)
		}
	}
	acknowledge := func() {
		if _, err := queues.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(queueURL), MessageBody: aws.String("m")}); err != nil {
			t.Fatal(err)
		}
		out, err := queues.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(queueURL), WaitTimeSeconds: 1})
		if err != nil || len(out.Messages) != 1 {
			t.Fatalf("receive: %v %v", out, err)
		}
		_, err = queues.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(queueURL),
			Entries: []sqstypes.DeleteMessageBatchRequestEntry{{Id: aws.String("0"), ReceiptHandle: out.Messages[0].ReceiptHandle}}})
		if err != nil {
			t.Fatal(err)
		}
	}
	acknowledge() // first acknowledgement: not yet
	if len(r.exits) != 0 {
		t.Fatalf("crashed before the count: %v", r.exits)
	}
	acknowledge() // second: crash
	if len(r.exits) != 1 || r.exits[0] != faults.CrashExitCode || r.kinds[faults.Crash] != 1 {
		t.Fatalf("exits %v, recorded %v", r.exits, r.kinds)
	}
	acknowledge()
	if len(r.exits) != 1 {
		t.Fatalf("crashed again: %v", r.exits)
	}
}
