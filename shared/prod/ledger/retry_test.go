package ledger_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/shared/local/localaws/awstest"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/ledger"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/uuid"
)

// lostAnswer lets the first conditional PutItem reach DynamoDB, where it takes
// effect, and answers the SDK 500 InternalServerError instead of DynamoDB's
// answer: a response lost on its way back. The SDK's retryer sends the put again.
type lostAnswer struct {
	next aws.HTTPClient
	lost atomic.Int32
}

func (c *lostAnswer) Do(req *http.Request) (*http.Response, error) {
	if !strings.HasSuffix(req.Header.Get("X-Amz-Target"), ".PutItem") || c.lost.Load() > 0 {
		return c.next.Do(req)
	}
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return nil, err
	}
	req.Body = io.NopCloser(strings.NewReader(string(body)))
	if !strings.Contains(string(body), "ConditionExpression") {
		return c.next.Do(req)
	}
	resp, err := c.next.Do(req)
	if err != nil {
		return nil, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	c.lost.Add(1)
	msg := `{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"answer lost"}`
	return &http.Response{
		Status: "500 Internal Server Error", StatusCode: http.StatusInternalServerError, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{"Content-Type": {"application/x-amz-json-1.0"}, "X-Amzn-Errortype": {"InternalServerError"}},
		Body:   io.NopCloser(strings.NewReader(msg)), ContentLength: int64(len(msg)), Request: req,
	}, nil
}

// A claim whose put took effect but whose answer was lost is retried by the
// SDK, and the retry meets the claim's own record. That is still a new record
// (ClaimNew): otherwise a parked event or a conflict is counted as a duplicate,
// with no log line and no EventsParked metric for the alarm, and a new event
// as one sent again.
func TestClaimRetriedAfterALostAnswerIsNew(t *testing.T) {
	t.Parallel()
	for _, status := range []ledger.Status{ledger.Received, ledger.Parked} {
		t.Run(string(status), func(t *testing.T) {
			t.Parallel()
			env := awstest.Env(t)
			lost := &lostAnswer{}
			client := dynamodb.NewFromConfig(env.Config, func(o *dynamodb.Options) {
				lost.next = o.HTTPClient
				o.HTTPClient = lost
			})
			l := ledger.NewDynamo(client, env.LedgerTable, ledger.WithRetention(24*time.Hour))
			id := uuid.New()
			rec := ledger.Record{EventID: id, EventType: "ORDER.NEW", Domain: events.Orders, EntityKey: "ORDER#o-1",
				Raw: []byte(`{"id":"` + id + `"}`), Status: status, Reason: "a reason"}
			got, gotStatus, err := l.Claim(context.Background(), rec)
			if err != nil {
				t.Fatal(err)
			}
			if lost.lost.Load() != 1 {
				t.Fatalf("%d answers lost, want 1: the test did not reach its case", lost.lost.Load())
			}
			if got != ledger.ClaimNew || gotStatus != status {
				t.Errorf("claim = %v %s, want ClaimNew %s: the retry met the claim's own record", got, gotStatus, status)
			}
			// Another claim of the same bytes is not this one's retry.
			if got, _, err := l.Claim(context.Background(), rec); err != nil || got == ledger.ClaimNew {
				t.Errorf("a second claim = %v, %v; want it not new", got, err)
			}
		})
	}
}
