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

// newTable builds the table from its one definition in shared/schema, which
// the local provisioning uses too (tables_test.go checks they agree).
func newTable(scope constructs.Construct, id string, def schema.Table) awsdynamodb.Table {
	props := &awsdynamodb.TableProps{PartitionKey: str(def.PartitionKey)}
	if def.TTLAttribute != "" {
		props.TimeToLiveAttribute = jsii.String(def.TTLAttribute)
	}
	if def.StreamView != "" {
		props.Stream = awsdynamodb.StreamViewType(def.StreamView)
	}
	t := dataTable(scope, id, props)
	for _, ix := range def.Indexes {
		props := &awsdynamodb.GlobalSecondaryIndexProps{
			IndexName:      jsii.String(ix.Name),
			PartitionKey:   str(ix.PartitionKey),
			ProjectionType: awsdynamodb.ProjectionType(ix.Projection),
		}
		if ix.SortKey != "" {
			props.SortKey = str(ix.SortKey)
		}
		t.AddGlobalSecondaryIndex(props)
	}
	return t
}

// NewLedgerTable is the event log and dedup record (schema.LedgerTable).
func NewLedgerTable(scope constructs.Construct, id string) awsdynamodb.Table {
	return newTable(scope, id, schema.LedgerTable)
}

// NewStateTable is one domain's current state (schema.StateTable).
func NewStateTable(scope constructs.Construct, id string) awsdynamodb.Table {
	return newTable(scope, id, schema.StateTable)
}
