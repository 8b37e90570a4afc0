package ledger_test

import (
	"context"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/ledger"
)

// scanRecorder answers every Scan with an empty last page and keeps the requests.
type scanRecorder struct {
	ledger.DynamoAPI
	mu    sync.Mutex // segments scan concurrently
	scans []*dynamodb.ScanInput
}

func (r *scanRecorder) Scan(_ context.Context, in *dynamodb.ScanInput, _ ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.scans = append(r.scans, in)
	return &dynamodb.ScanOutput{}, nil
}

func TestScanEventsReadsConsistentlyOnlyWhenAsked(t *testing.T) {
	for _, consistent := range []bool{false, true} {
		rec := &scanRecorder{}
		l := ledger.NewDynamo(rec, "ledger")
		if err := l.ScanEvents(context.Background(), ledger.ScanQuery{Segments: 2, ConsistentRead: consistent}, nil,
			func(context.Context, ledger.ScanPage) error { return nil }); err != nil {
			t.Fatal(err)
		}
		if len(rec.scans) != 2 {
			t.Fatalf("%d Scan calls, want one per segment", len(rec.scans))
		}
		for _, in := range rec.scans {
			if got := aws.ToBool(in.ConsistentRead); got != consistent {
				t.Errorf("ConsistentRead %v on a query asking %v", got, consistent)
			}
		}
	}
}
