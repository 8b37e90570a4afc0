package perf_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	upvest "github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/shared/local/localaws/awstest"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/fanout/fanouttest"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/ingest"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/ledger"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/observability"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/schema"
	"github.com/upvest-webhooks/upvest-webhooks/shared/testkit/awscount"
)

// The dedupe stream of issue 9: 5,000 deliveries, 30 % of them redeliveries,
// 8 in flight.
const (
	dedupeDeliveries   = 5000
	dedupeRedeliveries = 0.30
	dedupeInFlight     = 8
	dedupeRounds       = 2 // bare and ingest alternate, so that drift hits both
)

// BenchmarkIngestDedupeVsBarePutItem runs the same delivery stream through
// the ingest handler (one event per request, signature check off, fan-out to
// memory: what is left is the dedupe stage, the ledger's conditional put) and
// through a bare conditional PutItem loop, on the same DynamoDB Local, and
// reports the ratio of their rates (issue 9 target: ≥ 0.9) and the DynamoDB
// calls per delivery of each.
func BenchmarkIngestDedupeVsBarePutItem(b *testing.B) {
	env := awstest.Env(b)
	src := newEventSource(b)
	ctx := context.Background()

	bareCount, ingestCount := awscount.New(), awscount.New()
	bareDB := dynamodb.NewFromConfig(bareCount.Attach(env.Config))
	ingestDB := dynamodb.NewFromConfig(ingestCount.Attach(env.Config))
	discard := slog.New(slog.DiscardHandler)
	service := ingest.New(noAuth{}, nil, ledger.NewDynamo(ingestDB, env.LedgerTable), fanouttest.NewMemory(upvest.Domains()...),
		discard, observability.NewMetrics(io.Discard, "ingest"), ingest.Options{PublicPath: "/webhooks"})

	bare := func(e event) error {
		_, err := bareDB.PutItem(ctx, &dynamodb.PutItemInput{
			TableName: aws.String(env.LedgerTable),
			Item: map[string]types.AttributeValue{
				schema.LedgerPK: &types.AttributeValueMemberS{Value: "bare:" + e.ID},
				"body":          &types.AttributeValueMemberB{Value: e.Raw},
			},
			ConditionExpression:      aws.String("attribute_not_exists(#id)"),
			ExpressionAttributeNames: map[string]string{"#id": schema.LedgerPK},
		})
		var dup *types.ConditionalCheckFailedException
		if err != nil && !errors.As(err, &dup) {
			return err
		}
		return nil
	}
	viaIngest := func(e event) error {
		resp, _ := service.Handle(ctx, unsignedRequest(envelope([]event{e})))
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("ingest answered %d: %s", resp.StatusCode, resp.Body)
		}
		return nil
	}

	// Warm DynamoDB Local's JVM up first, uncounted, so that neither side pays for it.
	for _, run := range []func(event) error{bare, viaIngest} {
		if _, err := runConcurrently(src.deliveries(dedupeDeliveries/5, dedupeRedeliveries, 99), dedupeInFlight, run); err != nil {
			b.Fatalf("warm-up: %v", err)
		}
	}
	bareBefore, ingestBefore := bareCount.Snapshot().Requests("DynamoDB"), ingestCount.Snapshot().Requests("DynamoDB")

	var bareTime, ingestTime float64
	var size int
	for b.Loop() {
		for round := range dedupeRounds {
			stream := src.deliveries(dedupeDeliveries, dedupeRedeliveries, uint64(round+1))
			size = meanSize(stream)
			// Each side goes first in every other round, so the table's growth hits both alike.
			var bareRound, ingestRound time.Duration
			for i := range 2 {
				if (i+round)%2 == 0 {
					d, err := runConcurrently(stream, dedupeInFlight, bare)
					if err != nil {
						b.Fatalf("bare loop: %v", err)
					}
					bareRound = d
				} else {
					d, err := runConcurrently(src.deliveries(dedupeDeliveries, dedupeRedeliveries, uint64(round+1)), dedupeInFlight, viaIngest)
					if err != nil {
						b.Fatalf("ingest: %v", err)
					}
					ingestRound = d
				}
			}
			bareTime += bareRound.Seconds()
			ingestTime += ingestRound.Seconds()
			b.Logf("round %d: bare %.0f/s, ingest %.0f/s", round+1, dedupeDeliveries/bareRound.Seconds(), dedupeDeliveries/ingestRound.Seconds())
		}
	}
	deliveries := float64(b.N * dedupeRounds * dedupeDeliveries)
	bareRate, ingestRate := deliveries/bareTime, deliveries/ingestTime
	b.ReportMetric(bareRate, "bare-deliveries/s")
	b.ReportMetric(ingestRate, "ingest-deliveries/s")
	b.ReportMetric(ingestRate/bareRate, "ratio")
	b.ReportMetric(float64(ingestCount.Snapshot().Requests("DynamoDB")-ingestBefore)/deliveries, "ingest-ddb-calls/delivery")
	b.ReportMetric(float64(bareCount.Snapshot().Requests("DynamoDB")-bareBefore)/deliveries, "bare-ddb-calls/delivery")
	b.Logf("ingest dedupe %.0f/s vs bare conditional PutItem %.0f/s: %.2f× (target ≥ 0.9×); %d deliveries × %d rounds, %.0f %% redeliveries, %d in flight, events of %d bytes on average",
		ingestRate, bareRate, ingestRate/bareRate, dedupeDeliveries, dedupeRounds, dedupeRedeliveries*100, dedupeInFlight, size)
}
