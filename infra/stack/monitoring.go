package stack

import (
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssnssubscriptions"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/observability"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/schema"
)

// ServiceIngest is the "Service" dimension of the ingest function's EMF metrics.
const ServiceIngest = observability.ServiceIngest

// WorkerService is the "Service" dimension of a domain worker's EMF metrics
// (functions/worker: "worker-" + domain).
func WorkerService(d events.Domain) string { return observability.WorkerService(string(d)) }

var fiveMinutes = awscdk.Duration_Minutes(jsii.Number(5))

// Alarm windows. Upvest retries a failed delivery with backoff up to 600 s,
// forever, and holds every later delivery back meanwhile: an alarm about the
// feed must look further back than one backoff, or it would go OK between two
// retries while the feed is still blocked.
const (
	// FeedAlarmPeriods 5-minute periods (20 min) are evaluated; one bad period
	// raises the alarm and it goes OK only after 20 minutes without any.
	FeedAlarmPeriods = 4
	// NoSuccessPeriod: "requests arrive, none gets a 200" is judged per 15 minutes,
	// over FeedAlarmNoSuccessPeriods of them.
	NoSuccessPeriod           = 15 * time.Minute
	FeedAlarmNoSuccessPeriods = 2
	// PipelineAlarmPeriods 5-minute periods for the queue side.
	PipelineAlarmPeriods = 3
	// maxAlarmMetrics is CloudWatch's limit of metrics in one alarm's math expression.
	maxAlarmMetrics = 10
)

// Access-log metrics of POST /webhooks, with the dimension ApiId.
const (
	MetricWebhookOK      = "WebhookAnswered200"
	MetricWebhookRefused = "WebhookAnsweredNot200"
)

// Monitoring is the alarms, their optional SNS topic, and the dashboard. Only
// the two composite alarms notify: one outage pages once.
type Monitoring struct {
	Topic         awssns.Topic // nil without alarmEmail
	FeedBlocked   awscloudwatch.CompositeAlarm
	PipelineStuck awscloudwatch.CompositeAlarm
	Feed          []awscloudwatch.Alarm // the components of FeedBlocked
	Pipeline      []awscloudwatch.Alarm // the components of PipelineStuck
	Dashboard     awscloudwatch.Dashboard
}

// MonitoringProps are the resources to watch.
type MonitoringProps struct {
	Config    Config
	Ledger    awsdynamodb.Table
	Ingest    *Ingest
	Pipelines []*Pipeline
	Consumer  *StreamConsumer // nil when the example consumer is off
	KeySync   *KeySync        // nil unless the key sync is deployed
}

// NewMonitoring alarms on what needs a human, in two groups: the feed from
// Upvest is blocked (any answer but 200, ingest failing or throttled), or the
// pipeline behind it is stuck (dead letters, old messages, parked events,
// failing workers, and with provisioned capacity throttled table writes).
func NewMonitoring(scope constructs.Construct, id string, p MonitoringProps) *Monitoring {
	s := constructs.NewConstruct(scope, jsii.String(id))
	m := &Monitoring{}
	cfg := p.Config
	prefix := "upvest-webhooks " + string(cfg.Env) + ": "
	atLeast := awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD
	above := awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD
	// Components have no actions of their own; they are evaluated over several
	// periods, and one breaching period is enough (no metric here is noise).
	alarm := func(group *[]awscloudwatch.Alarm, id, description string, metric awscloudwatch.IMetric, threshold float64,
		op awscloudwatch.ComparisonOperator, periods int) {
		*group = append(*group, awscloudwatch.NewAlarm(s, jsii.String(id), &awscloudwatch.AlarmProps{
			AlarmDescription:   jsii.String(prefix + description),
			Metric:             metric,
			Threshold:          jsii.Number(threshold),
			ComparisonOperator: op,
			EvaluationPeriods:  jsii.Number(float64(periods)),
			DatapointsToAlarm:  jsii.Number(1),
			// No data means nothing happened: no request, no error, no message.
			TreatMissingData: awscloudwatch.TreatMissingData_NOT_BREACHING,
			ActionsEnabled:   jsii.Bool(false),
		}))
	}
	sum := &awscloudwatch.MetricOptions{Statistic: jsii.String("Sum"), Period: fiveMinutes}
	peak := &awscloudwatch.MetricOptions{Statistic: jsii.String("Maximum"), Period: fiveMinutes}

	// The feed.
	ok, refused := webhookAnswerMetrics(s, p.Ingest)
	alarm(&m.Feed, "WebhookRefused", "POST /webhooks answered other than 200 (5xx, 429 throttled, 401/403 refused, 400, 413): "+
		"Upvest retries that delivery forever and holds back every later one; the access logs say which status and why",
		refused, 1, atLeast, FeedAlarmPeriods)
	period := awscdk.Duration_Seconds(jsii.Number(NoSuccessPeriod.Seconds()))
	alarm(&m.Feed, "WebhookNoSuccess", "requests keep arriving on POST /webhooks and none is answered 200: the feed is blocked",
		awscloudwatch.NewMathExpression(&awscloudwatch.MathExpressionProps{
			Expression: jsii.String("IF(FILL(refused, 0) > 0 AND FILL(ok, 0) == 0, 1, 0)"),
			UsingMetrics: &map[string]awscloudwatch.IMetric{
				"ok":      ok.With(&awscloudwatch.MetricOptions{Period: period}),
				"refused": refused.With(&awscloudwatch.MetricOptions{Period: period}),
			},
			Label:  jsii.String("requests without a 200"),
			Period: period,
		}), 1, atLeast, FeedAlarmNoSuccessPeriods)
	// API Gateway's own count, independent of the access logs reaching CloudWatch.
	alarm(&m.Feed, "Api5xx", "the webhook API answered 5xx", p.Ingest.Stage.MetricServerError(sum), 1, atLeast, FeedAlarmPeriods)
	alarm(&m.Feed, "IngestErrors", "the ingest function failed invocations", p.Ingest.Function.Function.MetricErrors(sum), 1, atLeast, FeedAlarmPeriods)
	alarm(&m.Feed, "IngestThrottles", "the ingest function was throttled (its reserved concurrency is used up)",
		p.Ingest.Function.Function.MetricThrottles(sum), 1, atLeast, FeedAlarmPeriods)

	// The pipeline: one alarm per kind of trouble, across every domain (metric
	// math, in groups of at most maxAlarmMetrics metrics).
	var dead, age, parked, workerErrors []awscloudwatch.IMetric
	// Kept aside as unusable: parked events, and whole requests that were not envelopes.
	parked = append(parked, emf(cfg, observability.MetricParked, ServiceIngest), emf(cfg, observability.MetricRequestsParked, ServiceIngest))
	// Named apart, though also parked: an event ahead of the clock would have
	// pinned its entity's row (an Upvest clock or data bug), and a conflict is
	// an id Upvest sent again with other bytes. A worker's (on replay) is in its EventsParked.
	parked = append(parked, emf(cfg, observability.MetricAhead, ServiceIngest), emf(cfg, observability.MetricConflicting, ServiceIngest))
	for _, pl := range p.Pipelines {
		dead = append(dead, pl.DLQ.MetricApproximateNumberOfMessagesVisible(peak))
		age = append(age, pl.Queue.MetricApproximateAgeOfOldestMessage(peak))
		parked = append(parked, emf(cfg, observability.MetricParked, WorkerService(pl.Domain)))
		// Workers are not throttled by design (each mapping caps its concurrency);
		// a worker that cannot run shows as queue age.
		workerErrors = append(workerErrors, pl.Worker.Function.MetricErrors(sum))
	}
	if p.Consumer != nil {
		dead = append(dead, p.Consumer.Failures.MetricApproximateNumberOfMessagesVisible(peak))
		workerErrors = append(workerErrors, p.Consumer.Function.Function.MetricErrors(sum), p.Consumer.Function.Function.MetricThrottles(sum))
	}
	alarmAcross := func(id, description, fn string, metrics []awscloudwatch.IMetric, threshold float64, op awscloudwatch.ComparisonOperator) {
		for i, group := range groupsOf(metrics, maxAlarmMetrics) {
			groupID := id
			if i > 0 {
				groupID = fmt.Sprintf("%s%d", id, i+1)
			}
			alarm(&m.Pipeline, groupID, description, across(fn, group), threshold, op, PipelineAlarmPeriods)
		}
	}
	alarmAcross("DeadLetters", "messages in a dead-letter queue: events a worker failed repeatedly (see the dashboard for which; redrive once fixed)",
		"MAX", dead, 0, above)
	alarmAcross("QueueAge", fmt.Sprintf("a domain queue's oldest message is older than %d s: a worker is stuck or too slow", cfg.QueueAgeAlarm),
		"MAX", age, float64(cfg.QueueAgeAlarm), above)
	alarmAcross("Parked", fmt.Sprintf("events parked as never processable, among them events more than %s ahead of the clock (EventsAhead) "+
		"and ids sent again with other bytes (EventsConflicting); see the ledger's parked index", events.MaxAhead), "SUM", parked, 1, atLeast)
	alarmAcross("WorkerErrors", "worker (or stream consumer) invocations failed", "SUM", workerErrors, 1, atLeast)
	if cfg.Capacity.Provisioned() {
		// On demand takes any burst; provisioned capacity throttles what outruns auto scaling.
		throttles := writeThrottleMetrics(p.Ledger, schema.LedgerTable, sum)
		for _, pl := range p.Pipelines {
			throttles = append(throttles, writeThrottleMetrics(pl.StateTable, schema.StateTable, sum)...)
		}
		alarmAcross("WriteThrottles", "DynamoDB throttled writes to a table or index (capacityMode=provisioned): a burst outran auto scaling; "+
			"ingest answers 5xx once its retries run out (Upvest retries), workers retry and then dead-letter. "+
			"Raise minWriteCapacity (or maxWriteCapacity if capacity sits at it), or go back to on-demand",
			"SUM", throttles, 1, atLeast)
	}
	if cfg.exportsTraces() {
		// Traces are not worth paging for by themselves, but an exporter that
		// keeps failing (a 403 from X-Ray, a dead collector) would otherwise
		// only warn in the logs while every trace is lost.
		alarmAcross("TracesNotExported", "ingest or a worker failed to export its traces (otelTraces="+cfg.OTelTraces+"; "+
			"the functions' logs say why, e.g. 403: the role lacks xray:PutSpans, or Transaction Search is off)",
			"SUM", tracesNotExportedMetrics(p), 1, atLeast)
	}
	if k := p.KeySync; k != nil {
		// Runs every 15 minutes; the window spans two runs, so a sync that keeps failing stays in ALARM.
		keyWindow := &awscloudwatch.MetricOptions{Statistic: jsii.String("Sum"), Period: awscdk.Duration_Minutes(jsii.Number(KeySyncAlarmPeriod.Minutes()))}
		alarm(&m.Pipeline, "KeySyncErrors", "syncing Upvest's webhook keys into "+cfg.JWKSParameter+" failed (see the keysync logs); "+
			"when Upvest rotates, ingest answers 401 until the parameter is updated", k.Function.MetricErrors(keyWindow), 1, atLeast, 1)
		// A run that never reached the function shows no Lambda error: throttled,
		// or refused to EventBridge Scheduler (TargetErrorCount), or given up
		// after the schedule's retries (InvocationDroppedCount).
		alarm(&m.Pipeline, "KeySyncNotRun", "the key sync did not run: throttled, or EventBridge Scheduler could not invoke it "+
			"(TargetErrorCount) or dropped the run after its retries (InvocationDroppedCount)", keySyncNotRun(k, keyWindow), 1, atLeast, 1)
	}

	capacityAlarms(cfg, p, func(group, id, description string, metric awscloudwatch.IMetric, threshold float64) {
		target, periods := &m.Pipeline, PipelineAlarmPeriods
		if group == "feed" {
			target, periods = &m.Feed, FeedAlarmPeriods
		}
		alarm(target, id, description, metric, threshold, atLeast, periods)
	})

	m.FeedBlocked = composite(s, "FeedBlocked", prefix+"the Upvest feed is blocked or failing: Upvest holds back later deliveries until this clears. "+
		"Components: "+alarmIDs(m.Feed), m.Feed)
	m.PipelineStuck = composite(s, "PipelineStuck", prefix+"events are stuck, dead-lettered or parked behind ingest. Components: "+alarmIDs(m.Pipeline), m.Pipeline)
	if cfg.AlarmEmail != "" {
		m.Topic = newAlarmTopic(s)
		m.Topic.AddSubscription(awssnssubscriptions.NewEmailSubscription(jsii.String(cfg.AlarmEmail), nil))
		action := awscloudwatchactions.NewSnsAction(m.Topic)
		for _, c := range []awscloudwatch.CompositeAlarm{m.FeedBlocked, m.PipelineStuck} {
			c.AddAlarmAction(action)
			c.AddOkAction(action)
		}
	}

	m.Dashboard = newDashboard(s, p, ok, refused)
	return m
}

// webhookAnswerMetrics counts POST /webhooks answers from the access log, 200
// and not: unlike API Gateway's 4xx metric, they ignore requests to other paths
// (scanners' 404s), and they include 429s from the stage throttle.
func webhookAnswerMetrics(scope constructs.Construct, in *Ingest) (ok, refused awscloudwatch.Metric) {
	route := "POST " + WebhookPath
	metric := func(id, name, statusTest string) awscloudwatch.Metric {
		awslogs.NewMetricFilter(scope, jsii.String(id), &awslogs.MetricFilterProps{
			LogGroup: in.AccessLogs,
			FilterPattern: awslogs.FilterPattern_Literal(jsii.String(
				fmt.Sprintf(`{ $.routeKey = %q && $.status %s }`, route, statusTest))),
			MetricNamespace: jsii.String(observability.Namespace),
			MetricName:      jsii.String(name),
			MetricValue:     jsii.String("1"),
			Dimensions:      &map[string]*string{"ApiId": jsii.String("$.apiId")},
			Unit:            awscloudwatch.Unit_COUNT,
		})
		return awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
			Namespace:     jsii.String(observability.Namespace),
			MetricName:    jsii.String(name),
			DimensionsMap: &map[string]*string{"ApiId": in.API.ApiId()},
			Statistic:     jsii.String("Sum"),
			Period:        fiveMinutes,
		})
	}
	// The access log quotes every value, so the status is compared as a string.
	return metric("Webhook200Filter", MetricWebhookOK, `= "200"`), metric("WebhookNot200Filter", MetricWebhookRefused, `!= "200"`)
}

// across is fn (MAX or SUM) over metrics, as one math expression.
func across(fn string, metrics []awscloudwatch.IMetric) awscloudwatch.IMetric {
	using := map[string]awscloudwatch.IMetric{}
	ids := make([]string, len(metrics))
	for i, metric := range metrics {
		ids[i] = fmt.Sprintf("m%d", i)
		using[ids[i]] = metric
	}
	return awscloudwatch.NewMathExpression(&awscloudwatch.MathExpressionProps{
		Expression:   jsii.String(fmt.Sprintf("%s([%s])", fn, strings.Join(ids, ", "))),
		UsingMetrics: &using,
		Period:       fiveMinutes,
	})
}

// groupsOf splits metrics into consecutive groups of at most n.
func groupsOf(metrics []awscloudwatch.IMetric, n int) [][]awscloudwatch.IMetric {
	var groups [][]awscloudwatch.IMetric
	for len(metrics) > n {
		groups = append(groups, metrics[:n])
		metrics = metrics[n:]
	}
	if len(metrics) > 0 {
		groups = append(groups, metrics)
	}
	return groups
}

// composite is in ALARM while any of its components is.
func composite(scope constructs.Construct, id, description string, components []awscloudwatch.Alarm) awscloudwatch.CompositeAlarm {
	rules := make([]awscloudwatch.IAlarmRule, len(components))
	for i, a := range components {
		rules[i] = awscloudwatch.AlarmRule_FromAlarm(a, awscloudwatch.AlarmState_ALARM)
	}
	return awscloudwatch.NewCompositeAlarm(scope, jsii.String(id), &awscloudwatch.CompositeAlarmProps{
		AlarmDescription: jsii.String(description),
		AlarmRule:        awscloudwatch.AlarmRule_AnyOf(rules...),
	})
}

func alarmIDs(alarms []awscloudwatch.Alarm) string {
	ids := make([]string, len(alarms))
	for i, a := range alarms {
		ids[i] = *a.Node().Id()
	}
	return strings.Join(ids, ", ")
}

// writeThrottleMetrics are the WriteThrottleEvents of a table and of each of
// its indexes: a write throttled by an index is counted there, not on the table.
func writeThrottleMetrics(t awsdynamodb.Table, def schema.Table, opts *awscloudwatch.MetricOptions) []awscloudwatch.IMetric {
	name := jsii.String("WriteThrottleEvents")
	metrics := []awscloudwatch.IMetric{t.Metric(name, opts)}
	for _, ix := range def.Indexes {
		metrics = append(metrics, t.Metric(name, &awscloudwatch.MetricOptions{
			Statistic:     opts.Statistic,
			Period:        opts.Period,
			DimensionsMap: &map[string]*string{"TableName": t.TableName(), "GlobalSecondaryIndexName": jsii.String(ix.Name)},
		}))
	}
	return metrics
}

// emf is one of the functions' own counters (see shared/prod/observability),
// this stack's: the functions tag their metrics with the stack's name.
func emf(cfg Config, name, service string) awscloudwatch.Metric {
	return awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
		Namespace:     jsii.String(observability.Namespace),
		MetricName:    jsii.String(name),
		DimensionsMap: &map[string]*string{"Service": jsii.String(service), "Stack": jsii.String(cfg.StackName)},
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
	// What publishing to an encrypted topic takes, named exactly (no
	// GenerateDataKey*), and only for this account's alarms: the same
	// aws:SourceAccount guard as the topic policy (no confused deputy).
	key.AddToResourcePolicy(alarmTopicKeyStatement(cloudwatch, awscdk.Stack_Of(scope).Account()), nil)
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

func newDashboard(scope constructs.Construct, p MonitoringProps, webhookOK, webhookRefused awscloudwatch.Metric) awscloudwatch.Dashboard {
	cfg := p.Config
	functions := []*GoFunction{p.Ingest.Function}
	names := []string{"Ingest"}
	for _, pl := range p.Pipelines {
		functions = append(functions, pl.Worker)
		names = append(names, ConstructName(string(pl.Domain))+"Worker")
	}
	if p.Consumer != nil {
		functions = append(functions, p.Consumer.Function)
		names = append(names, "StreamConsumer")
	}
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
		graph("API requests and errors", 8, api.MetricCount(sum), api.MetricClientError(sum), api.MetricServerError(sum),
			webhookOK.With(&awscloudwatch.MetricOptions{Label: jsii.String("POST /webhooks 200")}),
			webhookRefused.With(&awscloudwatch.MetricOptions{Label: jsii.String("POST /webhooks not 200")})),
		graph("API latency (p99)", 8, api.MetricLatency(&awscloudwatch.MetricOptions{Statistic: jsii.String("p99")}),
			api.MetricIntegrationLatency(&awscloudwatch.MetricOptions{Statistic: jsii.String("p99")})),
		graph("Ingest outcomes", 8,
			emf(cfg, observability.MetricReceived, ServiceIngest), emf(cfg, observability.MetricDuplicate, ServiceIngest),
			emf(cfg, observability.MetricRefanned, ServiceIngest), emf(cfg, observability.MetricEnqueued, ServiceIngest),
			emf(cfg, observability.MetricParked, ServiceIngest), emf(cfg, observability.MetricRequestsParked, ServiceIngest),
			emf(cfg, observability.MetricUnrouted, ServiceIngest),
			emf(cfg, observability.MetricUnauthorized, ServiceIngest), emf(cfg, observability.MetricRejected, ServiceIngest),
			emf(cfg, observability.MetricFailed, ServiceIngest)),
	)
	// One line per service (each worker, and ingest for parked), found by search.
	var workerWidgets []awscloudwatch.IWidget
	for _, name := range []string{observability.MetricApplied, observability.MetricSkippedStale, observability.MetricWorkerDuplicate, observability.MetricParked} {
		search := awscloudwatch.NewMathExpression(&awscloudwatch.MathExpressionProps{
			Expression: jsii.String(fmt.Sprintf(`SEARCH('{%s,Service,Stack} MetricName="%s" Stack="%s"', 'Sum', 300)`,
				observability.Namespace, name, cfg.StackName)),
			Label:  jsii.String(""),
			Period: fiveMinutes,
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
