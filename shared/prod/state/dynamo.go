package state

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/schema"
)

// DynamoAPI is the one DynamoDB call the adapter makes.
type DynamoAPI interface {
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
}

// Dynamo is the Store on a DynamoDB state table (key and attributes per shared/prod/schema).
type Dynamo struct {
	client DynamoAPI
	table  string
	now    func() time.Time
}

var _ Store = (*Dynamo)(nil)

// NewDynamo returns a Store writing to the named state table.
func NewDynamo(client DynamoAPI, table string) *Dynamo {
	return &Dynamo{client: client, table: table, now: time.Now}
}

// viewRounds bounds the retries of a parent view write that races another
// worker creating the same map; one retry always suffices, since nothing
// removes a view once it exists.
const viewRounds = 3

// Apply writes the event to its entity's row and, for a child entity, to its
// parent's view. The outcome is Applied when either write changed something,
// so a retry after a failed view write still reports the work it finished.
func (d *Dynamo) Apply(ctx context.Context, e events.Event, r events.Route) (Outcome, error) {
	if r.EntityKey == "" || r.Position == "" {
		return "", fmt.Errorf("state: route of event %s has no entity key or position", e.ID)
	}
	own, created, err := d.applyRow(ctx, e, r)
	if err != nil {
		return "", fmt.Errorf("state: apply %s to %s: %w", e.ID, r.EntityKey, err)
	}
	if r.Parent == nil {
		return own, nil
	}
	changed, err := d.applyView(ctx, e, r, created)
	if err != nil {
		return "", fmt.Errorf("state: apply %s to view %s of %s: %w", e.ID, r.Parent.Attribute, r.Parent.EntityKey, err)
	}
	if changed {
		return Applied, nil
	}
	return own, nil
}

// applyRow is the entity's own write: one UpdateItem, conditional on position.
// created reports that the write made the row (for a child entity only, whose
// view write uses it to guess whether its parent's map exists yet).
func (d *Dynamo) applyRow(ctx context.Context, e events.Event, r events.Route) (_ Outcome, created bool, _ error) {
	var condition string
	switch r.Model {
	case events.LatestWins:
		condition = "attribute_not_exists(#position) OR #position < :position"
	case events.AppendOnly:
		condition = "attribute_not_exists(#position)"
	default:
		return "", false, fmt.Errorf("unknown state model %q", r.Model)
	}
	u := newUpdate()
	u.set(schema.StateCategory, r.Category)
	u.set(schema.StateStatus, r.Status)
	u.set(schema.StateObject, e.CompactObject())
	u.set(schema.StateUserID, r.UserID)
	u.set(schema.StateAccountID, r.AccountID)
	u.set(schema.StateAccountGroupID, r.AccountGroupID)
	u.set(schema.StateOrderedAt, events.SortableTime(r.OrderedAt))
	u.set(schema.StatePosition, r.Position)
	u.set(schema.StateEventID, e.ID)
	u.set(schema.StateEventType, e.Type)
	u.increment(schema.StateVersion)
	u.set(schema.StateUpdatedAt, events.SortableTime(d.now()))
	u.returnOld = r.Parent != nil

	res, err := d.write(ctx, r.EntityKey, u, condition)
	switch {
	case err != nil:
		return "", false, err
	case res.rejected == nil:
		_, hadVersion := res.old[schema.StateVersion]
		return Applied, u.returnOld && !hadVersion, nil
	}
	return judge(*res.rejected, e.ID), false, nil
}

// applyView writes the event's entry into the parent's map attribute, newest
// position per entry wins, and reports whether it changed the parent. No write
// ever leaves an empty map: a map is created holding its first entry. Each
// attempt is one conditional write, and the first is a guess: when the
// event's own write made its row (the child's first event, e.g. an order's
// only execution, the common case), its parent most likely has no map yet, so
// creating it comes first; otherwise writing the entry into the map does. A
// wrong guess costs one more write, never a wrong row.
func (d *Dynamo) applyView(ctx context.Context, e events.Event, r events.Route, childIsNew bool) (bool, error) {
	p := r.Parent
	entry := NewViewEntry(e, r)

	// viewWrite is what both writes set besides the view: the parent's
	// category (it may make the row), its version and its update time.
	viewWrite := func() *update {
		u := newUpdate()
		u.names["#view"] = p.Attribute
		u.set(schema.StateCategory, p.Category)
		u.increment(schema.StateVersion)
		u.set(schema.StateUpdatedAt, events.SortableTime(d.now()))
		return u
	}
	intoMap := func() (*Row, error) {
		u := viewWrite()
		u.names["#entry"], u.names["#position"] = p.EntryID, schema.StatePosition
		u.value(":position", r.Position)
		u.expr("#view.#entry = :entry", ":entry", entry)
		res, err := d.write(ctx, p.EntityKey, u,
			"attribute_exists(#view) AND (attribute_not_exists(#view.#entry) OR #view.#entry.#position < :position)")
		if isMissingDocumentPath(err) {
			// Should DynamoDB validate the map path before the condition, a
			// missing map surfaces here: report it as the empty row it means.
			return &Row{}, nil
		}
		return res.rejected, err
	}
	newMap := func() (*Row, error) {
		u := viewWrite()
		u.expr("#view = :view", ":view", map[string]ViewEntry{p.EntryID: entry})
		res, err := d.write(ctx, p.EntityKey, u, "attribute_not_exists(#view)")
		return res.rejected, err
	}

	mapFirst := childIsNew
	for range viewRounds {
		if mapFirst {
			rejected, err := newMap()
			switch {
			case err != nil:
				return false, err
			case rejected == nil:
				return true, nil
			}
			// The map exists (another child made it): write the entry into it.
		}
		rejected, err := intoMap()
		switch {
		case err != nil:
			return false, err
		case rejected == nil:
			return true, nil
		}
		if _, exists := rejected.Views[p.Attribute]; exists {
			return false, nil // the entry holds this event or a newer one
		}
		mapFirst = true // no map yet (or no parent row at all): create it with the entry
	}
	return false, fmt.Errorf("view %s kept changing under %d attempts", p.Attribute, viewRounds)
}

// written is what one conditional UpdateItem tells: the row as it was when
// the condition failed (rejected; an empty row if there was none), or, when
// the write happened and the update asked for it, the old values of the
// attributes it changed (none when it made the row).
type written struct {
	rejected *Row
	old      map[string]types.AttributeValue
}

// write runs one conditional UpdateItem.
func (d *Dynamo) write(ctx context.Context, pk string, u *update, condition string) (written, error) {
	if u.err != nil {
		return written{}, fmt.Errorf("build update: %w", u.err)
	}
	key, err := attributevalue.MarshalMap(rowKey{PK: pk})
	if err != nil {
		return written{}, fmt.Errorf("build key: %w", err)
	}
	expr := "SET " + strings.Join(u.sets, ", ")
	if len(u.removes) > 0 {
		expr += " REMOVE " + strings.Join(u.removes, ", ")
	}
	in := &dynamodb.UpdateItemInput{
		TableName:                           aws.String(d.table),
		Key:                                 key,
		UpdateExpression:                    aws.String(expr),
		ConditionExpression:                 aws.String(condition),
		ExpressionAttributeNames:            u.names,
		ExpressionAttributeValues:           u.values,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	}
	if u.returnOld {
		in.ReturnValues = types.ReturnValueUpdatedOld
	}
	out, err := d.client.UpdateItem(ctx, in)
	var failed *types.ConditionalCheckFailedException
	if errors.As(err, &failed) {
		old, err := DecodeRow(failed.Item)
		if err != nil {
			return written{}, fmt.Errorf("read the stored row: %w", err)
		}
		return written{rejected: &old}, nil
	}
	if err != nil {
		return written{}, fmt.Errorf("UpdateItem: %w", err)
	}
	return written{old: out.Attributes}, nil
}

// judge names a rejected write: Duplicate when what is stored is this very
// event, Stale when it is another (newer) one.
func judge(stored Row, eventID string) Outcome {
	if stored.EventID == eventID {
		return Duplicate
	}
	return Stale
}

// update collects an update expression with a placeholder for every name,
// since most attribute names here (status, position, object) are reserved
// words. Values are marshalled by attributevalue; the first failure is kept.
type update struct {
	sets, removes []string
	names         map[string]string
	values        map[string]types.AttributeValue
	returnOld     bool // ask for the old values of the changed attributes
	err           error
}

func newUpdate() *update {
	return &update{names: map[string]string{}, values: map[string]types.AttributeValue{}}
}

// set writes a top-level attribute. An empty string is removed instead: the
// ids are sparse index keys, where an empty string is not a valid value, and
// "" means absent for every attribute of a Row.
func (u *update) set(attr, v string) {
	u.names["#"+attr] = attr
	if v == "" {
		u.removes = append(u.removes, "#"+attr)
		return
	}
	u.expr(fmt.Sprintf("#%s = :%s", attr, attr), ":"+attr, v)
}

func (u *update) increment(attr string) {
	u.names["#"+attr] = attr
	u.value(":zero", 0)
	u.value(":one", 1)
	u.sets = append(u.sets, fmt.Sprintf("#%s = if_not_exists(#%s, :zero) + :one", attr, attr))
}

func (u *update) expr(clause, placeholder string, v any) {
	u.sets = append(u.sets, clause)
	u.value(placeholder, v)
}

func (u *update) value(placeholder string, v any) {
	av, err := attributevalue.Marshal(v)
	if err != nil && u.err == nil {
		u.err = fmt.Errorf("value %s: %w", placeholder, err)
	}
	u.values[placeholder] = av
}

// isMissingDocumentPath recognises DynamoDB's answer to a SET on a nested path
// whose map does not exist.
func isMissingDocumentPath(err error) bool {
	var apiErr smithy.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode() == "ValidationException" &&
		strings.Contains(apiErr.ErrorMessage(), "document path")
}
