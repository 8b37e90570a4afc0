package stack

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssnssubscriptions"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/shared/observability"
)

// ServiceIngest is the "Service" dimension of the ingest function's EMF metrics.
const ServiceIngest = observability.ServiceIngest

// WorkerService is the "Service" dimension of a domain worker's EMF metrics
// (functions/worker: "worker-" + domain).
func WorkerService(d events.Domain) string { return observability.WorkerService(string(d)) }

var fiveMinutes = awscdk.Duration_Minutes(jsii.Number(5))

// Monitoring is the alarms, their optional SNS topic, and the dashboard.
type Monitoring struct {
	Topic     awssns.Topic // nil without alarmEmail
	Alarms    []awscloudwatch.Alarm
	Dashboard awscloudwatch.Dashboard
}

// MonitoringProps are the resources to watch.
type MonitoringProps struct {
	Config    Config
	Ingest    *Ingest
	Pipelines []*Pipeline
	Consumer  *StreamConsumer // nil when the example consumer is off
}

// NewMonitoring alarms on what needs a human: events stuck or dead-lettered,
// failed or refused deliveries, parked events, failing or throttled functions.
func NewMonitoring(scope constructs.Construct, id string, p MonitoringProps) *Monitoring {
	s := constructs.NewConstruct(scope, jsii.String(id))
	m := &Monitoring{}
	cfg := p.Config
	if cfg.AlarmEmail != "" {
		m.Topic = newAlarmTopic(s)
		m.Topic.AddSubscription(awssnssubscriptions.NewEmailSubscription(jsii.String(cfg.AlarmEmail), nil))
	}
	alarm := func(id, description string, metric awscloudwatch.IMetric, threshold float64, op awscloudwatch.ComparisonOperator) {
		a := awscloudwatch.NewAlarm(s, jsii.String(id), &awscloudwatch.AlarmProps{
			AlarmDescription:   jsii.String("upvest-webhooks " + string(cfg.Env) + ": " + description),
			Metric:             metric,
			Threshold:          jsii.Number(threshold),
			ComparisonOperator: op,
			EvaluationPeriods:  jsii.Number(1),
			// No data means nothing happened: no traffic, no errors.
			TreatMissingData: awscloudwatch.TreatMissingData_NOT_BREACHING,
		})
		if m.Topic != nil {
			action := awscloudwatchactions.NewSnsAction(m.Topic)
			a.AddAlarmAction(action)
			a.AddOkAction(action)
		}
		m.Alarms = append(m.Alarms, a)
	}
	atLeast := awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD
	above := awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD
	sum := &awscloudwatch.MetricOptions{Statistic: jsii.String("Sum"), Period: fiveMinutes}
	peak := &awscloudwatch.MetricOptions{Statistic: jsii.String("Maximum"), Period: awscdk.Duration_Minutes(jsii.Number(1))}

	alarm("Ingest5xx", "the webhook API answered 5xx: Upvest will retry, and its later deliveries wait",
		p.Ingest.API.MetricServerError(sum), 1, atLeast)
	alarm("IngestUnauthorized", "requests refused as not authentic (401): a key rotation missing from the JWKS parameter, or someone probing",
		emf(observability.MetricUnauthorized, ServiceIngest), float64(cfg.UnauthorizedAlarm), atLeast)
	alarm("IngestParked", "ingest parked events it can never process; see the ledger's parked index",
		emf(observability.MetricParked, ServiceIngest), 1, atLeast)

	functions := []*GoFunction{p.Ingest.Function}
	names := []string{"Ingest"}
	for _, pl := range p.Pipelines {
		name := pascal(string(pl.Domain))
		alarm(name+"DeadLetters", "messages in the "+string(pl.Domain)+" dead-letter queue: events the worker failed repeatedly",
			pl.DLQ.MetricApproximateNumberOfMessagesVisible(peak), 0, above)
		alarm(name+"Parked", "the "+string(pl.Domain)+" worker parked events it can never apply; see the ledger's parked index",
			emf(observability.MetricParked, WorkerService(pl.Domain)), 1, atLeast)
		alarm(name+"QueueAge", "the oldest "+string(pl.Domain)+" message is older than the threshold: the worker is stuck or too slow",
			pl.Queue.MetricApproximateAgeOfOldestMessage(peak), float64(cfg.QueueAgeAlarm), above)
		functions = append(functions, pl.Worker)
		names = append(names, name+"Worker")
	}
	if p.Consumer != nil {
		functions = append(functions, p.Consumer.Function)
		names = append(names, "StreamConsumer")
		alarm("StreamConsumerFailures", "state changes the example stream consumer gave up on",
			p.Consumer.Failures.MetricApproximateNumberOfMessagesVisible(peak), 0, above)
	}
	for i, f := range functions {
		alarm(names[i]+"Errors", "the "+names[i]+" function failed invocations", f.Function.MetricErrors(sum), 1, atLeast)
		alarm(names[i]+"Throttles", "the "+names[i]+" function was throttled", f.Function.MetricThrottles(sum), 1, atLeast)
	}

	m.Dashboard = newDashboard(s, p, functions, names)
	return m
}

// emf is one of the functions' own counters (see shared/observability).
func emf(name, service string) awscloudwatch.Metric {
	return awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
		Namespace:     jsii.String(observability.Namespace),
		MetricName:    jsii.String(name),
		DimensionsMap: &map[string]*string{"Service": jsii.String(service)},
		Statistic:     jsii.String("Sum"),
		Period:        fiveMinutes,
	})
}

// newAlarmTopic is encrypted under its own key, since CloudWatch cannot publish
// to a topic under the AWS-managed SNS key (its key policy cannot grant CloudWatch).
func newAlarmTopic(scope constructs.Construct) awssns.Topic {
	key := awskms.NewKey(scope, jsii.String("AlarmTopicKey"), &awskms.KeyProps{
		Description:       jsii.String("Encrypts the upvest-webhooks alarm topic"),
		EnableKeyRotation: jsii.Bool(true),
		PendingWindow:     awscdk.Duration_Days(jsii.Number(7)),
		RemovalPolicy:     awscdk.RemovalPolicy_DESTROY, // it protects only alarm notifications
	})
	cloudwatch := awsiam.NewServicePrincipal(jsii.String("cloudwatch.amazonaws.com"), nil)
	// What publishing to an encrypted topic takes, named exactly (no GenerateDataKey*).
	key.Grant(cloudwatch, jsii.String("kms:Decrypt"), jsii.String("kms:GenerateDataKey"))
	topic := awssns.NewTopic(scope, jsii.String("AlarmTopic"), &awssns.TopicProps{
		DisplayName: jsii.String("upvest-webhooks alarms"),
		MasterKey:   key,
		EnforceSSL:  jsii.Bool(true),
	})
	stack := awscdk.Stack_Of(scope)
	// The topic policy replaces the default one, so CloudWatch's right to publish is stated.
	topic.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Effect:     awsiam.Effect_ALLOW,
		Principals: &[]awsiam.IPrincipal{cloudwatch},
		Actions:    jsii.Strings("sns:Publish"),
		Resources:  jsii.Strings(*topic.TopicArn()),
		Conditions: &map[string]any{
			"StringEquals": map[string]any{"aws:SourceAccount": stack.Account()},
		},
	}))
	return topic
}

func newDashboard(scope constructs.Construct, p MonitoringProps, functions []*GoFunction, names []string) awscloudwatch.Dashboard {
	d := awscloudwatch.NewDashboard(scope, jsii.String("Dashboard"), &awscloudwatch.DashboardProps{
		DefaultInterval: awscdk.Duration_Hours(jsii.Number(6)),
	})
	graph := func(title string, width float64, metrics ...awscloudwatch.IMetric) awscloudwatch.IWidget {
		return awscloudwatch.NewGraphWidget(&awscloudwatch.GraphWidgetProps{
			Title: jsii.String(title), Width: jsii.Number(width), Left: &metrics,
		})
	}
	api := p.Ingest.API
	sum := &awscloudwatch.MetricOptions{Statistic: jsii.String("Sum"), Period: fiveMinutes}
	d.AddWidgets(
		graph("API requests and errors", 8, api.MetricCount(sum), api.MetricClientError(sum), api.MetricServerError(sum)),
		graph("API latency (p99)", 8, api.MetricLatency(&awscloudwatch.MetricOptions{Statistic: jsii.String("p99")}),
			api.MetricIntegrationLatency(&awscloudwatch.MetricOptions{Statistic: jsii.String("p99")})),
		graph("Ingest outcomes", 8,
			emf(observability.MetricReceived, ServiceIngest), emf(observability.MetricDuplicate, ServiceIngest),
			emf(observability.MetricRefanned, ServiceIngest), emf(observability.MetricEnqueued, ServiceIngest),
			emf(observability.MetricParked, ServiceIngest), emf(observability.MetricUnrouted, ServiceIngest),
			emf(observability.MetricUnauthorized, ServiceIngest), emf(observability.MetricRejected, ServiceIngest),
			emf(observability.MetricFailed, ServiceIngest)),
	)
	// One line per service (each worker, and ingest for parked), found by search.
	var workerWidgets []awscloudwatch.IWidget
	for _, name := range []string{observability.MetricApplied, observability.MetricSkippedStale, observability.MetricWorkerDuplicate, observability.MetricParked} {
		search := awscloudwatch.NewMathExpression(&awscloudwatch.MathExpressionProps{
			Expression: jsii.String(fmt.Sprintf(`SEARCH('{%s,Service} MetricName="%s"', 'Sum', 300)`, observability.Namespace, name)),
			Label:      jsii.String(""),
			Period:     fiveMinutes,
		})
		workerWidgets = append(workerWidgets, graph(name+" by service", 6, search))
	}
	d.AddWidgets(workerWidgets...)

	var depth, age, dead []awscloudwatch.IMetric
	for _, pl := range p.Pipelines {
		label := &awscloudwatch.MetricOptions{Statistic: jsii.String("Maximum"), Period: fiveMinutes, Label: jsii.String(string(pl.Domain))}
		depth = append(depth, pl.Queue.MetricApproximateNumberOfMessagesVisible(label))
		age = append(age, pl.Queue.MetricApproximateAgeOfOldestMessage(label))
		dead = append(dead, pl.DLQ.MetricApproximateNumberOfMessagesVisible(label))
	}
	d.AddWidgets(graph("Queue depth", 8, depth...), graph("Oldest message age (s)", 8, age...), graph("Dead letters", 8, dead...))

	var errs, throttles, durations []awscloudwatch.IMetric
	for i, f := range functions {
		label := &awscloudwatch.MetricOptions{Statistic: jsii.String("Sum"), Period: fiveMinutes, Label: jsii.String(names[i])}
		errs = append(errs, f.Function.MetricErrors(label))
		throttles = append(throttles, f.Function.MetricThrottles(label))
		durations = append(durations, f.Function.MetricDuration(&awscloudwatch.MetricOptions{
			Statistic: jsii.String("p99"), Period: fiveMinutes, Label: jsii.String(names[i]),
		}))
	}
	d.AddWidgets(graph("Function errors", 8, errs...), graph("Function throttles", 8, throttles...), graph("Function duration (p99)", 8, durations...))
	return d
}
