package fanout_test

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/shared/local/localaws/awstest"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/fanout"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/fanout/fanouttest"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/message"
)

// The publisher contract on fauxqs: what the workers will read is what ingest sent.
func TestSQSKeepsThePublisherContract(t *testing.T) {
	t.Parallel()
	fanouttest.RunContract(t, func(t *testing.T) (fanout.Publisher, func(*testing.T, events.Domain, int) []fanouttest.Received) {
		env := awstest.Env(t)
		take := func(t *testing.T, d events.Domain, want int) []fanouttest.Received {
			var out []fanouttest.Received
			for _, m := range awstest.ReceiveAll(t, env.SQS, env.QueueURLs[d], want, 30*time.Second) {
				attr := func(name string) string { return aws.ToString(m.MessageAttributes[name].StringValue) }
				carried, err := message.Decode(aws.ToString(m.Body), attr)
				if err != nil {
					t.Fatalf("message %s: %v", attr(message.AttrEventID), err)
				}
				out = append(out, fanouttest.Received{
					EventID: attr(message.AttrEventID), EventType: attr(message.AttrEventType), Domain: attr(message.AttrDomain),
					Raw: carried.Raw, InLedger: carried.LedgerEvent,
				})
			}
			return out
		}
		return fanout.NewSQS(env.SQS, env.QueueURLs), take
	})
}
