package stack

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/upvest-webhooks/upvest-webhooks/shared/schema"
)

// dataTable holds what every table of this system shares: on-demand billing,
// point-in-time recovery, encryption under the AWS-managed key (auditable in
// CloudTrail at no key cost; a CMK would add cost and a key policy to keep
// right for no threat this data faces), and protection against deletion: the
// ledger is the only copy of what Upvest sent, and the state tables feed downstream systems.
//
// RetainExceptOnCreate keeps a table when the stack is deleted or the table
// replaced, but lets the rollback of the deployment that created it delete
// it, so a failed first deploy leaves no orphans to be duplicated by the
// retry. DynamoDB's own deletion protection would block that rollback, so it
// stays off: the retain policies and PITR are the protection.
func dataTable(scope constructs.Construct, id string, props *awsdynamodb.TableProps) awsdynamodb.Table {
	props.BillingMode = awsdynamodb.BillingMode_PAY_PER_REQUEST
	props.PointInTimeRecoverySpecification = &awsdynamodb.PointInTimeRecoverySpecification{
		PointInTimeRecoveryEnabled: jsii.Bool(true),
	}
	props.Encryption = awsdynamodb.TableEncryption_AWS_MANAGED
	props.DeletionProtection = jsii.Bool(false)
	props.RemovalPolicy = awscdk.RemovalPolicy_RETAIN_ON_UPDATE_OR_DELETE
	return awsdynamodb.NewTable(scope, jsii.String(id), props)
}

func str(name string) *awsdynamodb.Attribute {
	return &awsdynamodb.Attribute{Name: jsii.String(name), Type: awsdynamodb.AttributeType_STRING}
}

// NewLedgerTable is the event log and dedup record: one item per event id,
// expiring by TTL, with a sparse index of parked events.
func NewLedgerTable(scope constructs.Construct, id string) awsdynamodb.Table {
	t := dataTable(scope, id, &awsdynamodb.TableProps{
		PartitionKey:        str(schema.LedgerPK),
		TimeToLiveAttribute: jsii.String(schema.LedgerExpiresAt),
	})
	t.AddGlobalSecondaryIndex(&awsdynamodb.GlobalSecondaryIndexProps{
		IndexName:      jsii.String(schema.LedgerParkedIndex),
		PartitionKey:   str(schema.LedgerParked),
		SortKey:        str(schema.LedgerReceivedAt),
		ProjectionType: awsdynamodb.ProjectionType_ALL,
	})
	return t
}

// stateIndexes are the state tables' query indexes, in a fixed order so the
// template does not change between synths.
var stateIndexes = []struct{ name, key string }{
	{schema.StateByUserIndex, schema.StateUserID},
	{schema.StateByAccountIndex, schema.StateAccountID},
	{schema.StateByAccountGroupIndex, schema.StateAccountGroupID},
}

// NewStateTable is one domain's current state: one item per entity, streamed
// to downstream consumers with both images so they can see what changed.
func NewStateTable(scope constructs.Construct, id string) awsdynamodb.Table {
	t := dataTable(scope, id, &awsdynamodb.TableProps{
		PartitionKey: str(schema.StatePK),
		Stream:       awsdynamodb.StreamViewType_NEW_AND_OLD_IMAGES,
	})
	for _, gsi := range stateIndexes {
		t.AddGlobalSecondaryIndex(&awsdynamodb.GlobalSecondaryIndexProps{
			IndexName:      jsii.String(gsi.name),
			PartitionKey:   str(gsi.key),
			SortKey:        str(schema.StateOrderedAt),
			ProjectionType: awsdynamodb.ProjectionType_ALL,
		})
	}
	return t
}
