package ledger

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/shared/schema"
)

// DynamoAPI is the part of the DynamoDB client the ledger uses.
type DynamoAPI interface {
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	Scan(ctx context.Context, in *dynamodb.ScanInput, opts ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error)
}

// Dynamo is the ledger on a DynamoDB table keyed by event id.
type Dynamo struct {
	client    DynamoAPI
	table     string
	retention time.Duration // 0: records never expire
	lease     time.Duration
	now       func() time.Time
}

var (
	_ OutcomeRecorder = (*Dynamo)(nil)
	_ RawEventReader  = (*Dynamo)(nil)
)

// Option configures a Dynamo ledger.
type Option func(*Dynamo)

// WithRetention sets how long records are kept before the table's TTL removes them (0: forever).
func WithRetention(d time.Duration) Option { return func(l *Dynamo) { l.retention = d } }

// WithLease sets how long a RECEIVED record counts as being fanned out by the
// call that wrote it. Past it, a redelivery is a takeover of an abandoned record;
// before it, two calls race. Either way the event is fanned out again.
func WithLease(d time.Duration) Option { return func(l *Dynamo) { l.lease = d } }

// WithClock replaces the clock (tests).
func WithClock(now func() time.Time) Option { return func(l *Dynamo) { l.now = now } }

// NewDynamo returns a ledger on the given table.
func NewDynamo(client DynamoAPI, table string, opts ...Option) *Dynamo {
	l := &Dynamo{client: client, table: table, lease: 60 * time.Second, now: time.Now}
	for _, o := range opts {
		o(l)
	}
	return l
}

// Record is what ingest writes for one event.
type Record struct {
	EventID   string
	EventType string
	Domain    events.Domain
	EntityKey string
	CreatedAt string
	WebhookID string
	Raw       []byte
	Status    Status // Received, or Parked for an event that can never be processed
	Reason    string // why it was parked
}

// ClaimResult says what a request must do with an event after recording it.
type ClaimResult int

const (
	// ClaimNew: first time seen; fan it out (unless parked).
	ClaimNew ClaimResult = iota + 1
	// ClaimRetry: recorded before, still RECEIVED, and its lease has run out:
	// the call that wrote it died or gave up. Take it over and fan it out again.
	ClaimRetry
	// ClaimConcurrent: still RECEIVED within its lease, so another delivery of
	// the same event is fanning it out right now. Fan it out again anyway: the
	// other call may still fail, and a duplicate message costs little.
	ClaimConcurrent
	// ClaimSettled: recorded before and past RECEIVED; a plain duplicate.
	ClaimSettled
)

// Claim records an event with a conditional put on its id. An existing record
// is not trusted while it is RECEIVED: the caller fans it out again.
func (l *Dynamo) Claim(ctx context.Context, rec Record) (ClaimResult, Status, error) {
	now := l.now()
	item, err := l.item(rec, now)
	if err != nil {
		return 0, "", err
	}
	_, err = l.client.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                           aws.String(l.table),
		Item:                                item,
		ConditionExpression:                 aws.String("attribute_not_exists(#id)"),
		ExpressionAttributeNames:            map[string]string{"#id": schema.LedgerPK},
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	if err == nil {
		return ClaimNew, rec.Status, nil
	}
	var failed *types.ConditionalCheckFailedException
	if !errors.As(err, &failed) {
		return 0, "", fmt.Errorf("record event %s in ledger: %w", rec.EventID, err)
	}
	existing := Status(stringAttr(failed.Item, schema.LedgerStatus))
	if existing.Settled() {
		return ClaimSettled, existing, nil
	}
	result := ClaimRetry
	if lease, err := strconv.ParseInt(numberAttr(failed.Item, schema.LedgerLeaseUntil), 10, 64); err == nil && now.Unix() < lease {
		result = ClaimConcurrent
	}
	return l.retake(ctx, rec.EventID, result, now)
}

// retake marks a RECEIVED record as being fanned out by this call.
func (l *Dynamo) retake(ctx context.Context, eventID string, result ClaimResult, now time.Time) (ClaimResult, Status, error) {
	_, err := l.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:           aws.String(l.table),
		Key:                 key(eventID),
		UpdateExpression:    aws.String("SET #lease = :lease, #updated = :now ADD #attempts :one"),
		ConditionExpression: aws.String("#status = :received"),
		ExpressionAttributeNames: map[string]string{
			"#lease": schema.LedgerLeaseUntil, "#updated": schema.LedgerUpdatedAt,
			"#attempts": schema.LedgerAttempts, "#status": schema.LedgerStatus,
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":lease":    number(now.Add(l.lease).Unix()),
			":now":      str(events.SortableTime(now)),
			":one":      number(1),
			":received": str(string(Received)),
		},
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	if err == nil {
		return result, Received, nil
	}
	var failed *types.ConditionalCheckFailedException
	if errors.As(err, &failed) {
		// Another call moved it on between our put and this update.
		return ClaimSettled, Status(stringAttr(failed.Item, schema.LedgerStatus)), nil
	}
	return 0, "", fmt.Errorf("retake event %s in ledger: %w", eventID, err)
}

// MarkEnqueued moves a RECEIVED record to ENQUEUED. A record already moved on
// (a fast worker marked it APPLIED) is left as it is.
func (l *Dynamo) MarkEnqueued(ctx context.Context, eventID string) error {
	return l.transition(ctx, eventID, Enqueued, "", []Status{Received})
}

// RecordOutcome records what a worker did with an event. Only RECEIVED and
// ENQUEUED records change, so the first final outcome sticks.
func (l *Dynamo) RecordOutcome(ctx context.Context, eventID string, status Status, reason string) error {
	return l.transition(ctx, eventID, status, reason, []Status{Received, Enqueued})
}

func (l *Dynamo) transition(ctx context.Context, eventID string, to Status, reason string, from []Status) error {
	names := map[string]string{"#status": schema.LedgerStatus, "#updated": schema.LedgerUpdatedAt, "#lease": schema.LedgerLeaseUntil}
	values := map[string]types.AttributeValue{
		":to":  str(string(to)),
		":now": str(events.SortableTime(l.now())),
	}
	set := "SET #status = :to, #updated = :now"
	if reason != "" {
		set += ", #reason = :reason"
		names["#reason"] = schema.LedgerReason
		values[":reason"] = str(reason)
	}
	if to == Parked {
		// The sparse "parked" index lists parked events by domain.
		set += ", #parked = if_not_exists(#domain, :unrouted)"
		names["#parked"], names["#domain"] = schema.LedgerParked, schema.LedgerDomain
		values[":unrouted"] = str(string(events.Unrouted))
	}
	condition := "#status IN ("
	for i, s := range from {
		placeholder := fmt.Sprintf(":from%d", i)
		values[placeholder] = str(string(s))
		if i > 0 {
			condition += ", "
		}
		condition += placeholder
	}
	condition += ")"
	_, err := l.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(l.table),
		Key:                       key(eventID),
		UpdateExpression:          aws.String(set + " REMOVE #lease"),
		ConditionExpression:       aws.String(condition),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
	})
	var failed *types.ConditionalCheckFailedException
	if errors.As(err, &failed) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("mark event %s %s in ledger: %w", eventID, to, err)
	}
	return nil
}

// ErrNotFound means the ledger has no record for an event id.
var ErrNotFound = errors.New("event not in ledger")

// RawEvent reads an event's raw bytes back (strongly consistent).
func (l *Dynamo) RawEvent(ctx context.Context, eventID string) ([]byte, error) {
	s, err := l.Read(ctx, eventID)
	if err != nil {
		return nil, err
	}
	return s.Raw, nil
}

// Events up to this size are kept as readable text; larger ones are gzipped to
// stay under DynamoDB's 400 KB item limit.
const (
	maxTextRaw = 64 * 1024
	maxItemRaw = 380 * 1024
)

// ErrTooLarge means an event does not fit in a ledger item even compressed.
var ErrTooLarge = errors.New("event too large for the ledger")

func (l *Dynamo) item(rec Record, now time.Time) (map[string]types.AttributeValue, error) {
	item := map[string]types.AttributeValue{
		schema.LedgerPK:         str(rec.EventID),
		schema.LedgerStatus:     str(string(rec.Status)),
		schema.LedgerReceivedAt: str(events.SortableTime(now)),
		schema.LedgerUpdatedAt:  str(events.SortableTime(now)),
		schema.LedgerAttempts:   number(1),
	}
	optional := map[string]string{
		schema.LedgerEventType: rec.EventType,
		schema.LedgerDomain:    string(rec.Domain),
		schema.LedgerEntityKey: rec.EntityKey,
		schema.LedgerCreatedAt: rec.CreatedAt,
		schema.LedgerWebhookID: rec.WebhookID,
		schema.LedgerReason:    rec.Reason,
	}
	for name, v := range optional {
		if v != "" {
			item[name] = str(v)
		}
	}
	switch rec.Status {
	case Received:
		item[schema.LedgerLeaseUntil] = number(now.Add(l.lease).Unix())
	case Parked:
		parkedIn := rec.Domain
		if parkedIn == "" {
			parkedIn = events.Unrouted
		}
		item[schema.LedgerParked] = str(string(parkedIn))
	}
	if l.retention > 0 {
		item[schema.LedgerExpiresAt] = number(now.Add(l.retention).Unix())
	}
	if len(rec.Raw) <= maxTextRaw {
		item[schema.LedgerRaw] = str(string(rec.Raw))
		return item, nil
	}
	compressed, err := gzipBytes(rec.Raw)
	if err != nil {
		return nil, err
	}
	if len(compressed) > maxItemRaw {
		return nil, fmt.Errorf("%w: event %s is %d bytes, %d gzipped", ErrTooLarge, rec.EventID, len(rec.Raw), len(compressed))
	}
	item[schema.LedgerRawGzip] = &types.AttributeValueMemberB{Value: compressed}
	return item, nil
}

func key(eventID string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{schema.LedgerPK: str(eventID)}
}

func str(s string) types.AttributeValue { return &types.AttributeValueMemberS{Value: s} }

func number(n int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}

func numberAttr(item map[string]types.AttributeValue, name string) string {
	if v, ok := item[name].(*types.AttributeValueMemberN); ok {
		return v.Value
	}
	return ""
}

func stringAttr(item map[string]types.AttributeValue, name string) string {
	if v, ok := item[name].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

func gzipBytes(b []byte) ([]byte, error) {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	if _, err := w.Write(b); err != nil {
		return nil, fmt.Errorf("gzip event: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("gzip event: %w", err)
	}
	return buf.Bytes(), nil
}

func gunzip(b []byte) ([]byte, error) {
	r, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("gunzip event: %w", err)
	}
	defer r.Close()
	out, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("gunzip event: %w", err)
	}
	return out, nil
}

// Stored is a ledger record as read back.
type Stored struct {
	EventID string
	Status  Status
	Domain  events.Domain
	Reason  string
	Raw     []byte
}

// Read returns an event's record (strongly consistent).
func (l *Dynamo) Read(ctx context.Context, eventID string) (Stored, error) {
	out, err := l.client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(l.table), Key: key(eventID), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return Stored{}, fmt.Errorf("read event %s from ledger: %w", eventID, err)
	}
	if len(out.Item) == 0 {
		return Stored{}, fmt.Errorf("%w: %s", ErrNotFound, eventID)
	}
	s := Stored{
		EventID: eventID,
		Status:  Status(stringAttr(out.Item, schema.LedgerStatus)),
		Domain:  events.Domain(stringAttr(out.Item, schema.LedgerDomain)),
		Reason:  stringAttr(out.Item, schema.LedgerReason),
		Raw:     []byte(stringAttr(out.Item, schema.LedgerRaw)),
	}
	if gz, ok := out.Item[schema.LedgerRawGzip].(*types.AttributeValueMemberB); ok {
		if s.Raw, err = gunzip(gz.Value); err != nil {
			return Stored{}, err
		}
	}
	return s, nil
}

// ErrNotReopenable means a record is neither parked nor a settled event of the
// unrouted domain, so a replay has nothing to do with it.
var ErrNotReopenable = errors.New("event is neither parked nor settled in the unrouted domain")

// Reopen puts a parked event, or a settled event of the unrouted domain, back
// to RECEIVED in the given domain, so that it can be fanned out again and its
// worker's outcome recorded.
func (l *Dynamo) Reopen(ctx context.Context, eventID string, domain events.Domain, entityKey string) error {
	now := l.now()
	_, err := l.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(l.table),
		Key:       key(eventID),
		UpdateExpression: aws.String("SET #status = :received, #domain = :domain, #entity = :entity, #lease = :lease, #updated = :now" +
			" ADD #attempts :one REMOVE #parked, #reason"),
		ConditionExpression: aws.String("#status = :parked OR (#domain = :unrouted AND #status IN (:applied, :stale, :duplicate))"),
		ExpressionAttributeNames: map[string]string{
			"#status": schema.LedgerStatus, "#domain": schema.LedgerDomain, "#entity": schema.LedgerEntityKey,
			"#lease": schema.LedgerLeaseUntil, "#updated": schema.LedgerUpdatedAt, "#attempts": schema.LedgerAttempts,
			"#parked": schema.LedgerParked, "#reason": schema.LedgerReason,
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":received": str(string(Received)), ":domain": str(string(domain)), ":entity": str(entityKey),
			":lease": number(now.Add(l.lease).Unix()), ":now": str(events.SortableTime(now)), ":one": number(1),
			":parked": str(string(Parked)), ":unrouted": str(string(events.Unrouted)),
			":applied": str(string(Applied)), ":stale": str(string(SkippedStale)), ":duplicate": str(string(Duplicate)),
		},
	})
	var failed *types.ConditionalCheckFailedException
	if errors.As(err, &failed) {
		return fmt.Errorf("%w: %s", ErrNotReopenable, eventID)
	}
	if err != nil {
		return fmt.Errorf("reopen event %s in ledger: %w", eventID, err)
	}
	return nil
}

// Parked lists the ids of the events parked in a domain, oldest first.
func (l *Dynamo) Parked(ctx context.Context, domain events.Domain) ([]string, error) {
	var ids []string
	paginator := dynamodb.NewQueryPaginator(l.client, &dynamodb.QueryInput{
		TableName:                 aws.String(l.table),
		IndexName:                 aws.String(schema.LedgerParkedIndex),
		KeyConditionExpression:    aws.String("#parked = :domain"),
		ExpressionAttributeNames:  map[string]string{"#parked": schema.LedgerParked},
		ExpressionAttributeValues: map[string]types.AttributeValue{":domain": str(string(domain))},
		ProjectionExpression:      aws.String(schema.LedgerPK),
	})
	for paginator.HasMorePages() {
		page, err := paginator.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list parked events of %s: %w", domain, err)
		}
		for _, it := range page.Items {
			ids = append(ids, stringAttr(it, schema.LedgerPK))
		}
	}
	return ids, nil
}

// Unrouted lists the ids of the events recorded in the unrouted domain. It
// scans the ledger: an operator's occasional call after the routing table
// gained a category, not a request-path operation.
func (l *Dynamo) Unrouted(ctx context.Context) ([]string, error) {
	var ids []string
	paginator := dynamodb.NewScanPaginator(l.client, &dynamodb.ScanInput{
		TableName:                 aws.String(l.table),
		FilterExpression:          aws.String("#domain = :unrouted"),
		ExpressionAttributeNames:  map[string]string{"#domain": schema.LedgerDomain},
		ExpressionAttributeValues: map[string]types.AttributeValue{":unrouted": str(string(events.Unrouted))},
		ProjectionExpression:      aws.String(schema.LedgerPK),
	})
	for paginator.HasMorePages() {
		page, err := paginator.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list unrouted events: %w", err)
		}
		for _, it := range page.Items {
			ids = append(ids, stringAttr(it, schema.LedgerPK))
		}
	}
	return ids, nil
}
