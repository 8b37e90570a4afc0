package ops

import (
	"context"
	"fmt"
	"io"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/ledger"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/schema"
)

// QueryAPI is the part of the DynamoDB client that lists parked records.
type QueryAPI interface {
	Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
}

// ParkedRecord is one line of the parked list.
type ParkedRecord struct {
	Partition  string `dynamodbav:"parked" json:"partition"`
	Key        string `dynamodbav:"event_id" json:"event_id"`
	ReceivedAt string `dynamodbav:"received_at" json:"received_at"`
	Reason     string `dynamodbav:"reason" json:"reason"`
}

// ParkedPartitions are the parked index's partitions: every domain, and
// ledger.RequestsPartition for request records.
func ParkedPartitions() []string {
	var out []string
	for _, d := range events.Domains() {
		out = append(out, string(d))
	}
	return append(out, ledger.RequestsPartition)
}

// ParsePartition checks a partition named on the command line.
func ParsePartition(name string) (string, error) {
	if _, ok := events.ParseDomain(name); ok || name == ledger.RequestsPartition {
		return name, nil
	}
	return "", fmt.Errorf("unknown domain %q (one of %v, or %s)", name, events.Domains(), ledger.RequestsPartition)
}

// Parked lists the parked records of the given partitions, each oldest first,
// from the ledger's parked index (which projects every attribute).
func Parked(ctx context.Context, db QueryAPI, ledgerTable string, partitions []string) ([]ParkedRecord, error) {
	var out []ParkedRecord
	for _, p := range partitions {
		var start map[string]types.AttributeValue
		for {
			page, err := db.Query(ctx, &dynamodb.QueryInput{
				TableName:              aws.String(ledgerTable),
				IndexName:              aws.String(schema.LedgerParkedIndex),
				KeyConditionExpression: aws.String("#parked = :p"),
				ProjectionExpression:   aws.String("#parked, #id, #received, #reason"),
				ExpressionAttributeNames: map[string]string{
					"#parked": schema.LedgerParked, "#id": schema.LedgerPK,
					"#received": schema.LedgerReceivedAt, "#reason": schema.LedgerReason,
				},
				ExpressionAttributeValues: map[string]types.AttributeValue{":p": &types.AttributeValueMemberS{Value: p}},
				ExclusiveStartKey:         start,
			})
			if err != nil {
				return nil, fmt.Errorf("list parked records of %s: %w", p, err)
			}
			var recs []ParkedRecord
			if err := attributevalue.UnmarshalListOfMaps(page.Items, &recs); err != nil {
				return nil, fmt.Errorf("decode parked records of %s: %w", p, err)
			}
			out = append(out, recs...)
			if start = page.LastEvaluatedKey; len(start) == 0 {
				break
			}
		}
	}
	return out, nil
}

// WriteParked prints one record a line: partition, key, received_at, reason.
func WriteParked(w io.Writer, recs []ParkedRecord) error {
	for _, r := range recs {
		if _, err := fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", r.Partition, r.Key, r.ReceivedAt, r.Reason); err != nil {
			return err
		}
	}
	_, err := fmt.Fprintf(w, "%d parked record(s)\n", len(recs))
	return err
}
