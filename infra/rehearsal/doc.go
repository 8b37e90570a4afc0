// Package rehearsal holds the deploy rehearsal (its tests): the stack's
// template is synthesized, and the real compiled bootstraps of ingest, the
// orders worker and the stream consumer run under a local Lambda Runtime API
// (shared/local/lambdaruntime) with exactly the environment the template gives them,
// resource names mapped to tables and queues on the local servers. They are
// invoked with events in the shapes API Gateway (HTTP API, payload v2), the
// SQS event source mapping and DynamoDB Streams send.
package rehearsal
