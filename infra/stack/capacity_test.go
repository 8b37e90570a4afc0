package stack

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/schema"
)

// dataTables maps every table of the template to its definition in shared/prod/schema.
func dataTables(t *testing.T, s *synthesized) map[string]schema.Table {
	t.Helper()
	w := wire(t, s)
	out := map[string]schema.Table{w.ledger: schema.LedgerTable}
	for _, d := range events.Domains() {
		out[w.table[d]] = schema.StateTable
	}
	if got := s.tp.ofType("AWS::DynamoDB::Table"); len(got) != len(out) {
		t.Fatalf("tables %v, want the ledger and one state table per domain", got)
	}
	return out
}

func TestTablesAreOnDemandByDefault(t *testing.T) {
	eachEnv(t, func(t *testing.T, s *synthesized) {
		if s.cfg.Capacity.Mode != CapacityOnDemand {
			t.Errorf("capacity mode %q", s.cfg.Capacity.Mode)
		}
		for id := range dataTables(t, s) {
			p := s.tp.Resources[id].Properties
			if p["BillingMode"] != "PAY_PER_REQUEST" || p["ProvisionedThroughput"] != nil {
				t.Errorf("table %s: billing %v, throughput %v", id, p["BillingMode"], p["ProvisionedThroughput"])
			}
			for _, ix := range p["GlobalSecondaryIndexes"].([]any) {
				if dig(ix, "ProvisionedThroughput") != nil {
					t.Errorf("table %s index %v has provisioned throughput", id, dig(ix, "IndexName"))
				}
			}
		}
		for _, typ := range []string{"AWS::ApplicationAutoScaling::ScalableTarget", "AWS::ApplicationAutoScaling::ScalingPolicy"} {
			if ids := s.tp.ofType(typ); len(ids) != 0 {
				t.Errorf("on demand, yet %s: %v", typ, ids)
			}
		}
		// On demand throttles too, above a table's start or on a hot
		// partition: the OnDemandWriteThrottles alarms watch it
		// (TestAlarmsBeforeLimits), and only they.
		for _, id := range s.tp.ofType("AWS::CloudWatch::Alarm") {
			if b, _ := json.Marshal(s.tp.Resources[id].Properties); strings.Contains(string(b), "ThrottleEvents") && !strings.Contains(id, "OnDemandWriteThrottles") {
				t.Errorf("on demand, yet alarm %s watches DynamoDB throttling", id)
			}
		}
	})
}

// A scalable dimension of a table or an index, as Application Auto Scaling names it.
type scaled struct{ resource, dimension string }

func TestProvisionedTablesScaleEveryTableAndIndex(t *testing.T) {
	s := synthProvisioned(t)
	c := s.cfg.Capacity
	// The fixture's bounds, none of them a default: each must reach the template.
	if want := (TableCapacity{Mode: CapacityProvisioned, MinWrite: 10, MaxWrite: 500, MinRead: 2, MaxRead: 100, TargetUtilization: 60}); c != want {
		t.Fatalf("fixture capacity %+v, want %+v", c, want)
	}
	throughput := map[string]any{"ReadCapacityUnits": float64(c.MinRead), "WriteCapacityUnits": float64(c.MinWrite)}

	// Every table and every index starts at the minimums; each needs a write and a read target.
	bounds := map[string][2]float64{
		"WriteCapacityUnits": {float64(c.MinWrite), float64(c.MaxWrite)},
		"ReadCapacityUnits":  {float64(c.MinRead), float64(c.MaxRead)},
	}
	want := map[scaled][2]float64{}
	for id, def := range dataTables(t, s) {
		p := s.tp.Resources[id].Properties
		// CloudFormation's default billing mode is PROVISIONED, which CDK leaves out.
		if b := p["BillingMode"]; b != nil && b != "PROVISIONED" || !reflect.DeepEqual(p["ProvisionedThroughput"], throughput) {
			t.Errorf("table %s: billing %v, throughput %v, want PROVISIONED, %v", id, b, p["ProvisionedThroughput"], throughput)
		}
		ixs, _ := p["GlobalSecondaryIndexes"].([]any)
		if len(ixs) != len(def.Indexes) {
			t.Fatalf("table %s: %d indexes, want %d", id, len(ixs), len(def.Indexes))
		}
		for i, ix := range def.Indexes {
			if dig(ixs[i], "IndexName") != ix.Name || !reflect.DeepEqual(dig(ixs[i], "ProvisionedThroughput"), throughput) {
				t.Errorf("table %s index %v: throughput %v, want %s with %v", id, dig(ixs[i], "IndexName"), dig(ixs[i], "ProvisionedThroughput"), ix.Name, throughput)
			}
		}
		for unit, b := range bounds {
			want[scaled{"table/${" + id + "}", "dynamodb:table:" + unit}] = b
			for _, ix := range def.Indexes {
				want[scaled{"table/${" + id + "}/index/" + ix.Name, "dynamodb:index:" + unit}] = b
			}
		}
	}

	targets := map[string]scaled{}
	for _, id := range s.tp.ofType("AWS::ApplicationAutoScaling::ScalableTarget") {
		p := s.tp.Resources[id].Properties
		key := scaled{render(p["ResourceId"]), fmt.Sprint(p["ScalableDimension"])}
		b, ok := want[key]
		if !ok {
			t.Errorf("scalable target %s: %v is not a table's or index's, or is scaled twice", id, key)
			continue
		}
		delete(want, key)
		targets[id] = key
		if p["ServiceNamespace"] != "dynamodb" || p["MinCapacity"] != b[0] || p["MaxCapacity"] != b[1] {
			t.Errorf("scalable target %s (%v): %v, %v..%v, want dynamodb, %v..%v", id, key, p["ServiceNamespace"], p["MinCapacity"], p["MaxCapacity"], b[0], b[1])
		}
		// DynamoDB's service-linked role: no role of the stack's own.
		if role := render(p["RoleARN"]); !strings.HasSuffix(role, ":role/aws-service-role/dynamodb.application-autoscaling.amazonaws.com/AWSServiceRoleForApplicationAutoScaling_DynamoDBTable") {
			t.Errorf("scalable target %s role %s", id, role)
		}
	}
	for key := range want {
		t.Errorf("no scalable target for %v", key)
	}

	// Each target tracks its own utilisation at the target.
	policies := map[string]int{}
	for _, id := range s.tp.ofType("AWS::ApplicationAutoScaling::ScalingPolicy") {
		p := s.tp.Resources[id].Properties
		target := refID(p["ScalingTargetId"])
		key, ok := targets[target]
		if !ok {
			t.Errorf("scaling policy %s scales %v, not a table's target", id, p["ScalingTargetId"])
			continue
		}
		policies[target]++
		metric := "DynamoDBWriteCapacityUtilization"
		if strings.HasSuffix(key.dimension, "ReadCapacityUnits") {
			metric = "DynamoDBReadCapacityUtilization"
		}
		cfg := p["TargetTrackingScalingPolicyConfiguration"]
		if p["PolicyType"] != "TargetTrackingScaling" || dig(cfg, "PredefinedMetricSpecification", "PredefinedMetricType") != metric ||
			dig(cfg, "TargetValue") != float64(c.TargetUtilization) {
			t.Errorf("scaling policy %s (%v): %v %v, want TargetTrackingScaling on %s at %d", id, key, p["PolicyType"], cfg, metric, c.TargetUtilization)
		}
	}
	for id, key := range targets {
		if policies[id] != 1 {
			t.Errorf("scalable target %s (%v) has %d scaling policies, want 1", id, key, policies[id])
		}
	}

	// CloudFormation's quota: every table and index brings two targets and two policies.
	if n := len(s.tp.Resources); n > 500 {
		t.Errorf("%d resources; a CloudFormation stack may have 500", n)
	}
}

// withoutCapacity is a table with its billing mode and provisioned throughput
// (the table's and its indexes') removed; anything else is returned as is.
func withoutCapacity(t *testing.T, r resource) resource {
	t.Helper()
	if r.Type != "AWS::DynamoDB::Table" {
		return r
	}
	var out resource
	b, err := json.Marshal(r)
	if err == nil {
		err = json.Unmarshal(b, &out)
	}
	if err != nil {
		t.Fatal(err)
	}
	delete(out.Properties, "BillingMode")
	delete(out.Properties, "ProvisionedThroughput")
	ixs, _ := out.Properties["GlobalSecondaryIndexes"].([]any)
	for _, ix := range ixs {
		delete(ix.(map[string]any), "ProvisionedThroughput")
	}
	return out
}

// Provisioned mode changes the capacity and adds auto scaling and throttle
// alarms; everything else (PITR, encryption, retention, streams, TTL, indexes,
// functions, grants) is the on-demand template's.
func TestProvisionedChangesOnlyCapacity(t *testing.T) {
	onDemand, prov := synth(t, Live), synthProvisioned(t)
	for id, r := range onDemand.tp.Resources {
		p, ok := prov.tp.Resources[id]
		switch {
		case !ok && strings.HasPrefix(id, "MonitoringOnDemandWriteThrottles"):
			// Provisioned tables have the WriteThrottles alarm instead (TestProvisionedWriteThrottlesAlarm).
		case !ok:
			t.Errorf("provisioned template lacks %s (%s)", id, r.Type)
		case r.Type == "AWS::CloudWatch::CompositeAlarm":
			// Gains the throttle alarms (TestProvisionedWriteThrottlesAlarm).
		case r.Type == "AWS::DynamoDB::Table" && r.Properties["BillingMode"] != "PAY_PER_REQUEST":
			t.Errorf("on-demand table %s billed %v", id, r.Properties["BillingMode"])
		case !reflect.DeepEqual(withoutCapacity(t, r), withoutCapacity(t, p)):
			a, _ := json.Marshal(r)
			b, _ := json.Marshal(p)
			t.Errorf("%s differs beyond capacity:\n on demand   %s\n provisioned %s", id, a, b)
		}
	}
	added := map[string]bool{
		"AWS::ApplicationAutoScaling::ScalableTarget": true, "AWS::ApplicationAutoScaling::ScalingPolicy": true, "AWS::CloudWatch::Alarm": true,
	}
	for id, r := range prov.tp.Resources {
		if _, ok := onDemand.tp.Resources[id]; !ok && !added[r.Type] {
			t.Errorf("provisioned template adds %s (%s)", id, r.Type)
		}
	}
}

func TestCdkNagProvisioned(t *testing.T) {
	checkNag(t, synthProvisioned(t))
}

// In provisioned mode every table's and every index's WriteThrottleEvents is
// watched, by metric-math alarms that are components of PipelineStuck.
func TestProvisionedWriteThrottlesAlarm(t *testing.T) {
	s := synthProvisioned(t)
	tp, w := s.tp, wire(t, s)
	want := map[string]bool{}
	for id, def := range dataTables(t, s) {
		want["AWS/DynamoDB/WriteThrottleEvents[TableName=${"+id+"}]"] = true
		for _, ix := range def.Indexes {
			want["AWS/DynamoDB/WriteThrottleEvents[GlobalSecondaryIndexName="+ix.Name+",TableName=${"+id+"}]"] = true
		}
	}
	alarmsOf := map[string][]string{}
	var throttleAlarms []string
	dlqAlarm := ""
	dlq := "AWS/SQS/ApproximateNumberOfMessagesVisible[QueueName=${" + w.dlq[events.Domains()[0]] + ".QueueName}]"
	for _, id := range tp.ofType("AWS::CloudWatch::Alarm") {
		p := tp.Resources[id].Properties
		a := watchedBy(t, id, p)
		if _, ok := a.metrics[dlq]; ok {
			dlqAlarm = id
		}
		throttles := 0
		for key, stat := range a.metrics {
			if !strings.Contains(key, "ThrottleEvents") {
				continue
			}
			throttles++
			if !want[key] {
				t.Errorf("alarm %s watches %s, not a table's or index's write throttles", id, key)
			}
			if stat != "Sum" {
				t.Errorf("alarm %s: %s by %s, want Sum", id, key, stat)
			}
			alarmsOf[key] = append(alarmsOf[key], id)
		}
		if throttles == 0 {
			continue
		}
		throttleAlarms = append(throttleAlarms, id)
		if throttles != len(a.metrics) || len(a.metrics) > maxAlarmMetrics || !strings.HasPrefix(a.expression, "SUM(") {
			t.Errorf("alarm %s: %q over %d metrics (%d write throttles), want SUM over at most %d, all write throttles",
				id, a.expression, len(a.metrics), throttles, maxAlarmMetrics)
		}
		// Any throttled write: it raises the alarm, which never notifies on its own.
		if p["ComparisonOperator"] != "GreaterThanOrEqualToThreshold" || p["Threshold"] != 1.0 || p["DatapointsToAlarm"] != 1.0 ||
			p["TreatMissingData"] != "notBreaching" || p["ActionsEnabled"] != false || p["AlarmActions"] != nil {
			t.Errorf("alarm %s: %v %v, %v datapoints, missing data %v, actions %v %v", id, p["ComparisonOperator"], p["Threshold"],
				p["DatapointsToAlarm"], p["TreatMissingData"], p["ActionsEnabled"], p["AlarmActions"])
		}
		if window := p["EvaluationPeriods"].(float64) * a.period; a.period != 300 || window <= UpvestMaxBackoff {
			t.Errorf("alarm %s: period %v s, looks back %v s; want 300 s periods over more than %v s", id, a.period, window, UpvestMaxBackoff)
		}
	}
	for key := range want {
		if len(alarmsOf[key]) != 1 {
			t.Errorf("%s is watched by %v, want exactly one alarm", key, alarmsOf[key])
		}
	}

	// Components of the composite that holds the dead-letter alarms, and of no other.
	if dlqAlarm == "" {
		t.Fatal("no dead-letter alarm")
	}
	parents := func(alarm string) []string {
		var out []string
		for _, id := range tp.ofType("AWS::CloudWatch::CompositeAlarm") {
			if strings.Contains(render(tp.Resources[id].Properties["AlarmRule"]), `ALARM("${`+alarm+`.Arn}")`) {
				out = append(out, id)
			}
		}
		return out
	}
	pipelineStuck := parents(dlqAlarm)
	for _, id := range throttleAlarms {
		if got := parents(id); !reflect.DeepEqual(got, pipelineStuck) {
			t.Errorf("throttle alarm %s is in composites %v, want %v", id, got, pipelineStuck)
		}
	}
	// The composites list their components in the description: CloudWatch takes 1024 characters.
	for _, id := range tp.ofType("AWS::CloudWatch::CompositeAlarm") {
		if d := fmt.Sprint(tp.Resources[id].Properties["AlarmDescription"]); len(d) > 1024 {
			t.Errorf("composite %s: description of %d characters, CloudWatch allows 1024", id, len(d))
		}
	}
}
