// Package message is the contract between ingest and the workers: one SQS
// message per event. The body is the event exactly as Upvest sent it; the
// attributes let a consumer route and dedupe without parsing the body.
package message

const (
	AttrEventID   = "event_id"
	AttrEventType = "event_type"
	AttrDomain    = "domain"
	// AttrBodyRef is set to BodyInLedger when the event was too large to carry:
	// the body is then {"id": "<event id>"} and the worker reads the event from the ledger.
	AttrBodyRef  = "body_ref"
	BodyInLedger = "ledger"
)

// MaxInlineBody is the largest event carried in the message itself. SQS allows
// 256 KiB per message and per batch (attributes included) on older queues; the
// margin leaves room for the attributes.
const MaxInlineBody = 200 * 1024
