package rehearsal

import (
	"context"
	"testing"
	"time"

	"github.com/upvest-webhooks/upvest-webhooks/shared/lambdaruntime"
	"github.com/upvest-webhooks/upvest-webhooks/shared/localaws"
	"github.com/upvest-webhooks/upvest-webhooks/shared/signature"
)

// BenchmarkInitTime measures each bootstrap's init time (process start to
// its first /next) under the local Runtime API with its template environment,
// against an aws-lambda-go hello world started the same way, alternately.
// It reports init-ms and x-hello (the ratio); ns/op is one pair of starts.
func BenchmarkInitTime(b *testing.B) {
	_, jwks, _, err := signature.GenerateDevKey()
	if err != nil {
		b.Fatal(err)
	}
	d := newDeployment(b, string(jwks)) // ingest reads the keys at start, as deployed
	_, ingestID := d.tp.routeTarget(b)
	workerID, _ := d.tp.triggeredBy(b, d.tp.outputRef(b, "QueueOrdersUrl"), "Arn")
	consumerID, _ := d.tp.triggeredBy(b, d.tp.outputRef(b, "StateTableOrdersName"), "StreamArn")
	hello := function{ID: "hello", MemoryMB: 128, TimeoutS: 3, Handler: "bootstrap", Runtime: "provided.al2023"}
	for _, c := range []struct {
		name string
		fn   function
	}{
		{"ingest", d.tp.function(b, ingestID)},
		{"worker", d.tp.function(b, workerID)},
		{"streamconsumer", d.tp.function(b, consumerID)},
	} {
		b.Run(c.name, func(b *testing.B) {
			var own, base time.Duration
			for range b.N {
				base += initTime(b, d, hello, "hello")
				own += initTime(b, d, c.fn, c.name)
			}
			b.ReportMetric(float64(own.Microseconds())/1000/float64(b.N), "init-ms")
			b.ReportMetric(float64(base.Microseconds())/1000/float64(b.N), "hello-init-ms")
			b.ReportMetric(float64(own)/float64(base), "x-hello")
		})
	}
}

func initTime(b *testing.B, d *deployment, fn function, asset string) time.Duration {
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
	took, err := in.Ready(ctx)
	if err != nil {
		b.Fatal(err)
	}
	return took
}
