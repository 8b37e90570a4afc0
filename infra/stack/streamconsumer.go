package stack

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambdaeventsources"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

// StreamConsumer is the example downstream consumer: one function reading
// every state table's stream. It shows the settings a real consumer needs.
type StreamConsumer struct {
	Function *GoFunction
	Failures awssqs.Queue // where records go once retries are exhausted
}

// Stream consumer retry policy: a bad record is isolated by bisecting, retried
// a few times, and then handed to the failure queue instead of blocking its shard.
const (
	ConsumerBatchSize     = 100
	ConsumerRetryAttempts = 5
	ConsumerMaxRecordAge  = 24 // hours
)

// NewStreamConsumer subscribes the example consumer to every pipeline's state table stream.
func NewStreamConsumer(scope constructs.Construct, id string, cfg Config, pipelines []*Pipeline) *StreamConsumer {
	s := constructs.NewConstruct(scope, jsii.String(id))
	c := &StreamConsumer{}
	c.Failures = newQueue(s, "Failures", &awssqs.QueueProps{ // a dead-letter queue: kept as long as SQS allows
		RetentionPeriod: awscdk.Duration_Seconds(jsii.Number(DeadLetterRetention.Seconds())),
	})
	cdknag.NagSuppressions_AddResourceSuppressions(c.Failures, &[]*cdknag.NagPackSuppression{{
		Id:     jsii.String("AwsSolutions-SQS3"),
		Reason: jsii.String("This queue is itself the on-failure destination of the stream consumer: it holds pointers to stream records for an operator, nothing consumes it."),
	}}, jsii.Bool(false))

	c.Function = NewGoFunction(s, "Function", GoFunctionProps{
		Config:      cfg,
		Asset:       AssetStreamConsumer,
		Description: "upvest-webhooks " + string(cfg.Env) + " example consumer of the state table streams",
		MemoryMB:    ConsumerMemory,
		Timeout:     ConsumerTimeout,
		Environment: map[string]string{EnvLogLevel: cfg.LogLevel},
	})
	for _, p := range pipelines {
		c.Function.Function.AddEventSource(awslambdaeventsources.NewDynamoEventSource(p.StateTable, &awslambdaeventsources.DynamoEventSourceProps{
			StartingPosition:        awslambda.StartingPosition_TRIM_HORIZON,
			BatchSize:               jsii.Number(ConsumerBatchSize),
			BisectBatchOnError:      jsii.Bool(true),
			RetryAttempts:           jsii.Number(ConsumerRetryAttempts),
			MaxRecordAge:            awscdk.Duration_Hours(jsii.Number(ConsumerMaxRecordAge)),
			ReportBatchItemFailures: jsii.Bool(true),
			OnFailure:               awslambdaeventsources.NewSqsDlq(c.Failures),
		}))
	}
	cdknag.NagSuppressions_AddResourceSuppressions(c.Function.Role, &[]*cdknag.NagPackSuppression{{
		Id:        jsii.String("AwsSolutions-IAM5"),
		Reason:    jsii.String("dynamodb:ListStreams, granted with stream reads, has no resource-level permissions; the record-reading actions are limited to the state table streams."),
		AppliesTo: &[]any{jsii.String("Resource::*")},
	}}, jsii.Bool(true))
	return c
}
