package ops

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/config"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/schema"
)

// LocalResources finds the tables and queues of a local run by their names,
// creating nothing (provisioning would reset the queues' settings).
func LocalResources(ctx context.Context, cfg aws.Config, names schema.Names) (config.Ops, error) {
	db, q := dynamodb.NewFromConfig(cfg), sqs.NewFromConfig(cfg)
	if _, err := db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(names.LedgerTable())}); err != nil {
		return config.Ops{}, fmt.Errorf("local ledger table %s (is `make run` up?): %w", names.LedgerTable(), err)
	}
	res := config.Ops{
		LedgerTable: names.LedgerTable(),
		StateTables: map[events.Domain]string{},
		QueueURLs:   map[events.Domain]string{},
		DLQURLs:     map[events.Domain]string{},
	}
	url := func(name string) (string, error) {
		out, err := q.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(name)})
		if err != nil {
			return "", fmt.Errorf("local queue %s (is `make run` up?): %w", name, err)
		}
		return aws.ToString(out.QueueUrl), nil
	}
	for _, d := range events.Domains() {
		res.StateTables[d] = names.StateTable(d)
		var err error
		if res.QueueURLs[d], err = url(names.Queue(d)); err != nil {
			return config.Ops{}, err
		}
		if res.DLQURLs[d], err = url(names.DeadLetterQueue(d)); err != nil {
			return config.Ops{}, err
		}
	}
	return res, nil
}
