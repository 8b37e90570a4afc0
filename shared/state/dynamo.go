package state

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/shared/schema"
)

// DynamoAPI is the one DynamoDB call the adapter makes.
type DynamoAPI interface {
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
}

// Dynamo is the Store on a DynamoDB state table (key and attributes per shared/schema).
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
	own, err := d.applyRow(ctx, e, r)
	if err != nil {
		return "", fmt.Errorf("state: apply %s to %s: %w", e.ID, r.EntityKey, err)
	}
	if r.Parent == nil {
		return own, nil
	}
	changed, err := d.applyView(ctx, e, r)
	if err != nil {
		return "", fmt.Errorf("state: apply %s to view %s of %s: %w", e.ID, r.Parent.Attribute, r.Parent.EntityKey, err)
	}
	if changed {
		return Applied, nil
	}
	return own, nil
}

// applyRow is the entity's own write: one UpdateItem, conditional on position.
func (d *Dynamo) applyRow(ctx context.Context, e events.Event, r events.Route) (Outcome, error) {
	var condition string
	switch r.Model {
	case events.LatestWins:
		condition = "attribute_not_exists(#position) OR #position < :position"
	case events.AppendOnly:
		condition = "attribute_not_exists(#position)"
	default:
		return "", fmt.Errorf("unknown state model %q", r.Model)
	}
	u := newUpdate()
	u.set(schema.StateCategory, str(r.Category))
	u.setOrRemove(schema.StateStatus, r.Status)
	u.set(schema.StateObject, str(string(e.Object)))
	// Sparse index keys: an empty string is not a valid key value, so an
	// absent id is removed rather than written.
	u.setOrRemove(schema.StateUserID, r.UserID)
	u.setOrRemove(schema.StateAccountID, r.AccountID)
	u.setOrRemove(schema.StateAccountGroupID, r.AccountGroupID)
	u.set(schema.StateOrderedAt, str(events.SortableTime(r.OrderedAt)))
	u.set(schema.StatePosition, str(r.Position))
	u.set(schema.StateEventID, str(e.ID))
	u.set(schema.StateEventType, str(e.Type))
	u.increment(schema.StateVersion)
	u.set(schema.StateUpdatedAt, str(events.SortableTime(d.now())))

	old, err := d.write(ctx, r.EntityKey, u, condition)
	switch {
	case err != nil:
		return "", err
	case old == nil:
		return Applied, nil
	}
	return judge(old, e.ID), nil
}

// applyView writes the event's entry into the parent's map attribute, newest
// position per entry wins, and reports whether it changed the parent. It first
// assumes the map exists; when it does not, it creates the map holding the
// entry, so no write ever leaves an empty map.
func (d *Dynamo) applyView(ctx context.Context, e events.Event, r events.Route) (bool, error) {
	p := r.Parent
	entry := map[string]types.AttributeValue{
		schema.StatePosition:  str(r.Position),
		schema.StateEventID:   str(e.ID),
		schema.StateEventType: str(e.Type),
		schema.StateObject:    str(string(e.Object)),
	}
	if r.Status != "" {
		entry[schema.StateStatus] = str(r.Status)
	}
	parentCategory, _, _ := strings.Cut(p.EntityKey, "#")

	for range viewRounds {
		u := newUpdate()
		u.names["#view"], u.names["#entry"] = p.Attribute, p.EntryID
		u.names["#position"], u.values[":position"] = schema.StatePosition, str(r.Position)
		u.expr("#view.#entry = :entry", ":entry", &types.AttributeValueMemberM{Value: entry})
		u.set(schema.StateCategory, str(parentCategory))
		u.increment(schema.StateVersion)
		u.set(schema.StateUpdatedAt, str(events.SortableTime(d.now())))
		old, err := d.write(ctx, p.EntityKey, u,
			"attribute_exists(#view) AND (attribute_not_exists(#view.#entry) OR #view.#entry.#position < :position)")
		switch {
		case isMissingDocumentPath(err):
			// Should DynamoDB validate the map path before the condition, a
			// missing map surfaces here instead: create it below.
		case err != nil:
			return false, err
		case old == nil:
			return true, nil
		default:
			if _, exists := old[p.Attribute]; exists {
				return false, nil // the entry holds this event or a newer one
			}
		}

		// No map yet (or no parent row at all): create it with the entry.
		u = newUpdate()
		u.names["#view"] = p.Attribute
		u.expr("#view = :view", ":view", &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{
			p.EntryID: &types.AttributeValueMemberM{Value: entry},
		}})
		u.set(schema.StateCategory, str(parentCategory))
		u.increment(schema.StateVersion)
		u.set(schema.StateUpdatedAt, str(events.SortableTime(d.now())))
		old, err = d.write(ctx, p.EntityKey, u, "attribute_not_exists(#view)")
		switch {
		case err != nil:
			return false, err
		case old == nil:
			return true, nil
		}
		// Another worker created the map in between: write the entry into it.
	}
	return false, fmt.Errorf("view %s kept changing under %d attempts", p.Attribute, viewRounds)
}

// write runs one conditional UpdateItem. It returns the item as it was when
// the condition failed (an empty, non-nil map if there was none), or nil
// when the write happened.
func (d *Dynamo) write(ctx context.Context, pk string, u *update, condition string) (map[string]types.AttributeValue, error) {
	expr := "SET " + strings.Join(u.sets, ", ")
	if len(u.removes) > 0 {
		expr += " REMOVE " + strings.Join(u.removes, ", ")
	}
	_, err := d.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                           aws.String(d.table),
		Key:                                 map[string]types.AttributeValue{schema.StatePK: str(pk)},
		UpdateExpression:                    aws.String(expr),
		ConditionExpression:                 aws.String(condition),
		ExpressionAttributeNames:            u.names,
		ExpressionAttributeValues:           u.values,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	var failed *types.ConditionalCheckFailedException
	if errors.As(err, &failed) {
		if failed.Item == nil {
			return map[string]types.AttributeValue{}, nil
		}
		return failed.Item, nil
	}
	if err != nil {
		return nil, fmt.Errorf("UpdateItem: %w", err)
	}
	return nil, nil
}

// judge names a rejected write: Duplicate when what is stored is this very
// event, Stale when it is another (newer) one.
func judge(stored map[string]types.AttributeValue, eventID string) Outcome {
	if id, ok := stored[schema.StateEventID].(*types.AttributeValueMemberS); ok && id.Value == eventID {
		return Duplicate
	}
	return Stale
}

// update collects an update expression with a placeholder for every name,
// since most attribute names here (status, position, object) are reserved words.
type update struct {
	sets, removes []string
	names         map[string]string
	values        map[string]types.AttributeValue
}

func newUpdate() *update {
	return &update{names: map[string]string{}, values: map[string]types.AttributeValue{}}
}

func (u *update) set(attr string, v types.AttributeValue) {
	u.names["#"+attr] = attr
	u.expr(fmt.Sprintf("#%s = :%s", attr, attr), ":"+attr, v)
}

func (u *update) setOrRemove(attr, v string) {
	if v != "" {
		u.set(attr, str(v))
		return
	}
	u.names["#"+attr] = attr
	u.removes = append(u.removes, "#"+attr)
}

func (u *update) increment(attr string) {
	u.names["#"+attr] = attr
	u.values[":zero"] = &types.AttributeValueMemberN{Value: "0"}
	u.values[":one"] = &types.AttributeValueMemberN{Value: "1"}
	u.sets = append(u.sets, fmt.Sprintf("#%s = if_not_exists(#%s, :zero) + :one", attr, attr))
}

func (u *update) expr(clause, placeholder string, v types.AttributeValue) {
	u.sets = append(u.sets, clause)
	u.values[placeholder] = v
}

func str(s string) types.AttributeValue { return &types.AttributeValueMemberS{Value: s} }

// isMissingDocumentPath recognises DynamoDB's answer to a SET on a nested path
// whose map does not exist.
func isMissingDocumentPath(err error) bool {
	var apiErr smithy.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode() == "ValidationException" &&
		strings.Contains(apiErr.ErrorMessage(), "document path")
}
