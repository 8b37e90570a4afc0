package fanout

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/message"
)

func msg(i int, domain events.Domain, size int) Message {
	return Message{EventID: fmt.Sprintf("e%03d", i), EventType: "ORDER.NEW", Domain: domain, Raw: []byte(strings.Repeat("x", size))}
}

func TestBatchesSplitByCountAndSize(t *testing.T) {
	tests := []struct {
		name     string
		sizes    []int
		maxBytes int
		want     []int // entries per batch
	}{
		{"ten per batch", repeat(25, 10), 1 << 20, []int{10, 10, 5}},
		{"split by bytes", repeat(5, 1000), 3000, []int{2, 2, 1}}, // base64: about 1,400 bytes an entry
		{"one oversized entry still alone", []int{100, 5000, 100}, 2500, []int{1, 1, 1}},
		{"empty", nil, 1000, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var entries []entry
			for i, size := range tt.sizes {
				entries = append(entries, toEntry(msg(i, events.Orders, size)))
			}
			got := batches(entries, tt.maxBytes)
			var counts []int
			for _, b := range got {
				counts = append(counts, len(b))
				ids := map[string]bool{}
				for _, e := range b {
					if ids[aws.ToString(e.input.Id)] {
						t.Errorf("duplicate entry id %s in a batch", aws.ToString(e.input.Id))
					}
					ids[aws.ToString(e.input.Id)] = true
				}
			}
			if fmt.Sprint(counts) != fmt.Sprint(tt.want) {
				t.Errorf("batch sizes %v, want %v", counts, tt.want)
			}
		})
	}
}

func repeat(n, v int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = v
	}
	return out
}

func TestLargeEventTravelsAsLedgerReference(t *testing.T) {
	e := toEntry(msg(1, events.Orders, message.MaxInlineBody+1))
	if got := aws.ToString(e.input.MessageBody); got != `{"id":"e001"}` {
		t.Errorf("body %q, want a reference to the ledger", got)
	}
	if v := e.input.MessageAttributes[message.AttrBodyRef]; aws.ToString(v.StringValue) != message.BodyInLedger {
		t.Errorf("body_ref attribute %v", v)
	}
	small := toEntry(msg(2, events.Orders, 10))
	if _, ok := small.input.MessageAttributes[message.AttrBodyRef]; ok || aws.ToString(small.input.MessageBody) != "eHh4eHh4eHh4eA==" {
		t.Errorf("a small event must travel inline, base64-encoded: %q", aws.ToString(small.input.MessageBody))
	}
}

// flakySQS fails chosen entries a number of times, then accepts them.
type flakySQS struct {
	mu        sync.Mutex
	failures  map[string]int // event id → how many more sends fail
	callErrs  int            // how many more calls fail as a whole
	delivered map[string][]string
	calls     int
}

func (f *flakySQS) SendMessageBatch(_ context.Context, in *sqs.SendMessageBatchInput, _ ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if len(in.Entries) > 10 {
		return nil, errors.New("too many entries")
	}
	if f.callErrs > 0 {
		f.callErrs--
		return nil, errors.New("connection reset")
	}
	out := &sqs.SendMessageBatchOutput{}
	for _, e := range in.Entries {
		id := aws.ToString(e.MessageAttributes[message.AttrEventID].StringValue)
		if f.failures[id] > 0 {
			f.failures[id]--
			out.Failed = append(out.Failed, types.BatchResultErrorEntry{Id: e.Id, Code: aws.String("InternalError"), SenderFault: false})
			continue
		}
		f.delivered[aws.ToString(in.QueueUrl)] = append(f.delivered[aws.ToString(in.QueueUrl)], id)
		out.Successful = append(out.Successful, types.SendMessageBatchResultEntry{Id: e.Id})
	}
	return out, nil
}

func newPublisher(client SQSAPI) *SQS {
	p := NewSQS(client, map[events.Domain]string{events.Orders: "q-orders", events.Holdings: "q-holdings"})
	p.backoff = func(int) time.Duration { return 0 }
	return p
}

func TestPublishRetriesPartialFailures(t *testing.T) {
	client := &flakySQS{failures: map[string]int{"e003": 2, "e011": 1}, callErrs: 1, delivered: map[string][]string{}}
	var msgs []Message
	for i := 0; i < 15; i++ {
		msgs = append(msgs, msg(i, events.Orders, 10))
	}
	msgs = append(msgs, msg(99, events.Holdings, 10))
	if err := newPublisher(client).Publish(context.Background(), msgs); err != nil {
		t.Fatal(err)
	}
	if got := len(client.delivered["q-orders"]); got != 15 {
		t.Errorf("orders delivered %d, want 15", got)
	}
	if got := client.delivered["q-holdings"]; len(got) != 1 || got[0] != "e099" {
		t.Errorf("holdings delivered %v", got)
	}
	seen := map[string]int{}
	for _, id := range client.delivered["q-orders"] {
		seen[id]++
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("%s delivered %d times", id, n)
		}
	}
}

func TestPublishReportsEventsThatNeverWentOut(t *testing.T) {
	client := &flakySQS{failures: map[string]int{"e001": 100}, delivered: map[string][]string{}}
	err := newPublisher(client).Publish(context.Background(), []Message{msg(0, events.Orders, 1), msg(1, events.Orders, 1)})
	if err == nil || !strings.Contains(err.Error(), "e001") || strings.Contains(err.Error(), "e000,") {
		t.Fatalf("err = %v, want it to name e001 only", err)
	}
}

func TestPublishUnknownDomainIsAnError(t *testing.T) {
	err := newPublisher(&flakySQS{delivered: map[string][]string{}}).Publish(context.Background(), []Message{msg(1, events.Reports, 1)})
	if err == nil {
		t.Fatal("publishing to a domain without a queue must fail")
	}
}
