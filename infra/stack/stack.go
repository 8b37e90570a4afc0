// Package stack is the whole production system as one CDK stack: the ingest
// API, the ledger, one pipeline per domain of the routing table, monitoring,
// and the optional example stream consumer.
package stack

import (
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/upvest-webhooks/upvest-webhooks/events"
)

// UpvestWebhooksStackProps configures the stack.
type UpvestWebhooksStackProps struct {
	awscdk.StackProps
	Config Config
}

// NewUpvestWebhooksStack builds every resource of one deployment (sandbox or live).
func NewUpvestWebhooksStack(scope constructs.Construct, id string, props *UpvestWebhooksStackProps) awscdk.Stack {
	sprops := props.StackProps
	cfg := props.Config
	if sprops.Description == nil {
		sprops.Description = jsii.String("upvest-webhooks (" + string(cfg.Env) + "): receives Upvest webhooks, keeps an event ledger and per-domain state tables")
	}
	stack := awscdk.NewStack(scope, jsii.String(id), &sprops)
	awscdk.Tags_Of(stack).Add(jsii.String("project"), jsii.String("upvest-webhooks"), nil)
	awscdk.Tags_Of(stack).Add(jsii.String("upvest-environment"), jsii.String(string(cfg.Env)), nil)
	checkRegion(stack, cfg)

	ledger := NewLedgerTable(stack, "Ledger", cfg.Capacity)
	output(stack, "LedgerTableName", "The ledger table (event log and dedup record)", ledger.TableName())

	var pipelines []*Pipeline
	for _, d := range events.Domains() {
		name := ConstructName(string(d))
		p := NewPipeline(stack, "Pipeline"+name, cfg, d, ledger)
		pipelines = append(pipelines, p)
		output(stack, "StateTable"+name+"Name", "State table of the "+string(d)+" domain", p.StateTable.TableName())
		output(stack, "StateTable"+name+"StreamArn", "Stream of the "+string(d)+" state table", p.StateTable.TableStreamArn())
		// For the ops tool (functions/ops, README "The ops tool"): its QUEUE_URL_<DOMAIN>, DLQ_URL_<DOMAIN> and STATE_TABLE_<DOMAIN>.
		output(stack, "Queue"+name+"Url", "Queue of the "+string(d)+" domain", p.Queue.QueueUrl())
		output(stack, "DeadLetterQueue"+name+"Url", "Dead-letter queue of the "+string(d)+" domain", p.DLQ.QueueUrl())
	}

	ingest := NewIngest(stack, "Ingest", cfg, ledger, pipelines)
	output(stack, "WebhookUrl", "Register this URL at Upvest as the webhook endpoint", ingest.WebhookURL)

	var consumer *StreamConsumer
	if cfg.ExampleStreamConsumer {
		consumer = NewStreamConsumer(stack, "StreamConsumer", cfg, pipelines)
	}
	keySync := addKeySync(stack, cfg) // only with upvestApiSecretArn; else the JWKS parameter is managed by hand
	addSubscription(stack, cfg, ingest, keySync)
	NewMonitoring(stack, "Monitoring", MonitoringProps{Config: cfg, Ledger: ledger, Ingest: ingest, Pipelines: pipelines, Consumer: consumer, KeySync: keySync})
	return stack
}

func output(stack awscdk.Stack, id, description string, value *string) {
	awscdk.NewCfnOutput(stack, jsii.String(id), &awscdk.CfnOutputProps{Description: jsii.String(description), Value: value})
}

// ConstructName turns a domain into the stack's construct id and output name part:
// corporate_actions → CorporateActions.
func ConstructName(s string) string {
	var b strings.Builder
	for _, part := range strings.Split(s, "_") {
		if part != "" {
			b.WriteString(strings.ToUpper(part[:1]) + part[1:])
		}
	}
	return b.String()
}

// CheckWithNag runs the AwsSolutions rules on everything in scope at synthesis;
// findings become error and warning annotations (and fail `cdk synth`).
func CheckWithNag(scope constructs.Construct) {
	awscdk.Aspects_Of(scope).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)
}
