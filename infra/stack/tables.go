package stack

import (
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/schema"
)

// dataTable holds what every table of this system shares: its capacity
// (TableCapacity: on demand by default), point-in-time recovery, encryption
// under the AWS-managed key (auditable in CloudTrail at no key cost; a CMK
// would add cost and a key policy to keep right for no threat this data
// faces), and protection against deletion: the ledger is the only copy of
// what Upvest sent, and the state tables feed downstream systems.
//
// RetainExceptOnCreate keeps a table when the stack is deleted or the table
// replaced, but lets the rollback of the deployment that created it delete
// it, so a failed first deploy leaves no orphans to be duplicated by the
// retry. DynamoDB's own deletion protection would block that rollback, so it
// stays off: the retain policies and PITR are the protection.
func dataTable(scope constructs.Construct, id string, props *awsdynamodb.TableProps, capacity TableCapacity) awsdynamodb.Table {
	capacity.table(props)
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

// newTable builds the table from its one definition in shared/prod/schema, which
// the local provisioning uses too (tables_test.go checks they agree), with
// its capacity (the local tables are always on demand).
func newTable(scope constructs.Construct, id string, def schema.Table, capacity TableCapacity) awsdynamodb.Table {
	props := &awsdynamodb.TableProps{PartitionKey: str(def.PartitionKey)}
	if def.TTLAttribute != "" {
		props.TimeToLiveAttribute = jsii.String(def.TTLAttribute)
	}
	if def.StreamView != "" {
		props.Stream = awsdynamodb.StreamViewType(def.StreamView)
	}
	t := dataTable(scope, id, props, capacity)
	for _, ix := range def.Indexes {
		props := &awsdynamodb.GlobalSecondaryIndexProps{
			IndexName:      jsii.String(ix.Name),
			PartitionKey:   str(ix.PartitionKey),
			ProjectionType: awsdynamodb.ProjectionType(ix.Projection),
		}
		if ix.SortKey != "" {
			props.SortKey = str(ix.SortKey)
		}
		capacity.index(props)
		t.AddGlobalSecondaryIndex(props)
	}
	capacity.autoScale(t, def)
	return t
}

// NewLedgerTable is the event log and dedup record (schema.LedgerTable).
func NewLedgerTable(scope constructs.Construct, id string, capacity TableCapacity) awsdynamodb.Table {
	return newTable(scope, id, schema.LedgerTable, capacity)
}

// NewStateTable is one domain's current state (schema.StateTable).
func NewStateTable(scope constructs.Construct, id string, capacity TableCapacity) awsdynamodb.Table {
	return newTable(scope, id, schema.StateTable, capacity)
}

// table sets the billing mode, and in provisioned mode the starting capacity: the minimums.
func (c TableCapacity) table(props *awsdynamodb.TableProps) {
	props.WarmThroughput = c.warmThroughput()
	if !c.Provisioned() {
		props.BillingMode = awsdynamodb.BillingMode_PAY_PER_REQUEST
		return
	}
	props.BillingMode = awsdynamodb.BillingMode_PROVISIONED
	props.ReadCapacity = jsii.Number(float64(c.MinRead))
	props.WriteCapacity = jsii.Number(float64(c.MinWrite))
}

// index gives a global secondary index the starting capacity too: an index
// has capacity of its own, and one short of writes throttles its table's writes.
func (c TableCapacity) index(props *awsdynamodb.GlobalSecondaryIndexProps) {
	props.WarmThroughput = c.warmThroughput()
	if c.Provisioned() {
		props.ReadCapacity = jsii.Number(float64(c.MinRead))
		props.WriteCapacity = jsii.Number(float64(c.MinWrite))
	}
}

// autoScale lets Application Auto Scaling move the reads and writes of the
// table and of each of its indexes between the bounds, tracking the target
// utilisation (in provisioned mode; nothing on demand).
func (c TableCapacity) autoScale(t awsdynamodb.Table, def schema.Table) {
	if !c.Provisioned() {
		return
	}
	reads := &awsdynamodb.EnableScalingProps{MinCapacity: jsii.Number(float64(c.MinRead)), MaxCapacity: jsii.Number(float64(c.MaxRead))}
	writes := &awsdynamodb.EnableScalingProps{MinCapacity: jsii.Number(float64(c.MinWrite)), MaxCapacity: jsii.Number(float64(c.MaxWrite))}
	target := &awsdynamodb.UtilizationScalingProps{TargetUtilizationPercent: jsii.Number(float64(c.TargetUtilization))}
	t.AutoScaleWriteCapacity(writes).ScaleOnUtilization(target)
	t.AutoScaleReadCapacity(reads).ScaleOnUtilization(target)
	for _, ix := range def.Indexes {
		t.AutoScaleGlobalSecondaryIndexWriteCapacity(jsii.String(ix.Name), writes).ScaleOnUtilization(target)
		t.AutoScaleGlobalSecondaryIndexReadCapacity(jsii.String(ix.Name), reads).ScaleOnUtilization(target)
	}
	serializeScaling(t)
}

// serializeScaling makes CloudFormation create a table's scalable targets and
// scaling policies one after the other (a DependsOn chain), not all at once:
// each target-tracking policy makes Application Auto Scaling create two
// CloudWatch alarms, and 108 policies in parallel (every table and index of
// the stack) have hit CloudWatch's PutMetricAlarm rate limit, failing the
// deploy. That CloudFormation retries such a failure cannot be shown without
// an account, so creation is serialised instead, per table: at most one
// target and policy per table (14 in all) is created at a time, which keeps a
// first deploy only about a minute longer than creating them all at once.
//
// The constructs are the table's children that the AutoScale* calls add
// ("WriteScaling", "ReadScaling", "<index>WriteScaling", ...), each holding
// one scalable target and its policy, in the order they were added.
func serializeScaling(t awsdynamodb.Table) {
	var previous constructs.IConstruct
	for _, child := range *t.Node().Children() {
		if !strings.HasSuffix(*child.Node().Id(), "Scaling") {
			continue
		}
		if previous != nil {
			child.Node().AddDependency(previous)
		}
		previous = child
	}
}
