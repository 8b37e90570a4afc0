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
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/config"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/ledger"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/schema"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/state"
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

// Outcome is what became of an event or request, derived by Inspect from its
// ledger record and its entity's state row: workers record only the
// exceptions in the ledger (PARKED), the row records what was applied.
type Outcome string

const (
	// OutcomeApplied: the state row holds this event.
	OutcomeApplied Outcome = "applied"
	// OutcomeSettled: the row holds a newer event (Report.Row names it); this one was
	// applied before it or skipped as stale, and nothing more will happen to it.
	OutcomeSettled Outcome = "settled"
	// OutcomePending: the row is older or absent: the event is on its queue, in its
	// dead-letter queue (Report.Looks), or its send is being retried.
	OutcomePending Outcome = "pending"
	// OutcomeParked: kept aside with a reason (Record.Reason); events and requests.
	OutcomeParked Outcome = "parked"
	// OutcomeReplayed: a kept request whose events a replay recorded (Record.Reason).
	OutcomeReplayed Outcome = "replayed"
)

// Report is what Inspect found about one record.
type Report struct {
	Record  ledger.Stored
	Row     *StateRow // nil: no row (or a request record, which has none)
	View    *ViewLook // an EXECUTION's entry in its ORDER's view; nil for other events
	Outcome Outcome
	Looks   []QueueLook
}

// ViewLook is the entry an event keeps in its parent's view (an EXECUTION's
// in its ORDER's executions_view), which its worker writes after its own row.
type ViewLook struct {
	Table     string
	ParentKey string
	Attribute string
	EntryID   string
	Entry     *state.ViewEntry // nil: no entry yet
}

// RowIsFromThisEvent says whether the state row's last applied event is the inspected one.
func (r Report) RowIsFromThisEvent() bool { return r.Row != nil && r.Row.EventID == r.Record.EventID }

// Inspect reads the record under key (an event id or request:<sha256>) and
// the state row of its entity, derives the outcome (see Outcome), and looks
// for its message in its domain's queue (only while it is pending: a settled
// event's message was deleted, and a peek costs the message a receive) and
// dead-letter queue.
func (in *Inspector) Inspect(ctx context.Context, key string) (Report, error) {
	rep, err := in.Outcome(ctx, key)
	if err != nil || rep.Record.Kind == ledger.KindRequest || rep.Record.Domain == "" {
		return rep, err
	}
	rec := rep.Record

	limit := in.PeekLimit
	if limit <= 0 {
		limit = DefaultPeekLimit
	}
	queue := QueueLook{Name: "queue", URL: in.Resources.QueueURLs[rec.Domain]}
	switch {
	case queue.URL == "":
		queue.Skipped = "its URL is not configured"
	case rep.Outcome != OutcomePending:
		queue.Skipped = "the event is " + string(rep.Outcome) + "; its message is done"
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

// Outcome reads the record under key and its entity's state row, and derives
// the outcome; unlike Inspect it does not look into the queues, so polling it
// costs no message a receive.
func (in *Inspector) Outcome(ctx context.Context, key string) (Report, error) {
	rec, err := in.Ledger.Read(ctx, key)
	if errors.Is(err, ledger.ErrNotFound) {
		return Report{}, fmt.Errorf("%w: %s", ErrUnknownEvent, key)
	}
	if err != nil {
		return Report{}, err
	}
	rep := Report{Record: rec}
	switch {
	case rec.Status == ledger.Parked:
		rep.Outcome = OutcomeParked
	case rec.Kind == ledger.KindRequest:
		rep.Outcome = OutcomeReplayed
	}
	if rec.Kind == ledger.KindRequest || rec.Domain == "" {
		return rep, nil // a request record: its events, if any, have records of their own
	}
	var row *state.Row
	if rep.Row, row, err = in.row(ctx, rec.Domain, rec.EntityKey); err != nil {
		return rep, err
	}
	if rep.Outcome != "" {
		return rep, nil
	}
	_, route, err := events.ClassifyRaw(rec.Raw)
	if err != nil { // ingest would have parked it; judge by the event id alone
		route = events.Route{Model: events.LatestWins, Position: "\uffff"}
	}
	view := state.Holds
	if route.Parent != nil { // an EXECUTION's entry in its ORDER's view is written after its own row
		var parent *state.Row
		if _, parent, err = in.row(ctx, rec.Domain, route.Parent.EntityKey); err != nil {
			return rep, err
		}
		view = state.JudgeView(parent, rec.EventID, route)
		rep.View = &ViewLook{Table: in.Resources.StateTables[rec.Domain], ParentKey: route.Parent.EntityKey,
			Attribute: route.Parent.Attribute, EntryID: route.Parent.EntryID}
		if parent != nil {
			if entry, ok := parent.Views[route.Parent.Attribute][route.Parent.EntryID]; ok {
				rep.View.Entry = &entry
			}
		}
	}
	rep.Outcome = derive(rec.Status, state.Done(state.Judge(row, rec.EventID, route), view))
	return rep, nil
}

// derive turns an event's standing in the state table into its outcome. A
// record that an earlier version's worker marked settled (APPLIED,
// SKIPPED_STALE, DUPLICATE) stays settled even where the row cannot show it.
func derive(status ledger.Status, standing state.Standing) Outcome {
	switch {
	case standing == state.Holds:
		return OutcomeApplied
	case standing == state.Superseded, status.Settled():
		return OutcomeSettled
	}
	return OutcomePending
}

func (in *Inspector) row(ctx context.Context, d events.Domain, entityKey string) (*StateRow, *state.Row, error) {
	table := in.Resources.StateTables[d]
	if table == "" || entityKey == "" {
		return nil, nil, nil
	}
	out, err := in.DB.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(table), ConsistentRead: aws.Bool(true),
		Key: map[string]types.AttributeValue{schema.StatePK: &types.AttributeValueMemberS{Value: entityKey}},
	})
	if err != nil {
		return nil, nil, fmt.Errorf("read state row %s from %s: %w", entityKey, table, err)
	}
	if len(out.Item) == 0 {
		return nil, nil, nil
	}
	row := &StateRow{}
	if err := attributevalue.UnmarshalMap(out.Item, row); err != nil {
		return nil, nil, fmt.Errorf("decode state row %s of %s: %w", entityKey, table, err)
	}
	row.Table = table
	full, err := state.DecodeRow(out.Item)
	if err != nil {
		return nil, nil, fmt.Errorf("decode state row %s of %s: %w", entityKey, table, err)
	}
	return row, &full, nil
}

// Write prints the report, one fact a line.
func (r Report) Write(w io.Writer) error {
	rec := r.Record
	kind := "event"
	switch rec.Kind {
	case ledger.KindRequest:
		kind = "request (an authentic body that was not an Upvest envelope)"
	case ledger.KindConflict:
		kind = "conflict (other bytes that arrived under a recorded event id; never applied)"
	}
	p := &printer{w: w}
	p.line("record", rec.EventID)
	p.line("kind", kind)
	p.line("outcome", r.outcome())
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
	if v := r.View; v != nil {
		entry := "no entry"
		switch {
		case v.Entry == nil:
		case v.Entry.EventID == rec.EventID:
			entry = "this event"
		default:
			entry = "another event: " + v.Entry.EventID + " " + v.Entry.EventType
		}
		p.line("order view", fmt.Sprintf("%s pk=%s %s[%s]: %s", v.Table, v.ParentKey, v.Attribute, v.EntryID, entry))
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

// outcome says the derived outcome in words an operator acts on.
func (r Report) outcome() string {
	switch r.Outcome {
	case OutcomeApplied:
		return "applied (the state row holds this event)"
	case OutcomeSettled:
		if r.Row != nil && !r.RowIsFromThisEvent() && r.Row.EventID != "" {
			return "settled (the state row holds the newer event " + r.Row.EventID + " " + r.Row.EventType + "; this one was applied before it or skipped as stale)"
		}
		return "settled (recorded " + string(r.Record.Status) + " by an earlier version)"
	case OutcomePending:
		if r.RowIsFromThisEvent() && r.View != nil {
			// Its worker wrote the row and not yet the view, which it writes second.
			return "pending (the state row holds this event; its entry in " + r.View.ParentKey + "'s " + r.View.Attribute +
				" does not yet: look in the queue and the dead-letter queue below)"
		}
		return "pending (the state row is older or absent: look in the queue and the dead-letter queue below)"
	case OutcomeParked:
		return "parked: " + r.Record.Reason
	case OutcomeReplayed:
		return "replayed: " + r.Record.Reason
	}
	return string(r.Outcome)
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

// ReportJSON is what `inspect -json` prints: the report's facts by name,
// without the record's bytes.
type ReportJSON struct {
	Record     string          `json:"record"`
	Kind       string          `json:"kind"` // event, request or conflict
	Outcome    Outcome         `json:"outcome"`
	Status     ledger.Status   `json:"status"`
	Reason     string          `json:"reason,omitempty"`
	Type       string          `json:"type,omitempty"`
	Domain     string          `json:"domain,omitempty"`
	EntityKey  string          `json:"entity_key,omitempty"`
	Size       int             `json:"size_bytes"`
	ReceivedAt string          `json:"received_at,omitempty"`
	UpdatedAt  string          `json:"updated_at,omitempty"`
	LeaseUntil string          `json:"lease_until,omitempty"`
	ParkedIn   string          `json:"parked_in,omitempty"`
	StateRow   *StateRowJSON   `json:"state_row"`  // null: none (or a request)
	OrderView  *ViewLookJSON   `json:"order_view"` // null: not an EXECUTION
	Queues     []QueueLookJSON `json:"queues"`
}

// StateRowJSON is the state row in ReportJSON.
type StateRowJSON struct {
	Table     string `json:"table"`
	PK        string `json:"pk"`
	Status    string `json:"status,omitempty"`
	Category  string `json:"category,omitempty"`
	Version   int64  `json:"version"`
	UpdatedAt string `json:"updated_at,omitempty"`
	EventID   string `json:"event_id,omitempty"`
	EventType string `json:"event_type,omitempty"`
}

// ViewLookJSON is an EXECUTION's entry in its ORDER's view in ReportJSON.
type ViewLookJSON struct {
	Table     string `json:"table"`
	PK        string `json:"pk"`
	Attribute string `json:"attribute"`
	EntryID   string `json:"entry_id"`
	EventID   string `json:"event_id,omitempty"` // "": no entry yet
	EventType string `json:"event_type,omitempty"`
}

// QueueLookJSON is one queue's look in ReportJSON.
type QueueLookJSON struct {
	Name         string `json:"name"`
	URL          string `json:"url,omitempty"`
	Skipped      string `json:"not_looked_at,omitempty"`
	Found        bool   `json:"found"`
	Looked       int    `json:"looked_at"`
	Visible      int    `json:"visible"`
	InFlight     int    `json:"in_flight"`
	ReceiveCount int    `json:"receive_count,omitempty"`
	SentAt       string `json:"sent_at,omitempty"`
}

// JSON is the report as `inspect -json` prints it.
func (r Report) JSON() ReportJSON {
	rec := r.Record
	kind := "event"
	if rec.Kind != ledger.KindEvent {
		kind = string(rec.Kind)
	}
	out := ReportJSON{
		Record: rec.EventID, Kind: kind, Outcome: r.Outcome, Status: rec.Status, Reason: rec.Reason, Type: rec.EventType,
		Domain: string(rec.Domain), EntityKey: rec.EntityKey, Size: len(rec.Raw), ReceivedAt: rec.ReceivedAt,
		UpdatedAt: rec.UpdatedAt, ParkedIn: rec.Parked, Queues: []QueueLookJSON{},
	}
	if !rec.LeaseUntil.IsZero() {
		out.LeaseUntil = rec.LeaseUntil.Format("2006-01-02T15:04:05Z")
	}
	if row := r.Row; row != nil {
		out.StateRow = &StateRowJSON{Table: row.Table, PK: row.Key, Status: row.Status, Category: row.Category,
			Version: row.Version, UpdatedAt: row.UpdatedAt, EventID: row.EventID, EventType: row.EventType}
	}
	if v := r.View; v != nil {
		out.OrderView = &ViewLookJSON{Table: v.Table, PK: v.ParentKey, Attribute: v.Attribute, EntryID: v.EntryID}
		if v.Entry != nil {
			out.OrderView.EventID, out.OrderView.EventType = v.Entry.EventID, v.Entry.EventType
		}
	}
	for _, l := range r.Looks {
		out.Queues = append(out.Queues, QueueLookJSON{Name: l.Name, URL: l.URL, Skipped: l.Skipped, Found: l.Found, Looked: l.Looked,
			Visible: l.Visible, InFlight: l.InFlight, ReceiveCount: l.ReceiveCount, SentAt: l.SentAt})
	}
	return out
}
