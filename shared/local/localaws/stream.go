package localaws

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	streamtypes "github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"
)

// ReadStream returns every record of every shard of a stream, oldest first per
// shard, reading each shard from its start until it is caught up.
func ReadStream(ctx context.Context, client *dynamodbstreams.Client, streamARN string) ([]streamtypes.Record, error) {
	var shards []streamtypes.Shard
	var start *string
	for {
		out, err := client.DescribeStream(ctx, &dynamodbstreams.DescribeStreamInput{
			StreamArn: aws.String(streamARN), ExclusiveStartShardId: start,
		})
		if err != nil {
			return nil, err
		}
		shards = append(shards, out.StreamDescription.Shards...)
		if start = out.StreamDescription.LastEvaluatedShardId; start == nil {
			break
		}
	}
	var records []streamtypes.Record
	for _, sh := range shards {
		it, err := client.GetShardIterator(ctx, &dynamodbstreams.GetShardIteratorInput{
			StreamArn: aws.String(streamARN), ShardId: sh.ShardId, ShardIteratorType: streamtypes.ShardIteratorTypeTrimHorizon,
		})
		if err != nil {
			return nil, err
		}
		for iter := it.ShardIterator; iter != nil; {
			out, err := client.GetRecords(ctx, &dynamodbstreams.GetRecordsInput{ShardIterator: iter})
			if err != nil {
				return nil, err
			}
			records = append(records, out.Records...)
			if len(out.Records) == 0 {
				break // an open shard has no end; an empty read means caught up
			}
			iter = out.NextShardIterator
		}
	}
	return records, nil
}
