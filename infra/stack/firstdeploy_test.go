package stack

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"

	"github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/observability"
)

// What a first `cdk deploy` on a new account needs (issue 17), and what the
// options must do once on.

// The all-options fixture: the live one (custom domain, alarm email, stream
// consumer, key sync) with provisioned capacity, traces to X-Ray and the
// stack-owned subscriptions.
const allOptionsFixture = "all-options"

func synthAllOptions(t *testing.T) *synthesized {
	t.Helper()
	fixture := maps.Clone(fixtureContext[Live])
	maps.Copy(fixture, provisionedContext)
	fixture["otelTraces"] = OTelXRay
	fixture["upvestSubscription"] = "true"
	return synthFixture(t, allOptionsFixture, Live, fixture)
}

// CloudFormation refuses a stack of more than 500 resources (and 200
// outputs). The guard fails well before: each domain adds about 27 resources
// with every option on, so crossing it leaves room for a few more domains
// while the stack is split (README "Growing past one stack").
const (
	maxResourcesGuard = 450
	maxOutputsGuard   = 180
)

func TestResourceCountLeavesRoom(t *testing.T) {
	s := synthAllOptions(t)
	n, outputs := len(s.tp.Resources), len(s.tp.Outputs)
	t.Logf("every option on: %d resources (%d domains), %d outputs", n, len(events.Domains()), outputs)
	if n > maxResourcesGuard {
		t.Errorf("%d resources with every option on: above the guard of %d (CloudFormation's limit is 500); "+
			"split the stack before adding more (README \"Growing past one stack\")", n, maxResourcesGuard)
	}
	if outputs > maxOutputsGuard {
		t.Errorf("%d outputs: above the guard of %d (CloudFormation's limit is 200)", outputs, maxOutputsGuard)
	}
}

func TestCdkNagAllOptions(t *testing.T) { checkNag(t, synthAllOptions(t)) }

// X-Ray's span actions, granted to the functions that export traces, only
// when otelTraces=xray (TestLeastPrivilege shows that the other fixtures,
// tracing off, have none).
func TestXRaySpanPermissionsOnlyWithXRay(t *testing.T) {
	spans := grants(xraySpanActions, "*")
	hasSpans := func(s *synthesized, fn string) (all, any bool) {
		role := getAtt(s.tp.Resources[fn].Properties["Role"], "Arn")
		got := s.tp.grantsOf(t, role)
		all = true
		for g := range spans {
			all = all && got[g]
			any = any || got[g]
		}
		return all, any
	}
	s := synthAllOptions(t)
	w := wire(t, s)
	exporters := map[string]string{"ingest": w.ingest}
	for _, d := range events.Domains() {
		exporters["worker "+string(d)] = w.worker[d]
	}
	for name, fn := range exporters {
		if all, _ := hasSpans(s, fn); !all {
			t.Errorf("otelTraces=xray: %s may not call %v", name, xraySpanActions)
		}
	}
	// The stream consumer and the key sync export no traces.
	consumer, _ := consumerIDs(t, s.tp)
	for name, fn := range map[string]string{"stream consumer": consumer, "key sync": keySyncFunction(t, s.tp)} {
		if _, any := hasSpans(s, fn); any {
			t.Errorf("%s exports no traces but may call X-Ray's span actions", name)
		}
	}
	for _, env := range []Environment{Sandbox, Live} {
		s := synth(t, env)
		for _, fn := range s.tp.ofType("AWS::Lambda::Function") {
			if _, any := hasSpans(s, fn); any {
				t.Errorf("%s (otelTraces=off): %s may call X-Ray's span actions", env, fn)
			}
		}
	}
}

// pipelineStuckRule is the rule of the PipelineStuck composite alarm.
func pipelineStuckRule(t *testing.T, tp *template) string {
	t.Helper()
	for _, id := range tp.ofType("AWS::CloudWatch::CompositeAlarm") {
		if strings.HasPrefix(id, "MonitoringPipelineStuck") {
			return render(tp.Resources[id].Properties["AlarmRule"])
		}
	}
	t.Fatal("no PipelineStuck composite alarm")
	return ""
}

// A failing trace exporter (TracesNotExported, counted by shared/prod/tracing)
// alarms through PipelineStuck, for ingest and every worker, when traces are
// exported; without tracing there is no such alarm.
func TestTracesNotExportedAlarm(t *testing.T) {
	s := synthAllOptions(t)
	want := map[string]bool{observability.Namespace + "/" + observability.MetricTracesNotExported + "[Service=" + ServiceIngest + ",Stack=" + s.cfg.StackName + "]": true}
	for _, d := range events.Domains() {
		want[observability.Namespace+"/"+observability.MetricTracesNotExported+"[Service="+WorkerService(d)+",Stack="+s.cfg.StackName+"]"] = true
	}
	rule := pipelineStuckRule(t, s.tp)
	for _, id := range s.tp.ofType("AWS::CloudWatch::Alarm") {
		a := watchedBy(t, id, s.tp.Resources[id].Properties)
		watches := false
		for key := range a.metrics {
			if strings.Contains(key, "/"+observability.MetricTracesNotExported+"[") {
				watches = true
				delete(want, key)
			}
		}
		if !watches {
			continue
		}
		if !strings.HasPrefix(a.expression, "SUM(") || a.props["Threshold"] != 1.0 || a.props["ComparisonOperator"] != "GreaterThanOrEqualToThreshold" {
			t.Errorf("alarm %s: %q %v %v", id, a.expression, a.props["ComparisonOperator"], a.props["Threshold"])
		}
		if !strings.Contains(rule, "${"+id+".Arn}") {
			t.Errorf("alarm %s is not a component of PipelineStuck (%s)", id, rule)
		}
	}
	for key := range want {
		t.Errorf("no alarm on %s", key)
	}
	for _, env := range []Environment{Sandbox, Live} {
		tp := synth(t, env).tp
		for _, id := range tp.ofType("AWS::CloudWatch::Alarm") {
			if strings.Contains(id, "TracesNotExported") {
				t.Errorf("%s (tracing off) has alarm %s", env, id)
			}
		}
	}
}

// keySyncScheduleGroup is the key sync's own schedule group, which holds its schedule.
func keySyncScheduleGroup(t *testing.T, tp *template) string {
	t.Helper()
	groups := tp.ofType("AWS::Scheduler::ScheduleGroup")
	schedules := tp.ofType("AWS::Scheduler::Schedule")
	if len(groups) != 1 || len(schedules) != 1 {
		t.Fatalf("schedule groups %v, schedules %v: want one of each", groups, schedules)
	}
	if got := refID(tp.Resources[schedules[0]].Properties["GroupName"]); got != groups[0] {
		t.Errorf("schedule %s is in group %v, want %s", schedules[0], tp.Resources[schedules[0]].Properties["GroupName"], groups[0])
	}
	return groups[0]
}

// Scheduler's failures to run the key sync are PipelineStuck components too
// (TestAlarms checks their metrics and thresholds).
func TestKeySyncSchedulerAlarmsArePipelineStuckComponents(t *testing.T) {
	tp := synth(t, Live).tp
	group := keySyncScheduleGroup(t, tp)
	rule := pipelineStuckRule(t, tp)
	for _, metric := range []string{"TargetErrorCount", "InvocationDroppedCount"} {
		found := 0
		for _, id := range tp.ofType("AWS::CloudWatch::Alarm") {
			a := watchedBy(t, id, tp.Resources[id].Properties)
			if _, ok := a.metrics["AWS/Scheduler/"+metric+"[ScheduleGroup=${"+group+"}]"]; ok {
				found++
				if !strings.Contains(rule, "${"+id+".Arn}") {
					t.Errorf("%s alarm %s is not in PipelineStuck", metric, id)
				}
			}
		}
		if found != 1 {
			t.Errorf("%d alarms on the key sync schedule's %s, want 1", found, metric)
		}
	}
}

// CloudWatch may use the alarm topic's key only for this account's alarms.
func TestAlarmTopicKeyGrantsCloudWatchForThisAccountOnly(t *testing.T) {
	tp := synth(t, Live).tp
	keys := tp.ofType("AWS::KMS::Key")
	if len(keys) != 1 {
		t.Fatalf("keys %v", keys)
	}
	found := false
	for _, st := range dig(tp.Resources[keys[0]].Properties, "KeyPolicy", "Statement").([]any) {
		if dig(st, "Principal", "Service") != "cloudwatch.amazonaws.com" {
			continue
		}
		found = true
		if got := stringsOf(dig(st, "Action")); !slices.Equal(got, []string{"kms:Decrypt", "kms:GenerateDataKey"}) {
			t.Errorf("CloudWatch may %v", got)
		}
		if got := dig(st, "Condition", "StringEquals", "aws:SourceAccount"); got != liveAccount {
			t.Errorf("CloudWatch's key grant: aws:SourceAccount %v, want %s (statement %v)", got, liveAccount, st)
		}
	}
	if !found {
		t.Error("the key policy does not let CloudWatch use the key")
	}
}

// Sandbox and live APIs are told apart by name.
func TestAPINamesDiffer(t *testing.T) {
	names := map[Environment]any{}
	for _, env := range []Environment{Sandbox, Live} {
		tp := synth(t, env).tp
		api := tp.ofType("AWS::ApiGatewayV2::Api")[0]
		names[env] = tp.Resources[api].Properties["Name"]
		if names[env] != "upvest-webhooks-"+string(env) {
			t.Errorf("%s API name %v", env, names[env])
		}
	}
}

// Without a basePath, the API mapping (key "") has a clean logical id; with
// one (the live fixture) TestIngestFunctionAndAPI checks the mapping.
func TestAPIMappingWithoutBasePath(t *testing.T) {
	cfg, err := Load(contextOf(map[string]any{"env": "live", "domainName": liveDomain, "certificateArn": liveCert}))
	if err != nil {
		t.Fatal(err)
	}
	cfg.AssetsDir = assetsDir
	app := awscdk.NewApp(nil)
	st := awscdk.NewStack(app, jsii.String("T"), nil)
	ledger := NewLedgerTable(st, "Ledger", cfg.Capacity)
	NewIngest(st, "Ingest", cfg, ledger, []*Pipeline{NewPipeline(st, "Pipeline", cfg, events.Unrouted, ledger)})
	tp := parseTemplate(t, *assertions.Template_FromStack(st, nil).ToJSON())
	mappings := tp.ofType("AWS::ApiGatewayV2::ApiMapping")
	if len(mappings) != 1 {
		t.Fatalf("mappings %v", mappings)
	}
	m := tp.Resources[mappings[0]]
	if strings.Contains(strings.ToLower(mappings[0]), "undefined") || m.Properties["ApiMappingKey"] != nil {
		t.Errorf("mapping %s: key %v", mappings[0], m.Properties["ApiMappingKey"])
	}
	if stages := tp.ofType("AWS::ApiGatewayV2::Stage"); len(stages) != 1 || !slices.Contains(stringsOf(m.DependsOn), stages[0]) {
		t.Errorf("mapping depends on %v, want the stage %v", m.DependsOn, stages)
	}
}

func TestCertificateRegionIsChecked(t *testing.T) {
	cfg := Config{DomainName: liveDomain, CertificateARN: liveCert}
	if err := cfg.CheckRegion(liveRegion); err != nil {
		t.Errorf("certificate in the stack's region: %v", err)
	}
	if err := cfg.CheckRegion(""); err != nil {
		t.Errorf("unknown region: %v", err)
	}
	err := cfg.CheckRegion("us-east-1")
	if err == nil || !strings.Contains(err.Error(), "certificate is in eu-central-1, but the stack deploys to us-east-1") {
		t.Errorf("certificate from another region: %v", err)
	}
	if err := (Config{CertificateARN: "arn:aws:iam::123456789012:server-certificate/x"}).CheckRegion("eu-central-1"); err == nil {
		t.Error("an IAM server certificate passed as an ACM one")
	}

	// A stack with a known region fails its synthesis on the mismatch.
	app := awscdk.NewApp(nil)
	st := awscdk.NewStack(app, jsii.String("T"), &awscdk.StackProps{Env: &awscdk.Environment{Account: jsii.String(liveAccount), Region: jsii.String("us-east-1")}})
	checkRegion(st, cfg)
	if errs := *assertions.Annotations_FromStack(st).FindError(jsii.String("*"), assertions.Match_StringLikeRegexp(jsii.String("certificateArn"))); len(errs) != 1 {
		t.Errorf("synthesis errors %d, want 1 about certificateArn", len(errs))
	}
}

// The key sync and the subscription function read the API client's secret
// with a client of their own region (the stack's), and Secrets Manager answers
// only for its own region's secrets: a secret from another region deploys,
// then every run fails (and with upvestSubscription the deploy rolls back).
// The synth refuses it, as it refuses a certificate from another region.
func TestSecretRegionIsChecked(t *testing.T) {
	cfg := Config{UpvestAPISecretARN: liveSecret}
	if err := cfg.CheckRegion(liveRegion); err != nil {
		t.Errorf("secret in the stack's region: %v", err)
	}
	if err := cfg.CheckRegion(""); err != nil {
		t.Errorf("unknown region: %v", err)
	}
	err := cfg.CheckRegion("us-east-1")
	if err == nil || !strings.Contains(err.Error(), "upvestApiSecretArn: the secret is in eu-central-1, but the stack deploys to us-east-1") {
		t.Errorf("secret from another region: %v", err)
	}

	app := awscdk.NewApp(nil)
	st := awscdk.NewStack(app, jsii.String("T"), &awscdk.StackProps{Env: &awscdk.Environment{Account: jsii.String(liveAccount), Region: jsii.String("us-east-1")}})
	checkRegion(st, cfg)
	if errs := *assertions.Annotations_FromStack(st).FindError(jsii.String("*"), assertions.Match_StringLikeRegexp(jsii.String("upvestApiSecretArn"))); len(errs) != 1 {
		t.Errorf("synthesis errors %d, want 1 about upvestApiSecretArn", len(errs))
	}
}

// No two scaling resources of one table are created at once: its scalable
// targets and policies form one DependsOn chain (the tables themselves, 14,
// proceed in parallel).
func TestProvisionedScalingIsSerialisedPerTable(t *testing.T) {
	tp := synthProvisioned(t).tp
	byTable := map[string][]string{}
	targetTable := map[string]string{}
	for _, id := range tp.ofType("AWS::ApplicationAutoScaling::ScalableTarget") {
		table := strings.SplitN(render(tp.Resources[id].Properties["ResourceId"]), "/", 3)[1]
		targetTable[id] = table
		byTable[table] = append(byTable[table], id)
	}
	for _, id := range tp.ofType("AWS::ApplicationAutoScaling::ScalingPolicy") {
		table := targetTable[refID(tp.Resources[id].Properties["ScalingTargetId"])]
		byTable[table] = append(byTable[table], id)
	}
	if len(byTable) != len(dataTablesOf(tp)) {
		t.Fatalf("scaling for %d tables, want %d", len(byTable), len(dataTablesOf(tp)))
	}
	for table, ids := range byTable {
		for i, a := range ids {
			for _, b := range ids[i+1:] {
				if !tp.dependsOn(a, b) && !tp.dependsOn(b, a) {
					t.Errorf("table %s: %s and %s can be created at the same time", table, a, b)
				}
			}
		}
	}
}

// dataTablesOf lists the DynamoDB tables of a template.
func dataTablesOf(tp *template) []string { return tp.ofType("AWS::DynamoDB::Table") }

// referencedIDs are the logical ids that v refers to with Ref or Fn::GetAtt, at any depth.
func referencedIDs(v any) []string {
	var out []string
	switch x := v.(type) {
	case map[string]any:
		if id := refID(x); id != "" {
			return []string{id}
		}
		if ga, ok := x["Fn::GetAtt"].([]any); ok && len(ga) == 2 {
			if id, ok := ga[0].(string); ok {
				return []string{id}
			}
		}
		for _, e := range x {
			out = append(out, referencedIDs(e)...)
		}
	case []any:
		for _, e := range x {
			out = append(out, referencedIDs(e)...)
		}
	}
	return out
}

// TestIngestMemoryFitsANewAccount: a new AWS account's "Function memory
// maximum" can be 3,008 MB, and Lambda refuses ingest's 3,538 MB there
// ("'MemorySize' value failed to satisfy constraint: Member must have value
// less than or equal to 3008"), which rolls the first deploy back. The
// README's first deploy sets ingestMemoryMB below it; the default stays the
// benchmarked 3,538 MB, and Lambda's own range is checked at load.
func TestIngestMemoryFitsANewAccount(t *testing.T) {
	s := synthFixture(t, "sandbox-new-account", Sandbox, map[string]any{"ingestMemoryMB": "3008"})
	if got := s.tp.Resources[wire(t, s).ingest].Properties["MemorySize"]; got != 3008.0 {
		t.Errorf("ingestMemoryMB=3008: ingest MemorySize %v", got)
	}
	def := synth(t, Sandbox)
	if got := def.tp.Resources[wire(t, def).ingest].Properties["MemorySize"]; got != float64(IngestMemoryMB) {
		t.Errorf("default ingest MemorySize %v, want %d", got, IngestMemoryMB)
	}
	for _, bad := range []string{"127", "10241", "3008MB"} {
		if _, err := Load(contextOf(map[string]any{"ingestMemoryMB": bad})); err == nil || !strings.Contains(err.Error(), "ingestMemoryMB") {
			t.Errorf("ingestMemoryMB=%s: %v", bad, err)
		}
	}
}

// TestAlarmsWatchTheirOwnStacksMetrics: sandbox and live may share an
// account and region (README "Sandbox and live"). The functions' EMF
// metrics then carry the stack's name as a dimension, and each stack's
// alarms watch only its own: otherwise a parked event in the sandbox would
// raise live's PipelineStuck, and the other way round.
func TestAlarmsWatchTheirOwnStacksMetrics(t *testing.T) {
	emfMetrics := func(s *synthesized) map[string]bool {
		keys := map[string]bool{}
		for _, id := range s.tp.ofType("AWS::CloudWatch::Alarm") {
			for key := range watchedBy(t, id, s.tp.Resources[id].Properties).metrics {
				if strings.HasPrefix(key, observability.Namespace+"/") && !strings.Contains(key, "ApiId=") {
					keys[key] = true
				}
			}
		}
		if len(keys) == 0 {
			t.Fatalf("%s: no alarm on the functions' own metrics", s.cfg.StackName)
		}
		return keys
	}
	sandbox, live := synth(t, Sandbox), synth(t, Live)
	liveKeys := emfMetrics(live)
	for key := range emfMetrics(sandbox) {
		if liveKeys[key] {
			t.Errorf("the sandbox and live stacks both alarm on %s", key)
		}
	}
	for _, s := range []*synthesized{sandbox, live} {
		for key := range emfMetrics(s) {
			if !strings.Contains(key, ",Stack="+s.cfg.StackName+"]") {
				t.Errorf("%s alarms on %s, not only its own stack's", s.cfg.StackName, key)
			}
		}
		for _, fn := range s.tp.ofType("AWS::Lambda::Function") {
			if dig(s.tp.Resources[fn].Properties, "Handler") != "bootstrap" {
				continue // the Provider framework's relay emits no metrics
			}
			if got := dig(s.tp.Resources[fn].Properties, "Environment", "Variables", observability.EnvStack); got != s.cfg.StackName {
				t.Errorf("%s: function %s has %s=%v", s.cfg.StackName, fn, observability.EnvStack, got)
			}
		}
	}
}
