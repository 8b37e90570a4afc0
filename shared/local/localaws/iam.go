package localaws

import (
	"context"
	"fmt"
	"reflect"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"

	"github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/permissions"
)

// Policy is a function's grants as the local run enforces them: resource (a
// table name or a queue URL) → the IAM actions allowed on it. The emulators
// check no permissions, so without it a call the stack never granted works
// locally and fails only when deployed.
type Policy map[string][]string

// PolicyFor is the policy of a function that has perms, with the resources
// named as in res; a worker's state table is domain's.
func PolicyFor(perms []permissions.Permission, res Resources, domain events.Domain) Policy {
	p := Policy{}
	for _, perm := range perms {
		var names []string
		switch perm.Resource {
		case permissions.Ledger:
			names = []string{res.LedgerTable}
		case permissions.StateTable:
			names = []string{res.StateTables[domain]}
		case permissions.DomainQueues:
			for _, url := range res.QueueURLs {
				names = append(names, url)
			}
		}
		// Other resources (the JWKS parameter) are not DynamoDB or SQS: the
		// local run reads the keys from a file.
		for _, n := range names {
			p[n] = append(p[n], perm.Actions...)
		}
	}
	return p
}

// Enforce returns a copy of cfg whose DynamoDB and SQS clients refuse, with
// AccessDeniedException as IAM does, every call the policy does not allow.
// Other services are not checked.
func (p Policy) Enforce(cfg aws.Config) aws.Config {
	cfg = cfg.Copy()
	cfg.APIOptions = append(cfg.APIOptions, p.register)
	return cfg
}

// DynamoDB returns a client like c that enforces the policy.
func (p Policy) DynamoDB(c *dynamodb.Client) *dynamodb.Client {
	return dynamodb.New(c.Options(), func(o *dynamodb.Options) { o.APIOptions = append(o.APIOptions, p.register) })
}

// SQS returns a client like c that enforces the policy.
func (p Policy) SQS(c *sqs.Client) *sqs.Client {
	return sqs.New(c.Options(), func(o *sqs.Options) { o.APIOptions = append(o.APIOptions, p.register) })
}

func (p Policy) register(stack *middleware.Stack) error {
	if err := stack.Initialize.Add(middleware.InitializeMiddlewareFunc("localaws.Policy", p.check), middleware.Before); err != nil {
		return fmt.Errorf("localaws policy: %w", err)
	}
	return nil
}

// batchActions are the operations IAM authorises by another action's name.
var batchActions = map[string]string{
	"SendMessageBatch":             "SendMessage",
	"DeleteMessageBatch":           "DeleteMessage",
	"ChangeMessageVisibilityBatch": "ChangeMessageVisibility",
}

func (p Policy) check(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
	var prefix, field string
	switch awsmiddleware.GetServiceID(ctx) {
	case dynamodb.ServiceID:
		prefix, field = "dynamodb", "TableName"
	case sqs.ServiceID:
		prefix, field = "sqs", "QueueUrl"
	default:
		return next.HandleInitialize(ctx, in)
	}
	op := awsmiddleware.GetOperationName(ctx)
	if alias, ok := batchActions[op]; ok {
		op = alias
	}
	action := prefix + ":" + op
	resource := stringField(in.Parameters, field)
	if resource == "" || !slices.Contains(p[resource], action) {
		if resource == "" {
			resource = "(no single " + field + ")"
		}
		return middleware.InitializeOutput{}, middleware.Metadata{}, &smithy.GenericAPIError{
			Code:    "AccessDeniedException",
			Message: "not authorized to perform: " + action + " on resource: " + resource + " (the local run grants what the stack grants: shared/prod/permissions)",
		}
	}
	return next.HandleInitialize(ctx, in)
}

// stringField is the *string field name of the struct params points to, or "".
func stringField(params any, name string) string {
	v := reflect.ValueOf(params)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return ""
	}
	f := v.Elem().FieldByName(name)
	if !f.IsValid() || f.Kind() != reflect.Pointer || f.IsNil() || f.Elem().Kind() != reflect.String {
		return ""
	}
	return f.Elem().String()
}
