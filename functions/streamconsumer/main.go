// Command streamconsumer is the example downstream Lambda: it is triggered by a
// state table's DynamoDB stream and prints every change as one JSON line (to
// CloudWatch Logs). A downstream team copies this file and replaces the sink
// with its own code; see package shared/prod/streams.
package main

import (
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/observability"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/streams"
)

func main() {
	consumer := &streams.Consumer{
		Sink:   streams.JSONLines(os.Stdout), // replace with your own func(ctx, streams.Change) error
		Logger: observability.NewLogger(os.Stderr, "streamconsumer"),
	}
	lambda.Start(consumer.Handle)
}
