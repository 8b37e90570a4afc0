// Package ops is the logic of the operations tool (functions/ops): inspecting
// what became of one event, listing parked records, replaying them, redriving
// dead-letter queues and syncing Upvest's keys. It works the same on AWS and
// on the local servers of `make run`; functions/ops only wires it.
package ops

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/shared/config"
	"github.com/upvest-webhooks/upvest-webhooks/shared/ledger"
	"github.com/upvest-webhooks/upvest-webhooks/shared/schema"
)

// RecordReader reads one ledger record; *ledger.Dynamo is one.
type RecordReader interface {
	Read(ctx context.Context, key string) (ledger.Stored, error)
}

// GetItemAPI is the part of the DynamoDB client that reads a state row.
type GetItemAPI interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
}

// ErrUnknownEvent means the ledger has no record under the id asked about.
var ErrUnknownEvent = errors.New("no such event or request in the ledger")

// DefaultPeekLimit bounds the messages a peek looks at in one queue.
const DefaultPeekLimit = 500

// Inspector tells what became of one event.
type Inspector struct {
	Ledger    RecordReader
	DB        GetItemAPI
	Queues    QueueAPI
	Resources config.Ops // state tables, queues and DLQs by domain
	PeekLimit int        // default DefaultPeekLimit
}

// StateRow is the part of a state row an operator looks at.
type StateRow struct {
	Table     string `dynamodbav:"-"`
	Key       string `dynamodbav:"pk"`
	Category  string `dynamodbav:"category"`
	Status    string `dynamodbav:"status"`
	EventID   string `dynamodbav:"event_id"`
	EventType string `dynamodbav:"event_type"`
	Position  string `dynamodbav:"position"`
	OrderedAt string `dynamodbav:"ordered_at"`
	Version   int64  `dynamodbav:"version"`
	UpdatedAt string `dynamodbav:"updated_at"`
}

// QueueLook is what inspecting one queue found, or why it was not looked at.
type QueueLook struct {
	Name    string // "queue" or "dead-letter queue"
	URL     string
	Skipped string // why it was not looked at; empty when it was
	Sighting
}

// Report is what Inspect found about one record.
type Report struct {
	Record ledger.Stored
	Row    *StateRow // nil: no row (or a request record, which has none)
	Looks  []QueueLook
}

// RowIsFromThisEvent says whether the state row's last applied event is the inspected one.
func (r Report) RowIsFromThisEvent() bool { return r.Row != nil && r.Row.EventID == r.Record.EventID }

// Inspect reads the record under key (an event id or request:<sha256>), the
// state row of its entity, and looks for its message in its domain's queue
// (only while the record is not settled: a settled event's message was
// deleted, and a peek costs the message a receive) and dead-letter queue.
func (in *Inspector) Inspect(ctx context.Context, key string) (Report, error) {
	rec, err := in.Ledger.Read(ctx, key)
	if errors.Is(err, ledger.ErrNotFound) {
		return Report{}, fmt.Errorf("%w: %s", ErrUnknownEvent, key)
	}
	if err != nil {
		return Report{}, err
	}
	rep := Report{Record: rec}
	if rec.Kind == ledger.KindRequest || rec.Domain == "" {
		return rep, nil // a request record: its events, if any, have records of their own
	}
	if rep.Row, err = in.row(ctx, rec.Domain, rec.EntityKey); err != nil {
		return rep, err
	}

	limit := in.PeekLimit
	if limit <= 0 {
		limit = DefaultPeekLimit
	}
	queue := QueueLook{Name: "queue", URL: in.Resources.QueueURLs[rec.Domain]}
	switch {
	case queue.URL == "":
		queue.Skipped = "its URL is not configured"
	case rec.Status.Settled():
		queue.Skipped = "the event is settled (" + string(rec.Status) + "); a worker deleted its message"
	default:
		if queue.Sighting, err = peek(ctx, in.Queues, queue.URL, key, limit); err != nil {
			return rep, err
		}
	}
	dlq := QueueLook{Name: "dead-letter queue", URL: in.Resources.DLQURLs[rec.Domain]}
	if dlq.URL == "" {
		dlq.Skipped = "its URL is not configured"
	} else if dlq.Sighting, err = peek(ctx, in.Queues, dlq.URL, key, limit); err != nil {
		return rep, err
	}
	rep.Looks = []QueueLook{queue, dlq}
	return rep, nil
}

func (in *Inspector) row(ctx context.Context, d events.Domain, entityKey string) (*StateRow, error) {
	table := in.Resources.StateTables[d]
	if table == "" || entityKey == "" {
		return nil, nil
	}
	out, err := in.DB.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(table), ConsistentRead: aws.Bool(true),
		Key: map[string]types.AttributeValue{schema.StatePK: &types.AttributeValueMemberS{Value: entityKey}},
	})
	if err != nil {
		return nil, fmt.Errorf("read state row %s from %s: %w", entityKey, table, err)
	}
	if len(out.Item) == 0 {
		return nil, nil
	}
	row := &StateRow{}
	if err := attributevalue.UnmarshalMap(out.Item, row); err != nil {
		return nil, fmt.Errorf("decode state row %s of %s: %w", entityKey, table, err)
	}
	row.Table = table
	return row, nil
}

// Write prints the report, one fact a line.
func (r Report) Write(w io.Writer) error {
	rec := r.Record
	kind := "event"
	if rec.Kind == ledger.KindRequest {
		kind = "request (an authentic body that was not an Upvest envelope)"
	}
	p := &printer{w: w}
	p.line("record", rec.EventID)
	p.line("kind", kind)
	p.line("status", string(rec.Status))
	p.line("reason", rec.Reason)
	p.line("type", rec.EventType)
	p.line("domain", string(rec.Domain))
	p.line("entity key", rec.EntityKey)
	p.line("size", strconv.Itoa(len(rec.Raw))+" bytes")
	p.line("received at", rec.ReceivedAt)
	p.line("updated at", rec.UpdatedAt)
	if !rec.LeaseUntil.IsZero() {
		p.line("lease until", rec.LeaseUntil.Format("2006-01-02T15:04:05Z"))
	}
	p.line("parked in", rec.Parked)
	switch {
	case rec.Kind == ledger.KindRequest:
	case r.Row == nil:
		p.line("state row", "none for "+rec.EntityKey)
	default:
		row := r.Row
		last := "another event: " + row.EventID + " " + row.EventType
		if r.RowIsFromThisEvent() {
			last = "this event"
		}
		p.line("state row", row.Table+" pk="+row.Key)
		p.line("  status", row.Status)
		p.line("  category", row.Category)
		p.line("  version", strconv.FormatInt(row.Version, 10))
		p.line("  updated at", row.UpdatedAt)
		p.line("  last event", last)
	}
	for _, l := range r.Looks {
		switch {
		case l.Skipped != "":
			p.line(l.Name, "not looked at: "+l.Skipped)
		case l.Found:
			p.line(l.Name, fmt.Sprintf("HOLDS its message (sent %s, received %d times counting this look)", l.SentAt, l.ReceiveCount))
		default:
			p.line(l.Name, fmt.Sprintf("not among the %d visible messages looked at (about %d visible, %d in flight, not looked at)",
				l.Looked, l.Visible, l.InFlight))
		}
	}
	return p.err
}

// printer writes "name: value" lines, skipping empty values, and keeps the first error.
type printer struct {
	w   io.Writer
	err error
}

func (p *printer) line(name, value string) {
	if value == "" || p.err != nil {
		return
	}
	_, p.err = fmt.Fprintf(p.w, "%-18s %s\n", name+":", value)
}
