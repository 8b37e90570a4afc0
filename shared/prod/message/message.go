// Package message is the contract between ingest and the workers: one SQS
// message per event. The body carries the event's exact bytes base64-encoded,
// since SQS accepts only some Unicode in a message and an event may hold any
// bytes (invalid UTF-8, U+FFFE); events too large to carry travel as a claim
// check on the ledger. The attributes let a consumer route and dedupe without
// decoding the body, and hold only values SQS always accepts.
package message

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
)

const (
	AttrEventID   = "event_id"
	AttrEventType = "event_type" // only when the type is well formed
	AttrDomain    = "domain"
	// AttrBodyEncoding is EncodingBase64: the body is base64 of the event's bytes.
	AttrBodyEncoding = "body_encoding"
	EncodingBase64   = "base64"
	// AttrBodyRef is BodyInLedger when the event was too large to carry: the
	// body is then {"id": "<event id>"} and the worker reads the event from the ledger.
	AttrBodyRef  = "body_ref"
	BodyInLedger = "ledger"
	// AttrReplay is Replayed on a message sent by a replay: its ledger record
	// sits in the parked index until the worker is done with it and releases it.
	AttrReplay = "replay"
	Replayed   = "1"
)

// MaxInlineBody is the largest event carried in the message itself: base64
// makes it 200 KiB, which leaves room for the attributes under SQS's 256 KiB
// per message and per batch (the limit of queues created before 2025).
const MaxInlineBody = 150 * 1024

// Encode returns the body and body attributes of an event's message.
func Encode(eventID string, raw []byte) (body string, attrs map[string]string) {
	if len(raw) > MaxInlineBody {
		ref, _ := json.Marshal(struct {
			ID string `json:"id"`
		}{eventID}) // a struct of one string always marshals
		return string(ref), map[string]string{AttrBodyRef: BodyInLedger}
	}
	return base64.StdEncoding.EncodeToString(raw), map[string]string{AttrBodyEncoding: EncodingBase64}
}

// Decoded is what a message carries.
type Decoded struct {
	Raw         []byte // the event's bytes, unless InLedger
	InLedger    bool   // a claim check: read the event with this id from the ledger
	LedgerEvent string
}

// ErrMalformed means a message does not follow this contract.
var ErrMalformed = errors.New("malformed event message")

// Decode reads a message body given its attributes (attr returns "" for an
// absent one). A body with neither attribute is taken as the event's bytes,
// as messages of earlier versions were.
func Decode(body string, attr func(name string) string) (Decoded, error) {
	switch {
	case attr(AttrBodyRef) == BodyInLedger:
		var ref struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal([]byte(body), &ref); err != nil || ref.ID == "" {
			if id := attr(AttrEventID); id != "" {
				return Decoded{InLedger: true, LedgerEvent: id}, nil
			}
			return Decoded{}, fmt.Errorf("%w: claim check names no event", ErrMalformed)
		}
		return Decoded{InLedger: true, LedgerEvent: ref.ID}, nil
	case attr(AttrBodyEncoding) == EncodingBase64:
		raw, err := base64.StdEncoding.DecodeString(body)
		if err != nil {
			return Decoded{}, fmt.Errorf("%w: body is not base64: %v", ErrMalformed, err)
		}
		return Decoded{Raw: raw}, nil
	case attr(AttrBodyEncoding) != "":
		return Decoded{}, fmt.Errorf("%w: unknown body encoding %q", ErrMalformed, attr(AttrBodyEncoding))
	}
	return Decoded{Raw: []byte(body)}, nil
}
