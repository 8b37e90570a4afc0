package rehearsal

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/shared/local/lambdaruntime"
	"github.com/upvest-webhooks/upvest-webhooks/shared/local/localaws"
	"github.com/upvest-webhooks/upvest-webhooks/shared/local/localaws/awstest"
	"github.com/upvest-webhooks/upvest-webhooks/shared/local/webhookclient"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/signature"
)

// coldStart is one execution environment's life as the benchmark sees it:
// init (process start to its first /next), its first request, then a warm one.
type coldStart struct{ init, first, warm time.Duration }

func (c *coldStart) add(o coldStart) { c.init += o.init; c.first += o.first; c.warm += o.warm }

// BenchmarkInitTime measures each bootstrap's cold start under the local
// Runtime API with its template environment: init time, the first request's
// latency after init and a warm request's, against an aws-lambda-go hello
// world started the same way, alternately, in the same run. Each request is
// a real one: a signed webhook with new events for ingest, the SQS batch
// ingest queued for the worker, the state table's stream records for the
// stream consumer. It reports the figures and x-hello (init over the hello
// world's), prints them side by side with the binary sizes, and ns/op is one
// round of starts.
func BenchmarkInitTime(b *testing.B) {
	privatePEM, jwks, kid, err := signature.GenerateDevKey()
	if err != nil {
		b.Fatal(err)
	}
	key, err := signature.LoadPrivateKeyPEM(privatePEM)
	if err != nil {
		b.Fatal(err)
	}
	d := newDeployment(b, string(jwks)) // ingest reads the keys at start, as deployed
	routeKey, ingestID := d.tp.routeTarget(b)
	workerID, _ := d.tp.triggeredBy(b, d.tp.outputRef(b, "QueueOrdersUrl"), "Arn")
	consumerID, _ := d.tp.triggeredBy(b, d.tp.outputRef(b, "StateTableOrdersName"), "StreamArn")
	ingestFn, workerFn, consumerFn := d.tp.function(b, ingestID), d.tp.function(b, workerID), d.tp.function(b, consumerID)
	hello := function{ID: "hello", MemoryMB: 128, TimeoutS: 3, Handler: "bootstrap", Runtime: "provided.al2023"}
	queueURL := d.aws.QueueURLs[events.Orders]
	streamARN := d.aws.StateStreamARNs[events.Orders]

	// newWebhook is a signed request holding one new order's lifecycle.
	lastOrder := ""
	newWebhook := func() []byte {
		evs, err := webhookclient.GenerateOrderLifecycles(1, time.Now().Add(-time.Minute))
		if err != nil {
			b.Fatal(err)
		}
		lastOrder = orderID(b, evs[0])
		body, err := webhookclient.Envelope(evs)
		if err != nil {
			b.Fatal(err)
		}
		return signedRequest(b, ingestFn, routeKey, key, kid, body)
	}
	// queued is what ingest put on the orders queue, as the event source mapping hands it over.
	queued := func() []byte {
		msgs := awstest.ReceiveAll(b, d.aws.SQS, queueURL, 1, 30*time.Second)
		deleteSucceeded(b, d, queueURL, msgs, nil)
		return sqsEvent(b, msgs, queueARN(b, d, queueURL), localaws.Region)
	}
	helloReq := func() []byte { return []byte(`{"name":"bench"}`) }

	var base, ingest, worker, consumer coldStart
	rounds := 0
	for b.Loop() {
		rounds++
		base.add(measure(b, d, hello, "hello", helloReq, helloReq))
		ingest.add(measure(b, d, ingestFn, "ingest", newWebhook, newWebhook))
		queued() // what those two requests queued is not the worker's to measure
		// Each batch is the orders ingest queued for one webhook: one for the
		// first request, one for the warm one (fed while the worker waits).
		first := feed(b, d, ingestFn, newWebhook, queued)
		worker.add(measure(b, d, workerFn, "worker", func() []byte { return first }, func() []byte {
			return feed(b, d, ingestFn, newWebhook, queued)
		}))
		records := dynamoDBEvent(b, streamUntil(b, d, streamARN, "ORDER#"+lastOrder, "FILLED"), streamARN, localaws.Region)
		consumer.add(measure(b, d, consumerFn, "streamconsumer", func() []byte { return records }, func() []byte { return records }))
	}
	n := time.Duration(rounds)
	report := func(name string, c coldStart) {
		b.ReportMetric(ms(c.init/n), name+"-init-ms")
		b.ReportMetric(ms(c.first/n), name+"-first-ms")
		b.ReportMetric(ms(c.warm/n), name+"-warm-ms")
		if name != "hello" {
			b.ReportMetric(float64(c.init)/float64(base.init), name+"-x-hello")
		}
	}
	var table strings.Builder
	fmt.Fprintf(&table, "cold start, mean of %d rounds, each Lambda beside the hello world started just before it:\n", rounds)
	fmt.Fprintf(&table, "%-15s %9s %8s %11s %10s %9s %10s\n", "function", "init ms", "× hello", "first ms", "warm ms", "× warm", "binary MB")
	for _, r := range []struct {
		name  string
		asset string
		c     coldStart
	}{{"hello", "hello", base}, {"ingest", "ingest", ingest}, {"worker", "worker", worker}, {"streamconsumer", "streamconsumer", consumer}} {
		report(r.name, r.c)
		fmt.Fprintf(&table, "%-15s %9.1f %8.2f %11.1f %10.1f %9.1f %10.1f\n", r.name,
			ms(r.c.init/n), float64(r.c.init)/float64(base.init), ms(r.c.first/n), ms(r.c.warm/n),
			float64(r.c.first)/float64(r.c.warm), binaryMB(b, d.binaries[r.asset]))
	}
	b.Log("\n" + table.String())
}

// feed posts one webhook to a short-lived ingest environment and returns what it queued.
func feed(b *testing.B, d *deployment, ingestFn function, webhook, queued func() []byte) []byte {
	b.Helper()
	in, _ := d.start(b, ingestFn, "ingest")
	invoke(b, in, webhook())
	if err := in.Stop(); err != nil {
		b.Fatal(err)
	}
	return queued()
}

// measure starts one environment of fn and times its init, a first request
// and a warm one.
func measure(b *testing.B, d *deployment, fn function, asset string, first, warm func() []byte) coldStart {
	b.Helper()
	in, err := lambdaruntime.Start(lambdaruntime.Config{
		Name: fn.ID, Binary: d.binaries[asset], Env: d.environment(b, fn), Region: localaws.Region,
	})
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		if err := in.Stop(); err != nil {
			b.Error(err)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var c coldStart
	if c.init, err = in.Ready(ctx); err != nil {
		b.Fatal(err)
	}
	request := func(payload []byte) time.Duration {
		start := time.Now()
		resp, err := in.Invoke(ctx, payload)
		took := time.Since(start)
		if err != nil || resp.Err != nil {
			b.Fatalf("%s: invocation failed: %v %v", fn.ID, err, resp.Err)
		}
		return took
	}
	c.first = request(first())
	payload := warm() // prepared before the clock starts
	c.warm = request(payload)
	return c
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func binaryMB(b *testing.B, path string) float64 {
	b.Helper()
	st, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	return float64(st.Size()) / (1 << 20)
}
