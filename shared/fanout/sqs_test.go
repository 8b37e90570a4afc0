package fanout_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/shared/fanout"
	"github.com/upvest-webhooks/upvest-webhooks/shared/localaws/awstest"
	"github.com/upvest-webhooks/upvest-webhooks/shared/message"
)

// TestPublishToRealQueues sends through fauxqs: batching by count and size,
// attributes, routing per domain, and the ledger reference for large events.
func TestPublishToRealQueues(t *testing.T) {
	env := awstest.Env(t)
	p := fanout.NewSQS(env.SQS, env.QueueURLs)

	var msgs []fanout.Message
	for i := 0; i < 23; i++ {
		msgs = append(msgs, fanout.Message{
			EventID: fmt.Sprintf("order-%02d", i), EventType: "ORDER.NEW", Domain: events.Orders,
			Raw: []byte(fmt.Sprintf(`{"id":"order-%02d","pad":"%s"}`, i, strings.Repeat("p", 30_000))), // 23×30 KB: split by size too
		})
	}
	msgs = append(msgs,
		fanout.Message{EventID: "pos-1", EventType: "POSITION.UPDATED", Domain: events.Holdings, Raw: []byte(`{"id":"pos-1"}`)},
		fanout.Message{EventID: "huge-1", EventType: "REPORT.CREATED", Domain: events.Reports, Raw: []byte(strings.Repeat("r", message.MaxInlineBody+10))},
	)
	if err := p.Publish(context.Background(), msgs); err != nil {
		t.Fatal(err)
	}

	orders := awstest.ReceiveAll(t, env.SQS, env.QueueURLs[events.Orders], 23, 30*time.Second)
	if len(orders) != 23 {
		t.Fatalf("orders queue holds %d messages, want 23", len(orders))
	}
	for _, m := range orders {
		id := aws.ToString(m.MessageAttributes[message.AttrEventID].StringValue)
		if !strings.Contains(aws.ToString(m.Body), `"id":"`+id+`"`) {
			t.Errorf("message %s carries the wrong body", id)
		}
		if aws.ToString(m.MessageAttributes[message.AttrDomain].StringValue) != "orders" ||
			aws.ToString(m.MessageAttributes[message.AttrEventType].StringValue) != "ORDER.NEW" {
			t.Errorf("attributes %v", m.MessageAttributes)
		}
	}
	holdings := awstest.ReceiveAll(t, env.SQS, env.QueueURLs[events.Holdings], 1, 10*time.Second)
	if len(holdings) != 1 || aws.ToString(holdings[0].Body) != `{"id":"pos-1"}` {
		t.Errorf("holdings: %v", holdings)
	}
	reports := awstest.ReceiveAll(t, env.SQS, env.QueueURLs[events.Reports], 1, 10*time.Second)
	if len(reports) != 1 || aws.ToString(reports[0].MessageAttributes[message.AttrBodyRef].StringValue) != message.BodyInLedger {
		t.Errorf("large event must travel as a ledger reference: %v", reports)
	}
	if n := awstest.DrainCount(t, env.SQS, env.QueueURLs[events.Payments]); n != 0 {
		t.Errorf("payments queue got %d messages", n)
	}
}
