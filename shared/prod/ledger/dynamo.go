package ledger

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"golang.org/x/sync/errgroup"

	"github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/schema"
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
	now       func() time.Time
}

var _ Store = (*Dynamo)(nil)

// Lease is how long a RECEIVED record counts as in flight. Past it, an
// explicit replay may send it again (a redelivery always does).
const Lease = 5 * time.Minute

// maxReasonBytes bounds a stored reason; the event's bytes keep the rest.
const maxReasonBytes = 1000

// Option configures a Dynamo ledger.
type Option func(*Dynamo)

// WithRetention sets how long records are kept before the table's TTL removes them (0: forever).
func WithRetention(d time.Duration) Option { return func(l *Dynamo) { l.retention = d } }

// WithClock replaces the clock (tests).
func WithClock(now func() time.Time) Option { return func(l *Dynamo) { l.now = now } }

// NewDynamo returns a ledger on the given table.
func NewDynamo(client DynamoAPI, table string, opts ...Option) *Dynamo {
	l := &Dynamo{client: client, table: table, now: time.Now}
	for _, o := range opts {
		o(l)
	}
	return l
}

// Record is what ingest writes for one event or one request.
type Record struct {
	EventID   string // the event id, or a digest-based key for what has none
	Kind      Kind
	EventType string
	Domain    events.Domain
	EntityKey string
	Raw       []byte // the exact bytes Upvest sent
	Status    Status // Received, or Parked for what can never be processed
	Reason    string // why it was parked
}

// item is a ledger record as stored. Every label is bounded; the exact bytes
// are in Body (gzip) or, when too large for one item, in BodyParts part items.
type item struct {
	EventID    string        `dynamodbav:"event_id"`
	Kind       Kind          `dynamodbav:"kind,omitempty"`
	Status     Status        `dynamodbav:"status"`
	EventType  string        `dynamodbav:"event_type,omitempty"`
	Domain     events.Domain `dynamodbav:"domain,omitempty"`
	EntityKey  string        `dynamodbav:"entity_key,omitempty"`
	Reason     string        `dynamodbav:"reason,omitempty"`
	Parked     string        `dynamodbav:"parked,omitempty"` // the parked index's key: domain or RequestsPartition
	ReceivedAt string        `dynamodbav:"received_at"`
	UpdatedAt  string        `dynamodbav:"updated_at,omitempty"`
	LeaseUntil int64         `dynamodbav:"lease_until,omitempty"` // unix seconds, RECEIVED only
	ExpiresAt  int64         `dynamodbav:"expires_at,omitempty"`  // unix seconds, the table's TTL
	Body       []byte        `dynamodbav:"body,omitempty"`        // gzip of the exact bytes
	BodyBytes  int           `dynamodbav:"body_bytes"`
	BodyParts  int           `dynamodbav:"body_parts,omitempty"`
	BodySHA256 string        `dynamodbav:"body_sha256,omitempty"` // of the gzip, with parts
	RawSHA256  string        `dynamodbav:"raw_sha256,omitempty"`  // of the exact bytes: what Claim compares
	ClaimToken string        `dynamodbav:"claim,omitempty"`       // random, per Claim call: tells its own put apart on an SDK retry
}

// part is one slice of a body too large for its record.
type part struct {
	Key       string `dynamodbav:"event_id"`
	Chunk     []byte `dynamodbav:"chunk"`
	ExpiresAt int64  `dynamodbav:"expires_at,omitempty"`
}

// ClaimResult says what a request must do with an event after recording it.
type ClaimResult int

const (
	// ClaimNew: first time seen; fan it out (unless parked).
	ClaimNew ClaimResult = iota + 1
	// ClaimPending: recorded before and still RECEIVED: the call that wrote it
	// may have died before its messages went out, or another delivery is
	// sending it right now. Fan it out again: a duplicate message costs little.
	ClaimPending
	// ClaimSettled: recorded before and past RECEIVED; a plain duplicate.
	ClaimSettled
	// ClaimConflict: the id is recorded with other bytes. Nothing was written;
	// the status returned is the recorded event's. The ledger's bytes are the
	// only ones ever applied for an id: the caller keeps the differing bytes
	// under another key, and fans out the recorded ones while they are RECEIVED.
	ClaimConflict
)

// Claim records an event with one conditional put on its id (large bodies
// first write their parts). An existing record is not trusted while it is
// RECEIVED: the caller fans it out again. An existing record with other bytes
// (compared by digest) is ClaimConflict.
func (l *Dynamo) Claim(ctx context.Context, rec Record) (ClaimResult, Status, error) {
	it, parts, err := l.newItem(rec, l.now())
	if err != nil {
		return 0, "", err
	}
	if it.ClaimToken, err = claimToken(); err != nil {
		return 0, "", err
	}
	if err := l.putParts(ctx, parts); err != nil {
		return 0, "", err
	}
	av, err := attributevalue.MarshalMap(it)
	if err != nil {
		return 0, "", fmt.Errorf("marshal ledger record %s: %w", rec.EventID, err)
	}
	_, err = l.client.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                           aws.String(l.table),
		Item:                                av,
		ConditionExpression:                 aws.String("attribute_not_exists(#id)"),
		ExpressionAttributeNames:            map[string]string{"#id": schema.LedgerPK},
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	if err == nil {
		return ClaimNew, rec.Status, nil
	}
	var failed *types.ConditionalCheckFailedException
	if !errors.As(err, &failed) {
		return 0, "", fmt.Errorf("record %s in ledger: %w", rec.EventID, err)
	}
	var existing item
	if err := attributevalue.UnmarshalMap(failed.Item, &existing); err != nil {
		return 0, "", fmt.Errorf("read existing ledger record %s: %w", rec.EventID, err)
	}
	if existing.ClaimToken == it.ClaimToken {
		// This call's own put: it took effect, its answer was lost (a 500 or a
		// cut connection), and the SDK's retry met it. Still a new record.
		return ClaimNew, rec.Status, nil
	}
	same, err := l.sameBytes(ctx, existing, it.RawSHA256)
	if err != nil {
		return 0, "", err
	}
	return claimOf(existing.Status, same), existing.Status, nil
}

// claimToken is a random label for one Claim call's put.
func claimToken() (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("claim token: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// claimOf is what a claim on an existing record in status means.
func claimOf(status Status, sameBytes bool) ClaimResult {
	switch {
	case !sameBytes:
		return ClaimConflict
	case status.Settled() || status == Enqueued:
		return ClaimSettled
	default:
		return ClaimPending
	}
}

// sameBytes reports whether an existing record holds the bytes whose digest
// is rawSHA. Records written before the digest was stored are read whole.
func (l *Dynamo) sameBytes(ctx context.Context, existing item, rawSHA string) (bool, error) {
	if existing.RawSHA256 != "" {
		return existing.RawSHA256 == rawSHA, nil
	}
	raw, err := l.body(ctx, existing)
	if err != nil {
		return false, fmt.Errorf("read existing ledger record %s to compare: %w", existing.EventID, err)
	}
	return digest(raw) == rawSHA, nil
}

func (l *Dynamo) newItem(rec Record, now time.Time) (item, []part, error) {
	it := item{
		EventID:    rec.EventID,
		Kind:       rec.Kind,
		Status:     rec.Status,
		EventType:  events.Truncate(rec.EventType, 256),
		Domain:     rec.Domain,
		EntityKey:  rec.EntityKey,
		Reason:     events.Truncate(rec.Reason, maxReasonBytes),
		ReceivedAt: events.SortableTime(now),
		BodyBytes:  len(rec.Raw),
		RawSHA256:  digest(rec.Raw),
	}
	switch {
	case rec.Status == Received:
		it.LeaseUntil = now.Add(Lease).Unix()
	case rec.Status == Parked && rec.Kind == KindRequest:
		it.Parked = RequestsPartition
	case rec.Status == Parked:
		it.Parked = string(rec.Domain)
		if it.Parked == "" {
			it.Parked = string(events.Unrouted)
		}
	}
	if l.retention > 0 {
		it.ExpiresAt = now.Add(l.retention).Unix()
	}
	gz, err := gzipBytes(rec.Raw)
	if err != nil {
		return item{}, nil, err
	}
	if len(gz) <= maxInlineBody {
		it.Body = gz
		return it, nil, nil
	}
	it.BodySHA256 = digest(gz)
	chunks := split(gz, partBytes)
	it.BodyParts = len(chunks)
	parts := make([]part, len(chunks))
	for i, c := range chunks {
		parts[i] = part{Key: partKey(rec.EventID, it.BodySHA256, i+1), Chunk: c, ExpiresAt: it.ExpiresAt}
	}
	return it, parts, nil
}

// putParts writes a large body's parts. They are written before the record
// and are content-addressed, so a retry rewrites the same bytes.
func (l *Dynamo) putParts(ctx context.Context, parts []part) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	for _, p := range parts {
		g.Go(func() error {
			av, err := attributevalue.MarshalMap(p)
			if err != nil {
				return fmt.Errorf("marshal body part %s: %w", p.Key, err)
			}
			if _, err := l.client.PutItem(gctx, &dynamodb.PutItemInput{TableName: aws.String(l.table), Item: av}); err != nil {
				return fmt.Errorf("write body part %s: %w", p.Key, err)
			}
			return nil
		})
	}
	return g.Wait()
}

// MarkEnqueued moves a RECEIVED record to ENQUEUED: it went out, and a
// redelivery need not send it again. Any other status is left as it is.
func (l *Dynamo) MarkEnqueued(ctx context.Context, eventID string) error {
	_, err := l.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(l.table),
		Key:                       key(eventID),
		UpdateExpression:          aws.String("SET #status = :enqueued, #updated = :now"),
		ConditionExpression:       aws.String("#status = :received"),
		ExpressionAttributeNames:  map[string]string{"#status": schema.LedgerStatus, "#updated": schema.LedgerUpdatedAt},
		ExpressionAttributeValues: map[string]types.AttributeValue{":enqueued": str(string(Enqueued)), ":received": str(string(Received)), ":now": str(events.SortableTime(l.now()))},
	})
	var failed *types.ConditionalCheckFailedException
	if err != nil && !errors.As(err, &failed) {
		return fmt.Errorf("mark event %s ENQUEUED in ledger: %w", eventID, err)
	}
	return nil
}

// RecordOutcome records an outcome: PARKED, from a worker. (The settled
// statuses are accepted for the records of earlier versions, and for tests
// that seed them.) Only RECEIVED (and ENQUEUED) records change, so the first
// final outcome sticks. A record that leaves the pipeline for good also
// leaves the parked index, where a replay keeps it while it is in flight.
func (l *Dynamo) RecordOutcome(ctx context.Context, eventID string, to Status, reason string) error {
	names := map[string]string{
		"#status": schema.LedgerStatus, "#updated": schema.LedgerUpdatedAt,
		"#lease": schema.LedgerLeaseUntil, "#parked": schema.LedgerParked,
	}
	values := map[string]types.AttributeValue{
		":to":       str(string(to)),
		":now":      str(events.SortableTime(l.now())),
		":received": str(string(Received)),
		":enqueued": str(string(Enqueued)),
	}
	set, remove := "SET #status = :to, #updated = :now", " REMOVE #lease"
	if reason != "" {
		set += ", #reason = :reason"
		names["#reason"] = schema.LedgerReason
		values[":reason"] = str(events.Truncate(reason, maxReasonBytes))
	}
	if to == Parked {
		set += ", #parked = if_not_exists(#parked, if_not_exists(#domain, :unrouted))"
		names["#domain"] = schema.LedgerDomain
		values[":unrouted"] = str(string(events.Unrouted))
	} else {
		remove += ", #parked"
	}
	_, err := l.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(l.table),
		Key:                       key(eventID),
		UpdateExpression:          aws.String(set + remove),
		ConditionExpression:       aws.String("#status IN (:received, :enqueued)"),
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

// Release takes a replayed record that its worker is done with out of the
// parked index, where Reopen kept it while it was in flight. Its status stays
// RECEIVED or ENQUEUED; the state row tells what was applied. A record not in
// the parked index, or parked again meanwhile, is left as it is.
func (l *Dynamo) Release(ctx context.Context, eventID string) error {
	_, err := l.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(l.table),
		Key:                       key(eventID),
		UpdateExpression:          aws.String("SET #updated = :now REMOVE #parked"),
		ConditionExpression:       aws.String("attribute_exists(#parked) AND #status IN (:received, :enqueued)"),
		ExpressionAttributeNames:  map[string]string{"#status": schema.LedgerStatus, "#updated": schema.LedgerUpdatedAt, "#parked": schema.LedgerParked},
		ExpressionAttributeValues: map[string]types.AttributeValue{":now": str(events.SortableTime(l.now())), ":received": str(string(Received)), ":enqueued": str(string(Enqueued))},
	})
	var failed *types.ConditionalCheckFailedException
	if err != nil && !errors.As(err, &failed) {
		return fmt.Errorf("release replayed event %s from the parked index: %w", eventID, err)
	}
	return nil
}

// ErrNotFound means the ledger has no record for an event id.
var ErrNotFound = errors.New("event not in ledger")

// RawEvent reads an event's exact bytes back (strongly consistent).
func (l *Dynamo) RawEvent(ctx context.Context, eventID string) ([]byte, error) {
	s, err := l.Read(ctx, eventID)
	if err != nil {
		return nil, err
	}
	return s.Raw, nil
}

// Stored is a ledger record as read back.
type Stored struct {
	EventID    string
	Kind       Kind
	Status     Status
	EventType  string
	Domain     events.Domain
	EntityKey  string
	Reason     string
	Parked     string // the parked index partition it is listed in, if any
	ReceivedAt string
	UpdatedAt  string
	LeaseUntil time.Time // zero unless RECEIVED
	Raw        []byte
}

// LeaseOver reports whether a RECEIVED record's lease has run out at now.
func (s Stored) LeaseOver(now time.Time) bool {
	return !s.Status.Settled() && !s.LeaseUntil.IsZero() && now.After(s.LeaseUntil)
}

// Read returns a record with its exact bytes (strongly consistent).
func (l *Dynamo) Read(ctx context.Context, eventID string) (Stored, error) {
	av, err := l.get(ctx, eventID)
	if err != nil {
		return Stored{}, err
	}
	var it item
	if err := attributevalue.UnmarshalMap(av, &it); err != nil {
		return Stored{}, fmt.Errorf("decode ledger record %s: %w", eventID, err)
	}
	raw, err := l.body(ctx, it)
	if err != nil {
		return Stored{}, err
	}
	s := Stored{
		EventID: it.EventID, Kind: it.Kind, Status: it.Status, EventType: it.EventType, Domain: it.Domain,
		EntityKey: it.EntityKey, Reason: it.Reason, Parked: it.Parked, ReceivedAt: it.ReceivedAt,
		UpdatedAt: it.UpdatedAt, Raw: raw,
	}
	if it.LeaseUntil > 0 {
		s.LeaseUntil = time.Unix(it.LeaseUntil, 0).UTC()
	}
	return s, nil
}

func (l *Dynamo) get(ctx context.Context, k string) (map[string]types.AttributeValue, error) {
	out, err := l.client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(l.table), Key: key(k), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return nil, fmt.Errorf("read %s from ledger: %w", k, err)
	}
	if len(out.Item) == 0 {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, k)
	}
	return out.Item, nil
}

// body reassembles and unzips a record's bytes.
func (l *Dynamo) body(ctx context.Context, it item) ([]byte, error) {
	gz := it.Body
	if it.BodyParts > 0 {
		var buf bytes.Buffer
		for i := 1; i <= it.BodyParts; i++ {
			av, err := l.get(ctx, partKey(it.EventID, it.BodySHA256, i))
			if err != nil {
				return nil, fmt.Errorf("body part %d of %s: %w", i, it.EventID, err)
			}
			var p part
			if err := attributevalue.UnmarshalMap(av, &p); err != nil {
				return nil, fmt.Errorf("decode body part %d of %s: %w", i, it.EventID, err)
			}
			buf.Write(p.Chunk)
		}
		gz = buf.Bytes()
		if digest(gz) != it.BodySHA256 {
			return nil, fmt.Errorf("body parts of %s do not match their digest", it.EventID)
		}
	}
	if len(gz) == 0 {
		return nil, fmt.Errorf("ledger record %s holds no body", it.EventID)
	}
	return gunzip(gz)
}

// ErrNotReopenable means a record is not in a state a replay may send again.
var ErrNotReopenable = errors.New("event is not replayable: neither parked, settled in the unrouted domain, nor an abandoned RECEIVED record")

// Reopen puts an event back to RECEIVED in the given domain, so that it can
// be fanned out again and its worker's outcome recorded. It accepts a parked
// event, a settled event of the unrouted domain, a RECEIVED event that an
// earlier replay left in the parked index (its send failed), and a RECEIVED or
// ENQUEUED event whose lease is over. The record stays in (or joins) the
// parked index until its worker records an outcome, so a replay that fails
// half-way leaves it findable and replayable; the replay marks it ENQUEUED
// once sent, which tells it from a failed one.
func (l *Dynamo) Reopen(ctx context.Context, eventID string, domain events.Domain, entityKey string) error {
	now := l.now()
	_, err := l.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(l.table),
		Key:       key(eventID),
		UpdateExpression: aws.String("SET #status = :received, #domain = :domain, #entity = :entity, #lease = :lease, #updated = :now," +
			" #parked = if_not_exists(#parked, if_not_exists(#domain, :unrouted)) REMOVE #reason"),
		ConditionExpression: aws.String("attribute_not_exists(#kind) AND (#status = :parked" +
			" OR (#domain = :unrouted AND #status IN (:applied, :stale, :duplicate))" +
			" OR (#status = :received AND attribute_exists(#parked))" +
			" OR (#status IN (:received, :enqueued) AND #lease < :nowunix))"),
		ExpressionAttributeNames: map[string]string{
			"#status": schema.LedgerStatus, "#domain": schema.LedgerDomain, "#entity": schema.LedgerEntityKey,
			"#lease": schema.LedgerLeaseUntil, "#updated": schema.LedgerUpdatedAt, "#parked": schema.LedgerParked,
			"#kind": schema.LedgerKind, "#reason": schema.LedgerReason,
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":received": str(string(Received)), ":enqueued": str(string(Enqueued)),
			":domain": str(string(domain)), ":entity": str(entityKey),
			":lease": number(now.Add(Lease).Unix()), ":nowunix": number(now.Unix()),
			":now": str(events.SortableTime(now)), ":parked": str(string(Parked)), ":unrouted": str(string(events.Unrouted)),
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

// ResolveRequest marks a parked request record as handled once its events
// were recorded by a replay: it leaves the parked index, its bytes stay.
func (l *Dynamo) ResolveRequest(ctx context.Context, requestKey, note string) error {
	_, err := l.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:           aws.String(l.table),
		Key:                 key(requestKey),
		UpdateExpression:    aws.String("SET #status = :applied, #reason = :note, #updated = :now REMOVE #parked"),
		ConditionExpression: aws.String("#kind = :request AND #status = :parked"),
		ExpressionAttributeNames: map[string]string{
			"#status": schema.LedgerStatus, "#reason": schema.LedgerReason, "#updated": schema.LedgerUpdatedAt,
			"#parked": schema.LedgerParked, "#kind": schema.LedgerKind,
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":applied": str(string(Applied)), ":note": str(events.Truncate(note, maxReasonBytes)),
			":now": str(events.SortableTime(l.now())), ":request": str(string(KindRequest)), ":parked": str(string(Parked)),
		},
	})
	var failed *types.ConditionalCheckFailedException
	if errors.As(err, &failed) {
		return fmt.Errorf("%w: %s is not a parked request", ErrNotReopenable, requestKey)
	}
	if err != nil {
		return fmt.Errorf("resolve request %s in ledger: %w", requestKey, err)
	}
	return nil
}

// Parked lists the keys of the records in one parked index partition (a
// domain, or RequestsPartition), oldest first.
func (l *Dynamo) Parked(ctx context.Context, partition string) ([]string, error) {
	return l.keys(ctx, "list parked records of "+partition, func(start map[string]types.AttributeValue) (*dynamodb.QueryOutput, error) {
		return l.client.Query(ctx, &dynamodb.QueryInput{
			TableName:                 aws.String(l.table),
			IndexName:                 aws.String(schema.LedgerParkedIndex),
			KeyConditionExpression:    aws.String("#parked = :p"),
			ExpressionAttributeNames:  map[string]string{"#parked": schema.LedgerParked},
			ExpressionAttributeValues: map[string]types.AttributeValue{":p": str(partition)},
			ProjectionExpression:      aws.String(schema.LedgerPK),
			ExclusiveStartKey:         start,
		})
	})
}

// Unrouted lists the keys of the events recorded in the unrouted domain. It
// scans the ledger: an operator's occasional call after the routing table
// gained a category, not a request-path operation.
func (l *Dynamo) Unrouted(ctx context.Context) ([]string, error) {
	return l.keys(ctx, "list unrouted events", func(start map[string]types.AttributeValue) (*dynamodb.QueryOutput, error) {
		out, err := l.client.Scan(ctx, &dynamodb.ScanInput{
			TableName:                 aws.String(l.table),
			FilterExpression:          aws.String("#domain = :unrouted"),
			ExpressionAttributeNames:  map[string]string{"#domain": schema.LedgerDomain},
			ExpressionAttributeValues: map[string]types.AttributeValue{":unrouted": str(string(events.Unrouted))},
			ProjectionExpression:      aws.String(schema.LedgerPK),
			ExclusiveStartKey:         start,
		})
		if err != nil {
			return nil, err
		}
		return &dynamodb.QueryOutput{Items: out.Items, LastEvaluatedKey: out.LastEvaluatedKey}, nil
	})
}

// keys pages through a query or scan and collects the record keys.
func (l *Dynamo) keys(ctx context.Context, what string, page func(start map[string]types.AttributeValue) (*dynamodb.QueryOutput, error)) ([]string, error) {
	var ids []string
	var start map[string]types.AttributeValue
	for {
		out, err := page(start)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		for _, av := range out.Items {
			var k struct {
				EventID string `dynamodbav:"event_id"`
			}
			if err := attributevalue.UnmarshalMap(av, &k); err != nil {
				return nil, fmt.Errorf("%s: %w", what, err)
			}
			ids = append(ids, k.EventID)
		}
		if len(out.LastEvaluatedKey) == 0 {
			return ids, nil
		}
		start = out.LastEvaluatedKey
	}
}

func key(k string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{schema.LedgerPK: str(k)}
}

func str(s string) types.AttributeValue { return &types.AttributeValueMemberS{Value: s} }

func number(n int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: fmt.Sprint(n)}
}
