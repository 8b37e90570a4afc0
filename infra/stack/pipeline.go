package stack

import (
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambdaeventsources"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/permissions"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/schema"
)

// Retention. SQS keeps a message's original enqueue time when it moves to the
// dead-letter queue, so the DLQ must keep messages longer than the source
// does, or a message that failed late would expire there soon after arriving.
const (
	// QueueRetention outlasts any outage of a worker by far (the queue-age alarm fires within minutes).
	QueueRetention = 7 * 24 * time.Hour
	// DeadLetterRetention is SQS's maximum: a dead letter has at least 7 days to be redriven.
	DeadLetterRetention = 14 * 24 * time.Hour
)

// Pipeline is one domain: queue → worker → state table, with a dead-letter
// queue for events the worker failed MaxReceiveCount times.
type Pipeline struct {
	Domain     events.Domain
	Queue      awssqs.Queue
	DLQ        awssqs.Queue
	StateTable awsdynamodb.Table
	Worker     *GoFunction
}

// NewPipeline creates a domain's pipeline. The worker may consume only its own
// queue, write only its own state table, and record the exceptions in the
// ledger (a park, a replayed record's release).
func NewPipeline(scope constructs.Construct, id string, cfg Config, d events.Domain, ledger awsdynamodb.Table) *Pipeline {
	s := constructs.NewConstruct(scope, jsii.String(id))
	p := &Pipeline{Domain: d}

	p.DLQ = newQueue(s, "DeadLetterQueue", &awssqs.QueueProps{
		RetentionPeriod: awscdk.Duration_Seconds(jsii.Number(DeadLetterRetention.Seconds())),
	})
	p.Queue = newQueue(s, "Queue", &awssqs.QueueProps{
		VisibilityTimeout: awscdk.Duration_Seconds(jsii.Number(cfg.QueueVisibilityTimeout().Seconds())),
		DeadLetterQueue: &awssqs.DeadLetterQueue{
			Queue:           p.DLQ,
			MaxReceiveCount: jsii.Number(float64(cfg.MaxReceiveCount)),
		},
	})

	p.StateTable = NewStateTable(s, "StateTable", cfg.Capacity)

	p.Worker = NewGoFunction(s, "Worker", GoFunctionProps{
		Config:      cfg,
		Asset:       AssetWorker,
		Description: "upvest-webhooks " + string(cfg.Env) + " worker for domain " + string(d),
		MemoryMB:    WorkerMemoryMB,
		Timeout:     WorkerTimeout,
		Environment: map[string]string{
			schema.EnvDomain:      string(d),
			schema.EnvStateTable:  *p.StateTable.TableName(),
			schema.EnvLedgerTable: *ledger.TableName(),
			EnvLogLevel:           cfg.LogLevel,
		},
	})
	p.Worker.grant(permissions.Worker, map[permissions.Resource][]*string{
		permissions.StateTable: {p.StateTable.TableArn()}, permissions.Ledger: {ledger.TableArn()},
	})
	grantTraceExport(p.Worker, cfg)
	// The event source grants the consume actions on this queue only.
	p.Worker.Function.AddEventSource(awslambdaeventsources.NewSqsEventSource(p.Queue, &awslambdaeventsources.SqsEventSourceProps{
		BatchSize:               jsii.Number(float64(cfg.WorkerBatchSize)),
		MaxBatchingWindow:       awscdk.Duration_Seconds(jsii.Number(float64(cfg.WorkerBatchWindow))),
		MaxConcurrency:          jsii.Number(float64(cfg.WorkerMaxConcurrencyFor(d))),
		ReportBatchItemFailures: jsii.Bool(true),
	}))
	return p
}

// newQueue is a standard queue with the settings every queue here shares:
// SQS-managed encryption, TLS only, and QueueRetention unless props set one.
func newQueue(scope constructs.Construct, id string, props *awssqs.QueueProps) awssqs.Queue {
	if props == nil {
		props = &awssqs.QueueProps{}
	}
	props.Encryption = awssqs.QueueEncryption_SQS_MANAGED
	props.EnforceSSL = jsii.Bool(true)
	if props.RetentionPeriod == nil {
		props.RetentionPeriod = awscdk.Duration_Seconds(jsii.Number(QueueRetention.Seconds()))
	}
	return awssqs.NewQueue(scope, jsii.String(id), props)
}
