package ledger

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// BatchAPI is the call Import needs.
type BatchAPI interface {
	BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error)
}

// Import writes up to 25 records at once, unconditionally, as ingest would
// have recorded them: for loading a large ledger fast (benchmarks, a copy of
// another ledger). Bodies must fit one item. It is not a way in for Upvest's
// deliveries, which go through Claim.
func (l *Dynamo) Import(ctx context.Context, db BatchAPI, recs []Record) error {
	if len(recs) > 25 {
		return fmt.Errorf("import: %d records, at most 25 a call", len(recs))
	}
	var writes []types.WriteRequest
	for _, rec := range recs {
		it, parts, err := l.newItem(rec, l.now())
		if err != nil {
			return err
		}
		if len(parts) > 0 {
			return fmt.Errorf("import %s: body too large for one item", rec.EventID)
		}
		av, err := attributevalue.MarshalMap(it)
		if err != nil {
			return fmt.Errorf("marshal %s: %w", rec.EventID, err)
		}
		writes = append(writes, types.WriteRequest{PutRequest: &types.PutRequest{Item: av}})
	}
	req := map[string][]types.WriteRequest{l.table: writes}
	for len(req) > 0 {
		out, err := db.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: req})
		if err != nil {
			return fmt.Errorf("import into %s: %w", aws.ToString(&l.table), err)
		}
		req = out.UnprocessedItems
	}
	return nil
}
