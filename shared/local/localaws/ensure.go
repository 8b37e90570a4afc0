package localaws

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/schema"
)

// EnsureStateTable creates a state table of the project's shape (on demand,
// streamed, with its indexes) unless it exists, and waits until it is active:
// the target of `ops rebuild -into`.
func EnsureStateTable(ctx context.Context, db *dynamodb.Client, name string) error {
	_, err := ensureTable(ctx, db, TableRequestsFor(name, schema.StateTable))
	return err
}
