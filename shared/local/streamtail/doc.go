// Package streamtail is the local stand-in for a Lambda stream trigger: it
// follows the state tables' DynamoDB streams and feeds the records to a
// streams.Consumer, for `make run`, `go run ./functions/tail` and the chaos
// run. No Lambda links it.
//
// DynamoDB Local has streams but no Lambda triggers. Tailer reads the
// streams through the DynamoDB Streams API and hands each batch to
// streams.Consumer.HandleStreamsAPI, the part of Consumer.Handle after
// Lambda's records are read: the same decoding into state.Row, the same
// in-order processing and failure report. It retries a record reported as
// failed as Lambda would; so what `make run` and `go run ./functions/tail`
// print (streams.FormatLines) is what the Lambda consumer sees.
// StateStreamARNs finds the local state tables' streams.
package streamtail
