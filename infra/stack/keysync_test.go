package stack

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	fnconfig "github.com/upvest-webhooks/upvest-webhooks/shared/prod/config"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/observability"
)

// keySyncFunction finds the key sync function by its configuration, or "".
func keySyncFunction(t *testing.T, tp *template) string {
	t.Helper()
	found := ""
	for _, id := range tp.ofType("AWS::Lambda::Function") {
		vars := dig(tp.Resources[id].Properties, "Environment", "Variables")
		if dig(vars, fnconfig.EnvUpvestAPISecret) != nil && dig(vars, EnvKeySyncFunction) == nil { // not the subscription function
			if found != "" {
				t.Fatalf("two key sync functions: %s, %s", found, id)
			}
			found = id
		}
	}
	return found
}

// TestKeySync: the sandbox fixture has no upvestApiSecretArn and so no key
// sync at all (the JWKS parameter is managed by hand); the live fixture has
// the function, its schedule, exact grants, alarms and output.
func TestKeySync(t *testing.T) {
	eachEnv(t, func(t *testing.T, s *synthesized) {
		tp := s.tp
		fn := keySyncFunction(t, tp)
		if !s.cfg.KeySyncEnabled() {
			if fn != "" || len(tp.ofType("AWS::Scheduler::Schedule")) != 0 || tp.Outputs["KeySyncFunctionName"] != nil {
				t.Errorf("key sync deployed without upvestApiSecretArn: function %q, schedules %v", fn, tp.ofType("AWS::Scheduler::Schedule"))
			}
			return
		}
		if fn == "" {
			t.Fatal("no key sync function")
		}
		checkGoFunction(t, s, fn, KeySyncMemoryMB, KeySyncTimeout.Seconds())
		code := dig(tp.Resources[fn].Properties, "Code")
		if dig(code, "S3Key") == nil {
			t.Errorf("code is not an asset: %v", code)
		}
		if asset, _ := dig(tp.Resources[fn].Metadata, "aws:asset:path").(string); asset != "" && !strings.Contains(asset, "asset.") {
			t.Errorf("asset path %q", asset)
		}
		env := dig(tp.Resources[fn].Properties, "Environment", "Variables")
		want := map[string]any{
			fnconfig.EnvUpvestAPIBaseURL:    "https://api.upvest.co", // live's default
			fnconfig.EnvUpvestAPISecret:     liveSecret,
			fnconfig.EnvKeySyncSSMParameter: "/upvest-webhooks/live/jwks", // the one ingest reads
			EnvLogLevel:                     "warn",                       // the live fixture's
			observability.EnvStack:          "upvest-webhooks-live",
		}
		if !reflect.DeepEqual(env, want) {
			t.Errorf("env %v\nwant %v", env, want)
		}

		// Least privilege: its log group, X-Ray, the one secret, the one parameter.
		logs := refID(dig(tp.Resources[fn].Properties, "LoggingConfig", "LogGroup"))
		wantGrants := union(
			grants([]string{"logs:CreateLogStream", "logs:PutLogEvents"}, "${"+logs+".Arn}"),
			grants([]string{"xray:PutTraceSegments", "xray:PutTelemetryRecords"}, "*"),
			grants([]string{"secretsmanager:GetSecretValue"}, liveSecret),
			grants([]string{"ssm:GetParameter", "ssm:PutParameter"}, "arn:aws:ssm:"+liveRegion+":"+liveAccount+":parameter/upvest-webhooks/live/jwks"),
		)
		role := getAtt(tp.Resources[fn].Properties["Role"], "Arn")
		if extra, missing := diffGrants(tp.grantsOf(t, role), wantGrants); len(extra) > 0 || len(missing) > 0 {
			t.Errorf("key sync role:\n  granted beyond need: %v\n  needed, not granted: %v", extra, missing)
		}

		// Every 15 minutes, by a role that may invoke this function only.
		schedules := tp.ofType("AWS::Scheduler::Schedule")
		if len(schedules) != 1 {
			t.Fatalf("schedules %v", schedules)
		}
		sp := tp.Resources[schedules[0]].Properties
		if sp["ScheduleExpression"] != "rate(15 minutes)" || sp["State"] != "ENABLED" || dig(sp, "FlexibleTimeWindow", "Mode") != "OFF" {
			t.Errorf("schedule %v", sp)
		}
		if got := getAtt(dig(sp, "Target", "Arn"), "Arn"); got != fn {
			t.Errorf("schedule targets %v, want %s", dig(sp, "Target", "Arn"), fn)
		}
		schedRole := getAtt(dig(sp, "Target", "RoleArn"), "Arn")
		if extra, missing := diffGrants(tp.grantsOf(t, schedRole), grants([]string{"lambda:InvokeFunction"}, "${"+fn+".Arn}")); len(extra) > 0 || len(missing) > 0 {
			t.Errorf("schedule role:\n  granted beyond need: %v\n  needed, not granted: %v", extra, missing)
		}
		trust := dig(tp.Resources[schedRole].Properties, "AssumeRolePolicyDocument", "Statement", 0)
		if dig(trust, "Principal", "Service") != "scheduler.amazonaws.com" ||
			dig(trust, "Condition", "StringEquals", "aws:SourceAccount") != liveAccount {
			t.Errorf("schedule role trust %v", trust)
		}

		// A failed sync alarms (Errors ≥ 1 over 30 minutes), to the alarm topic.
		var errorsAlarm map[string]any
		for _, id := range tp.ofType("AWS::CloudWatch::Alarm") {
			p := tp.Resources[id].Properties
			if alarmOn(p) == "AWS/Lambda/Errors[FunctionName=${"+fn+"}]" {
				errorsAlarm = p
			}
		}
		if errorsAlarm == nil {
			t.Fatal("no alarm on the key sync's errors")
		}
		if errorsAlarm["Period"] != KeySyncAlarmPeriod.Seconds() || errorsAlarm["Threshold"] != 1.0 ||
			errorsAlarm["ComparisonOperator"] != "GreaterThanOrEqualToThreshold" {
			t.Errorf("errors alarm %v", errorsAlarm)
		}
		// It pages through PipelineStuck, like every component (TestAlarms checks the composites).
		pipelineStuck := ""
		for _, id := range tp.ofType("AWS::CloudWatch::CompositeAlarm") {
			if strings.HasPrefix(id, "MonitoringPipelineStuck") {
				pipelineStuck = render(tp.Resources[id].Properties["AlarmRule"])
			}
		}
		if !strings.Contains(pipelineStuck, "KeySyncErrors") {
			t.Errorf("PipelineStuck's rule %q does not include the key sync's errors", pipelineStuck)
		}

		if got := render(tp.Outputs["KeySyncFunctionName"]["Value"]); got != "${"+fn+"}" {
			t.Errorf("KeySyncFunctionName output %q", got)
		}
	})
}

func TestLoadKeySync(t *testing.T) {
	const secret = "arn:aws:secretsmanager:eu-central-1:111111111111:secret:upvest-api-AbCdEf"
	for env, wantURL := range map[Environment]string{Sandbox: "https://sandbox.upvest.co", Live: "https://api.upvest.co"} {
		c, err := Load(contextOf(map[string]any{"env": string(env), "upvestApiSecretArn": secret}))
		if err != nil || !c.KeySyncEnabled() || c.UpvestAPIBaseURL != wantURL || c.UpvestAPISecretARN != secret {
			t.Errorf("%s: %+v, %v", env, c, err)
		}
	}
	c, err := Load(contextOf(map[string]any{"upvestApiSecretArn": secret, "upvestApiBaseUrl": "https://proxy.example.com/upvest/"}))
	if err != nil || c.UpvestAPIBaseURL != "https://proxy.example.com/upvest" {
		t.Errorf("base URL override: %+v, %v", c, err)
	}

	for name, tt := range map[string]struct {
		context map[string]any
		want    string
	}{
		"partial ARN":         {map[string]any{"upvestApiSecretArn": "upvest-api"}, "upvestApiSecretArn"},
		"not a secret":        {map[string]any{"upvestApiSecretArn": "arn:aws:ssm:eu-central-1:1:parameter/x"}, "upvestApiSecretArn"},
		"plain http":          {map[string]any{"upvestApiSecretArn": secret, "upvestApiBaseUrl": "http://sandbox.upvest.co"}, "upvestApiBaseUrl"},
		"base URL, no secret": {map[string]any{"upvestApiBaseUrl": "https://sandbox.upvest.co"}, "needs upvestApiSecretArn"},
	} {
		if _, err := Load(contextOf(tt.context)); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want an error about %s", name, err, tt.want)
		}
	}

	// The binary is built (and packed) only when the key sync is deployed.
	without, err := Load(contextOf(nil))
	if err != nil || slices.Contains(without.Assets(), AssetKeySync) {
		t.Errorf("without key sync: assets %v, %v", without.Assets(), err)
	}
	with, err := Load(contextOf(map[string]any{"upvestApiSecretArn": secret}))
	if err != nil || !slices.Contains(with.Assets(), AssetKeySync) {
		t.Errorf("with key sync: assets %v, %v", with.Assets(), err)
	}
}

// alarmOn names the one metric an alarm watches: namespace/name[dimensions];
// "" for a metric-math alarm.
func alarmOn(p map[string]any) string {
	if p["MetricName"] == nil {
		return ""
	}
	var dims []string
	dimensions, _ := p["Dimensions"].([]any)
	for _, d := range dimensions {
		dims = append(dims, fmt.Sprintf("%v=%s", dig(d, "Name"), render(dig(d, "Value"))))
	}
	slices.Sort(dims)
	return fmt.Sprintf("%v/%v[%s]", p["Namespace"], p["MetricName"], strings.Join(dims, ","))
}
