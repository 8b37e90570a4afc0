package ledger

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"golang.org/x/sync/errgroup"

	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/schema"
)

// ScanQuery selects event records for a parallel Scan of the ledger (see
// README, Operations: why a Scan and not an index). Its conditions become the
// Scan's filter expression: they save transfer, not read units, and callers
// still check each record, since a filter is a coarse first cut.
type ScanQuery struct {
	Segments      int      // parallel Scan segments, at least 1
	TypePrefixes  []string // event_type begins with one of these; none: any type
	ReceivedFrom  string   // received_at >= this sortable time; "": no bound
	ReceivedUntil string   // received_at < this sortable time; "": no bound
	Statuses      []Status // none: any status
	WithBody      bool     // read each record's exact bytes (Stored.Raw)
	PageSize      int32    // items evaluated per Scan call; 0: DynamoDB's 1 MB pages
	// ConsistentRead sees every write that completed before the Scan read its
	// page, at twice the read units.
	ConsistentRead bool
	// OrParked, with Statuses, also takes the records listed in the parked
	// index whatever their status (a replayed record stays listed until its
	// worker is done with it).
	OrParked bool
}

// Cursor is where one Scan segment stands: after the record with that key, or
// done. Records carry only an event id as key, so a cursor is that id: a
// checkpoint can hold it as text.
type Cursor struct {
	After string `json:"after,omitempty"`
	Done  bool   `json:"done,omitempty"`
}

// ScanPage is one Scan call's worth of matching records of one segment.
type ScanPage struct {
	Segment   int
	Records   []Stored // body-less unless ScanQuery.WithBody
	Evaluated int      // ledger items the page read, matching or not
	ReadUnits float64  // read units DynamoDB charged for the page
	Next      Cursor   // the segment's cursor once this page is handled
}

// ScanEvents runs a parallel Scan of the event records, segment by segment
// from the given cursors (nil or short: from the start), and calls fn with
// each page. fn is called concurrently for different segments, one page at a
// time per segment; memory is one page per segment. A segment whose cursor is
// Done is skipped.
func (l *Dynamo) ScanEvents(ctx context.Context, q ScanQuery, from []Cursor, fn func(context.Context, ScanPage) error) error {
	if q.Segments < 1 {
		q.Segments = 1
	}
	in := l.scanInput(q)
	g, gctx := errgroup.WithContext(ctx)
	for seg := range q.Segments {
		var c Cursor
		if seg < len(from) {
			c = from[seg]
		}
		if c.Done {
			continue
		}
		g.Go(func() error { return l.scanSegment(gctx, q, *in, seg, c, fn) })
	}
	return g.Wait()
}

func (l *Dynamo) scanSegment(ctx context.Context, q ScanQuery, in dynamodb.ScanInput, seg int, c Cursor, fn func(context.Context, ScanPage) error) error {
	in.Segment, in.TotalSegments = aws.Int32(int32(seg)), aws.Int32(int32(q.Segments))
	if c.After != "" {
		in.ExclusiveStartKey = key(c.After)
	}
	for {
		out, err := l.client.Scan(ctx, &in)
		if err != nil {
			return fmt.Errorf("scan ledger segment %d: %w", seg, err)
		}
		page := ScanPage{Segment: seg, Evaluated: int(out.ScannedCount)}
		if out.ConsumedCapacity != nil {
			page.ReadUnits = aws.ToFloat64(out.ConsumedCapacity.CapacityUnits)
		}
		for _, av := range out.Items {
			var it item
			if err := attributevalue.UnmarshalMap(av, &it); err != nil {
				return fmt.Errorf("decode ledger record: %w", err)
			}
			s := storedOf(it, nil)
			if q.WithBody {
				if s.Raw, err = l.body(ctx, it); err != nil {
					return err
				}
			}
			page.Records = append(page.Records, s)
		}
		if len(out.LastEvaluatedKey) == 0 {
			page.Next = Cursor{Done: true}
		} else {
			var k struct {
				EventID string `dynamodbav:"event_id"`
			}
			if err := attributevalue.UnmarshalMap(out.LastEvaluatedKey, &k); err != nil {
				return fmt.Errorf("decode scan position: %w", err)
			}
			page.Next = Cursor{After: k.EventID}
			in.ExclusiveStartKey = out.LastEvaluatedKey
		}
		if err := fn(ctx, page); err != nil {
			return err
		}
		if page.Next.Done {
			return nil
		}
	}
}

// scanInput builds the Scan request of a query, all but its segment.
func (l *Dynamo) scanInput(q ScanQuery) *dynamodb.ScanInput {
	names := map[string]string{"#status": schema.LedgerStatus, "#kind": schema.LedgerKind}
	values := map[string]types.AttributeValue{}
	// Event records only: not request records, not body parts (no status).
	conds := []string{"attribute_exists(#status)", "attribute_not_exists(#kind)"}
	if len(q.TypePrefixes) > 0 {
		names["#type"] = attrEventType
		var or []string
		for i, p := range q.TypePrefixes {
			ph := fmt.Sprintf(":type%d", i)
			values[ph] = str(p)
			or = append(or, fmt.Sprintf("begins_with(#type, %s)", ph))
		}
		conds = append(conds, "("+strings.Join(or, " OR ")+")")
	}
	if q.ReceivedFrom != "" || q.ReceivedUntil != "" {
		names["#received"] = schema.LedgerReceivedAt
	}
	if q.ReceivedFrom != "" {
		values[":from"] = str(q.ReceivedFrom)
		conds = append(conds, "#received >= :from")
	}
	if q.ReceivedUntil != "" {
		values[":until"] = str(q.ReceivedUntil)
		conds = append(conds, "#received < :until")
	}
	if len(q.Statuses) > 0 {
		var in []string
		for i, s := range q.Statuses {
			ph := fmt.Sprintf(":status%d", i)
			values[ph] = str(string(s))
			in = append(in, ph)
		}
		cond := "#status IN (" + strings.Join(in, ", ") + ")"
		if q.OrParked {
			names["#parked"] = schema.LedgerParked
			cond = "(" + cond + " OR attribute_exists(#parked))"
		}
		conds = append(conds, cond)
	}
	in := &dynamodb.ScanInput{
		TableName:                aws.String(l.table),
		FilterExpression:         aws.String(strings.Join(conds, " AND ")),
		ExpressionAttributeNames: names,
		ReturnConsumedCapacity:   types.ReturnConsumedCapacityTotal,
	}
	if len(values) > 0 {
		in.ExpressionAttributeValues = values
	}
	if q.PageSize > 0 {
		in.Limit = aws.Int32(q.PageSize)
	}
	if q.ConsistentRead {
		in.ConsistentRead = aws.Bool(true)
	}
	if !q.WithBody {
		// The labels only: a plan or a count moves a tenth of the bytes.
		attrs := []string{schema.LedgerPK, schema.LedgerStatus, attrEventType, schema.LedgerDomain,
			schema.LedgerEntityKey, schema.LedgerReceivedAt, schema.LedgerParked, schema.LedgerKind}
		var proj []string
		for _, a := range attrs {
			ph := "#p_" + a
			names[ph] = a
			proj = append(proj, ph)
		}
		in.ProjectionExpression = aws.String(strings.Join(proj, ", "))
	}
	return in
}

// storedOf is a record's labels as read back, with the given bytes.
func storedOf(it item, raw []byte) Stored {
	s := Stored{
		EventID: it.EventID, Kind: it.Kind, Status: it.Status, EventType: it.EventType, Domain: it.Domain,
		EntityKey: it.EntityKey, Reason: it.Reason, Parked: it.Parked, ReceivedAt: it.ReceivedAt,
		UpdatedAt: it.UpdatedAt, Raw: raw,
	}
	if it.LeaseUntil > 0 {
		s.LeaseUntil = time.Unix(it.LeaseUntil, 0).UTC()
	}
	return s
}

// ApproxItemCount is the ledger's item count as DynamoDB last published it
// (about every six hours): a progress bar's denominator, not a fact.
func (l *Dynamo) ApproxItemCount(ctx context.Context, describe func(context.Context, *dynamodb.DescribeTableInput, ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error)) (int64, error) {
	out, err := describe(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(l.table)})
	if err != nil {
		return 0, fmt.Errorf("describe ledger table: %w", err)
	}
	return aws.ToInt64(out.Table.ItemCount), nil
}

// attrEventType is the record's event_type attribute (item's tag).
const attrEventType = "event_type"
