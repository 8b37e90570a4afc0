package streamtail

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	upvest "github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/schema"
)

// TableDescriber is the part of the DynamoDB client that finds a table's stream.
type TableDescriber interface {
	DescribeTable(ctx context.Context, in *dynamodb.DescribeTableInput, opts ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error)
}

var _ TableDescriber = (*dynamodb.Client)(nil)

// StateStreamARNs finds the stream ARN of each domain's state table named by
// names (schema.LocalNames for the local run), keyed by domain name.
func StateStreamARNs(ctx context.Context, client TableDescriber, names schema.Names, domains []upvest.Domain) (map[string]string, error) {
	arns := make(map[string]string, len(domains))
	for _, d := range domains {
		table := names.StateTable(d)
		out, err := client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
		if err != nil {
			return nil, fmt.Errorf("describe state table %s: %w", table, err)
		}
		var arn string
		if out.Table != nil {
			arn = aws.ToString(out.Table.LatestStreamArn)
		}
		if arn == "" {
			return nil, fmt.Errorf("state table %s has no stream", table)
		}
		arns[string(d)] = arn
	}
	return arns, nil
}
