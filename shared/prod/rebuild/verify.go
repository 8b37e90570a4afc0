package rebuild

import (
	"context"
	"fmt"
	"maps"
	"reflect"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/schema"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/state"
)

// TableAPI is what a comparison of two state tables reads with.
type TableAPI interface {
	Scan(ctx context.Context, in *dynamodb.ScanInput, opts ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error)
	BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error)
}

// Difference is one row on which two state tables disagree.
type Difference struct {
	PK     string   `json:"pk"`
	Kind   string   `json:"kind"`             // DiffMissing, DiffUnsupported or DiffChanged
	Fields []string `json:"fields,omitempty"` // the attributes that differ (DiffChanged)
	Live   string   `json:"live_event_id,omitempty"`
	Built  string   `json:"rebuilt_event_id,omitempty"`
}

const (
	// DiffMissing: the rebuild made a row the live table lacks (an event the
	// pipeline never applied: lost, parked after a fix, or still in flight).
	DiffMissing = "missing-in-live"
	// DiffUnsupported: a live row no event in the ledger supports (its events
	// expired with the ledger's retention, or were parked). Reported, never
	// deleted: the ledger keeps 400 days, a state row keeps what it last saw.
	DiffUnsupported = "no-event-supports"
	// DiffChanged: both have the row, with different content.
	DiffChanged = "differs"
)

// VerifySummary counts a comparison.
type VerifySummary struct {
	Compared    int `json:"rows_compared"`
	Equal       int `json:"equal"`
	Missing     int `json:"missing_in_live"`
	Unsupported int `json:"no_event_supports"`
	Changed     int `json:"differs"`
}

// Verify compares a rebuilt table with the live one row by row, page by page
// (memory: one page and its 100-key batches), and calls fn with each
// difference. Rows compare on everything but version and updated_at, which
// count and time the writes that made a row, not its content.
func Verify(ctx context.Context, db TableAPI, live, rebuilt string, fn func(Difference)) (VerifySummary, error) {
	var sum VerifySummary
	// Every rebuilt row against its live row.
	err := eachPage(ctx, db, rebuilt, func(rows []state.Row) error {
		others, err := batchGet(ctx, db, live, rows)
		if err != nil {
			return err
		}
		for _, b := range rows {
			sum.Compared++
			l, ok := others[b.PK]
			switch {
			case !ok:
				sum.Missing++
				fn(Difference{PK: b.PK, Kind: DiffMissing, Built: b.EventID})
			default:
				if fields := Compare(l, b); len(fields) > 0 {
					sum.Changed++
					fn(Difference{PK: b.PK, Kind: DiffChanged, Fields: fields, Live: l.EventID, Built: b.EventID})
				} else {
					sum.Equal++
				}
			}
		}
		return nil
	})
	if err != nil {
		return sum, err
	}
	// Live rows the rebuild did not make.
	err = eachPage(ctx, db, live, func(rows []state.Row) error {
		others, err := batchGet(ctx, db, rebuilt, rows)
		if err != nil {
			return err
		}
		for _, l := range rows {
			if _, ok := others[l.PK]; !ok {
				sum.Compared++
				sum.Unsupported++
				fn(Difference{PK: l.PK, Kind: DiffUnsupported, Live: l.EventID})
			}
		}
		return nil
	})
	return sum, err
}

// Compare names the attributes on which two rows differ, version and
// updated_at aside. Objects compare as JSON without the whitespace between
// tokens: rows written before the store compacted objects hold Upvest's
// formatting, which is no difference in content.
func Compare(a, b state.Row) []string {
	a, b = compacted(a), compacted(b)
	var out []string
	add := func(name string, x, y any) {
		if !reflect.DeepEqual(x, y) {
			out = append(out, name)
		}
	}
	add(schema.StateCategory, a.Category, b.Category)
	add(schema.StateStatus, a.Status, b.Status)
	add(schema.StateObject, a.Object, b.Object)
	add(schema.StateUserID, a.UserID, b.UserID)
	add(schema.StateAccountID, a.AccountID, b.AccountID)
	add(schema.StateAccountGroupID, a.AccountGroupID, b.AccountGroupID)
	add(schema.StateOrderedAt, a.OrderedAt, b.OrderedAt)
	add(schema.StatePosition, a.Position, b.Position)
	add(schema.StateEventID, a.EventID, b.EventID)
	add(schema.StateEventType, a.EventType, b.EventType)
	for _, attr := range slices.Sorted(maps.Keys(mergeKeys(a.Views, b.Views))) {
		add(attr, a.Views[attr], b.Views[attr])
	}
	return out
}

// compacted is r with its object and its view entries' objects compacted.
func compacted(r state.Row) state.Row {
	r.Object = events.CompactJSON([]byte(r.Object))
	if r.Views == nil {
		return r
	}
	views := make(map[string]map[string]state.ViewEntry, len(r.Views))
	for attr, entries := range r.Views {
		views[attr] = make(map[string]state.ViewEntry, len(entries))
		for id, e := range entries {
			e.Object = events.CompactJSON([]byte(e.Object))
			views[attr][id] = e
		}
	}
	r.Views = views
	return r
}

func mergeKeys(a, b map[string]map[string]state.ViewEntry) map[string]bool {
	m := map[string]bool{}
	for k := range a {
		m[k] = true
	}
	for k := range b {
		m[k] = true
	}
	return m
}

func eachPage(ctx context.Context, db TableAPI, table string, fn func([]state.Row) error) error {
	in := &dynamodb.ScanInput{TableName: aws.String(table)}
	for {
		out, err := db.Scan(ctx, in)
		if err != nil {
			return fmt.Errorf("scan %s: %w", table, err)
		}
		rows := make([]state.Row, 0, len(out.Items))
		for _, item := range out.Items {
			r, err := state.DecodeRow(item)
			if err != nil {
				return fmt.Errorf("%s: %w", table, err)
			}
			rows = append(rows, r)
		}
		if err := fn(rows); err != nil {
			return err
		}
		if len(out.LastEvaluatedKey) == 0 {
			return nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// batchGet reads the rows of table with the given rows' keys, 100 a call,
// retrying what DynamoDB leaves unprocessed.
func batchGet(ctx context.Context, db TableAPI, table string, rows []state.Row) (map[string]state.Row, error) {
	found := map[string]state.Row{}
	for chunk := range slices.Chunk(rows, 100) {
		keys := make([]map[string]types.AttributeValue, len(chunk))
		for i, r := range chunk {
			keys[i] = map[string]types.AttributeValue{schema.StatePK: &types.AttributeValueMemberS{Value: r.PK}}
		}
		req := map[string]types.KeysAndAttributes{table: {Keys: keys, ConsistentRead: aws.Bool(true)}}
		for len(req) > 0 {
			out, err := db.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: req})
			if err != nil {
				return nil, fmt.Errorf("read rows of %s: %w", table, err)
			}
			for _, item := range out.Responses[table] {
				r, err := state.DecodeRow(item)
				if err != nil {
					return nil, fmt.Errorf("%s: %w", table, err)
				}
				found[r.PK] = r
			}
			req = out.UnprocessedKeys
		}
	}
	return found, nil
}
