package stack

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"

	fnconfig "github.com/upvest-webhooks/upvest-webhooks/shared/prod/config"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/observability"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/subscription"
)

const subscriptionLanesFixture = `[{"title":"orders","type":["ORDER","EXECUTION"]},{"title":"snapshots","type":["POSITION","CASH_BALANCE"],"max_package_size":102400}]`

// synthSubscription is the live fixture with the stack-owned subscriptions on.
func synthSubscription(t *testing.T) *synthesized {
	t.Helper()
	fixture := map[string]any{}
	for k, v := range fixtureContext[Live] {
		fixture[k] = v
	}
	fixture["upvestSubscription"] = "true"
	fixture["subscriptionLanes"] = subscriptionLanesFixture
	return synthFixture(t, "live-subscription", Live, fixture)
}

// TestSubscriptionCustomResource: off by default; on, one custom resource
// with the lanes, after the key sync, behind a function whose role is exact.
func TestSubscriptionCustomResource(t *testing.T) {
	eachEnv(t, func(t *testing.T, s *synthesized) {
		if got := s.tp.ofType(SubscriptionResourceType); len(got) != 0 || s.tp.Outputs["SubscriptionIds"] != nil {
			t.Errorf("subscriptions deployed without upvestSubscription: %v", got)
		}
	})
	s := synthSubscription(t)
	tp := s.tp
	if len(s.errors) > 0 {
		t.Errorf("cdk-nag errors: %v", s.errors)
	}
	crs := tp.ofType(SubscriptionResourceType)
	if len(crs) != 1 {
		t.Fatalf("custom resources %v", crs)
	}
	cr := tp.Resources[crs[0]]
	var lanes []subscription.Lane
	if err := json.Unmarshal([]byte(cr.Properties["Lanes"].(string)), &lanes); err != nil || len(lanes) != 2 || lanes[1].MaxPackageSize != 102400 {
		t.Errorf("Lanes %v (%v)", cr.Properties["Lanes"], err)
	}
	if cr.Properties["OnDelete"] != subscription.OnDeleteDisable {
		t.Errorf("OnDelete %v, want disable by default", cr.Properties["OnDelete"])
	}
	if url := render(cr.Properties["Url"]); url != "https://"+liveDomain+"/upvest/webhooks" {
		t.Errorf("Url %s, want the custom domain's", url)
	}
	keySync := keySyncFunction(t, tp)
	schedules := tp.ofType("AWS::Scheduler::Schedule")
	depends := stringsOf(cr.DependsOn)
	if !slices.Contains(depends, keySync) || len(schedules) != 1 || !slices.Contains(depends, schedules[0]) {
		t.Errorf("custom resource depends on %v, want the key sync %s and its schedule %v", depends, keySync, schedules)
	}
	if got := render(tp.Outputs["SubscriptionIds"]["Value"]); got != "${"+crs[0]+".SubscriptionIds}" {
		t.Errorf("SubscriptionIds output %q", got)
	}

	// The function behind the Provider framework.
	var fn string
	for _, id := range tp.ofType("AWS::Lambda::Function") {
		if dig(tp.Resources[id].Properties, "Environment", "Variables", EnvKeySyncFunction) != nil {
			fn = id
		}
	}
	if fn == "" {
		t.Fatal("no subscription function")
	}
	checkGoFunction(t, s, fn, SubscriptionMemoryMB, SubscriptionTimeout.Seconds())
	env := dig(tp.Resources[fn].Properties, "Environment", "Variables").(map[string]any)
	if render(env[EnvKeySyncFunction]) != "${"+keySync+"}" {
		t.Errorf("%s = %v", EnvKeySyncFunction, env[EnvKeySyncFunction])
	}
	delete(env, EnvKeySyncFunction)
	want := map[string]any{
		fnconfig.EnvUpvestAPIBaseURL: "https://api.upvest.co", fnconfig.EnvUpvestAPISecret: liveSecret,
		fnconfig.EnvKeySyncSSMParameter: "/upvest-webhooks/live/jwks", EnvLogLevel: "warn", observability.EnvStack: s.cfg.StackName,
	}
	if !reflect.DeepEqual(env, want) {
		t.Errorf("env %v\nwant %v", env, want)
	}
	logs := refID(dig(tp.Resources[fn].Properties, "LoggingConfig", "LogGroup"))
	wantGrants := union(
		grants([]string{"logs:CreateLogStream", "logs:PutLogEvents"}, "${"+logs+".Arn}"),
		grants([]string{"xray:PutTraceSegments", "xray:PutTelemetryRecords"}, "*"),
		grants([]string{"secretsmanager:GetSecretValue"}, liveSecret),
		grants([]string{"ssm:GetParameter"}, "arn:aws:ssm:"+liveRegion+":"+liveAccount+":parameter/upvest-webhooks/live/jwks"),
		grants([]string{"lambda:InvokeFunction"}, "${"+keySync+".Arn}"),
	)
	role := getAtt(tp.Resources[fn].Properties["Role"], "Arn")
	if extra, missing := diffGrants(tp.grantsOf(t, role), wantGrants); len(extra) > 0 || len(missing) > 0 {
		t.Errorf("subscription role:\n  granted beyond need: %v\n  needed, not granted: %v", extra, missing)
	}

	// Only the key sync and this function may read the API client's secret.
	for _, pid := range tp.ofType("AWS::IAM::Policy") {
		doc, _ := json.Marshal(tp.Resources[pid].Properties["PolicyDocument"])
		if !strings.Contains(string(doc), "secretsmanager:") {
			continue
		}
		for _, r := range tp.Resources[pid].Properties["Roles"].([]any) {
			owner := refID(r)
			if owner != role && owner != getAtt(tp.Resources[keySync].Properties["Role"], "Arn") {
				t.Errorf("role %s may read the secret", owner)
			}
		}
	}
	// The Provider framework's relay invokes the subscription function only.
	var relay string
	for _, id := range tp.ofType("AWS::Lambda::Function") {
		if id != fn && strings.Contains(id, "Subscription") {
			relay = id
		}
	}
	if relay == "" {
		t.Fatal("no Provider framework function")
	}
	relayRole := getAtt(tp.Resources[relay].Properties["Role"], "Arn")
	for _, pid := range tp.ofType("AWS::IAM::Policy") {
		p := tp.Resources[pid].Properties
		if refID(p["Roles"].([]any)[0]) != relayRole {
			continue
		}
		for _, st := range dig(p, "PolicyDocument", "Statement").([]any) {
			for _, a := range stringsOf(st.(map[string]any)["Action"]) {
				if a != "lambda:InvokeFunction" && a != "lambda:GetFunction" { // GetFunction: the framework waits until it is active
					t.Errorf("the relay may %s", a)
				}
			}
			for _, r := range stringsOf(st.(map[string]any)["Resource"]) {
				if !strings.Contains(r, fn) {
					t.Errorf("the relay may invoke %s", r)
				}
			}
		}
	}
}

func TestLoadSubscription(t *testing.T) {
	base := map[string]any{"upvestApiSecretArn": liveSecret, "upvestSubscription": "true"}
	get := func(extra map[string]any) func(string) any {
		return func(k string) any {
			if v, ok := extra[k]; ok {
				return v
			}
			return base[k]
		}
	}
	c, err := Load(get(nil))
	if err != nil || !c.Subscription.Enabled || c.Subscription.Lanes != `[{"title":"upvest-webhooks","type":["ALL"]}]` || c.Subscription.OnDelete != "disable" {
		t.Fatalf("default lane: %+v, %v", c.Subscription, err)
	}
	if !slices.Contains(c.Assets(), AssetSubscription) {
		t.Errorf("assets %v", c.Assets())
	}
	c, err = Load(get(map[string]any{"subscriptionTypes": "order, execution", "subscriptionDelay": "2s", "subscriptionMaxPackageSize": "20480", "subscriptionOnDelete": "delete"}))
	if err != nil || c.Subscription.Lanes != `[{"title":"upvest-webhooks","type":["ORDER","EXECUTION"],"delay":"2s","max_package_size":20480}]` || c.Subscription.OnDelete != "delete" {
		t.Fatalf("one lane from keys: %+v, %v", c.Subscription, err)
	}
	for name, extra := range map[string]map[string]any{
		"no key sync":      {"upvestApiSecretArn": nil},
		"bad lanes json":   {"subscriptionLanes": "[{"},
		"bad lane title":   {"subscriptionLanes": `[{"title":"a/b"}]`},
		"ALL and more":     {"subscriptionTypes": "ALL,ORDER"},
		"delay too long":   {"subscriptionDelay": "90s"},
		"bad on delete":    {"subscriptionOnDelete": "archive"},
		"package too big":  {"subscriptionMaxPackageSize": "2000000"},
		"duplicate titles": {"subscriptionLanes": `[{"title":"a"},{"title":"a"}]`},
	} {
		if _, err := Load(get(extra)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	c, err = Load(get(map[string]any{"upvestSubscription": nil}))
	if err != nil || c.Subscription.Enabled || slices.Contains(c.Assets(), AssetSubscription) {
		t.Errorf("off by default: %+v %v", c.Subscription, err)
	}
}

// TestSubscriptionWaitsForTheEndpoint: the custom resource enables Upvest's
// subscription, and Upvest delivers at once; a delivery that meets no stage,
// route or invoke permission (a 404 or 500), or a custom domain not mapped
// yet, fails, and Upvest then holds back every later delivery while it
// retries. So the resource is created only after everything that answers on
// the webhook URL, and deleted (the subscription disabled) before any of it.
// The Url property alone orders it after the API (without a custom domain)
// or after nothing (with one).
func TestSubscriptionWaitsForTheEndpoint(t *testing.T) {
	sandbox := synthFixture(t, "sandbox-subscription", Sandbox, map[string]any{"upvestApiSecretArn": liveSecret, "upvestSubscription": "true"})
	for name, s := range map[string]*synthesized{"custom domain": synthSubscription(t), "execute-api URL": sandbox} {
		t.Run(name, func(t *testing.T) {
			tp := s.tp
			crs := tp.ofType(SubscriptionResourceType)
			if len(crs) != 1 {
				t.Fatalf("custom resources %v", crs)
			}
			var endpoint []string
			for _, typ := range []string{"AWS::ApiGatewayV2::Api", "AWS::ApiGatewayV2::Stage", "AWS::ApiGatewayV2::Route",
				"AWS::ApiGatewayV2::Integration", "AWS::ApiGatewayV2::DomainName", "AWS::ApiGatewayV2::ApiMapping"} {
				endpoint = append(endpoint, tp.ofType(typ)...)
			}
			for _, id := range tp.ofType("AWS::Lambda::Permission") {
				if tp.Resources[id].Properties["Principal"] == "apigateway.amazonaws.com" {
					endpoint = append(endpoint, id)
				}
			}
			w := wire(t, s)
			endpoint = append(endpoint, w.ingest)
			if s.cfg.DomainName != "" && len(tp.ofType("AWS::ApiGatewayV2::ApiMapping")) != 1 {
				t.Fatalf("custom domain without one API mapping")
			}
			for _, id := range endpoint {
				if !tp.dependsOn(crs[0], id) {
					t.Errorf("the subscription can be enabled before %s (%s) exists, and disabled after it is gone", id, tp.Resources[id].Type)
				}
			}
		})
	}
}

// TestEveryFunctionLogsToItsOwnLogGroup: every function of the stack, the
// Provider framework's relay too, writes to a log group the template creates
// before the function, kept logRetentionDays. A log group named
// /aws/lambda/<function> and created after the function (CDK's default for
// the relay) races the function's first run: the custom resource invokes the
// relay as soon as it exists, Lambda creates the group on its first log line,
// and CloudFormation's create then fails with AlreadyExists and rolls the
// deploy back. That group was also kept 731 days whatever logRetentionDays
// said, and retained after the stack was deleted.
func TestEveryFunctionLogsToItsOwnLogGroup(t *testing.T) {
	s := synthSubscription(t)
	tp := s.tp
	for _, fn := range tp.ofType("AWS::Lambda::Function") {
		logs := refID(dig(tp.Resources[fn].Properties, "LoggingConfig", "LogGroup"))
		if logs == "" || tp.Resources[logs].Type != "AWS::Logs::LogGroup" {
			t.Errorf("function %s logs to %v, not to a log group of the template", fn, dig(tp.Resources[fn].Properties, "LoggingConfig", "LogGroup"))
		}
	}
	for _, id := range tp.ofType("AWS::Logs::LogGroup") {
		r := tp.Resources[id]
		if got := r.Properties["RetentionInDays"]; got != float64(s.cfg.LogRetentionDays) {
			t.Errorf("log group %s keeps logs %v days, want logRetentionDays %d", id, got, s.cfg.LogRetentionDays)
		}
		if name := render(r.Properties["LogGroupName"]); strings.HasPrefix(name, "/aws/lambda/") {
			t.Errorf("log group %s is named %s: Lambda can create that name first", id, name)
		}
		if r.DeletionPolicy != "Delete" {
			t.Errorf("log group %s: DeletionPolicy %q, want Delete (the logs expire anyway)", id, r.DeletionPolicy)
		}
	}
}
