// Package streams turns the state tables' DynamoDB stream records into
// readable changes, for teams downstream of the pipeline.
//
// Every state-table row change (an ORDER going NEW→FILLED, a POSITION
// snapshot replaced, an EXECUTION landing in its ORDER's executions_view)
// emits one stream record with the row before and after (NEW_AND_OLD_IMAGES).
// Decode makes a Change of it: the entity key, INSERT/MODIFY/REMOVE, the old
// and new status and version, the Upvest event that caused it and the latest
// object as Upvest sent it.
//
// # Consuming the stream in Lambda (what a downstream team copies)
//
// functions/streamconsumer is a complete example: its main.go is
//
//	consumer := &streams.Consumer{Sink: streams.JSONLines(os.Stdout), Logger: logger}
//	lambda.Start(consumer.Handle)
//
// To build your own consumer, copy that file and replace JSONLines with your
// Sink, a func(ctx, Change) error. Return nil once the change is handled
// (stored, forwarded, ...); return an error to have it delivered again.
// Wire the function to the state table's stream with an event source mapping
// that has ReportBatchItemFailures enabled (in the CDK:
// awslambdaeventsources.NewDynamoEventSource with ReportBatchItemFailures,
// plus a bounded RetryAttempts and an OnFailure destination so one bad record
// cannot block its shard forever). Then:
//
//   - Records of one entity arrive in order (a table's stream is ordered per
//     item), and Handle processes a batch in order.
//   - When a record fails, Handle stops and reports that record's sequence
//     number; Lambda retries from it, so later records never overtake it.
//     Changes before it in the batch may be delivered again with it: make the
//     sink idempotent (the version of a row only grows; skip a change whose
//     NewVersion you have already seen for that key).
//   - Filter with Change.Category, Change.Kind or Change.EventType; Object is
//     the JSON Upvest sent (compacted: no whitespace between tokens), to
//     decode into your own types.
//
// # Watching the stream locally
//
// DynamoDB Local has streams but no Lambda triggers: shared/local/streamtail reads
// them through the DynamoDB Streams API and hands each batch to
// Consumer.HandleStreamsAPI, Handle's twin for Streams API records. The tail
// lives in its own package so that the Lambda consumer links none of it.
package streams
