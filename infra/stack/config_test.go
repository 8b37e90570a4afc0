package stack

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
)

func contextOf(m map[string]any) func(string) any {
	return func(k string) any { return m[k] }
}

func TestLoadDefaults(t *testing.T) {
	for _, env := range []Environment{Sandbox, Live} {
		c, err := Load(contextOf(map[string]any{"env": string(env)}))
		if err != nil {
			t.Fatalf("%s: %v", env, err)
		}
		want := Config{
			Env: env, StackName: "upvest-webhooks-" + string(env),
			JWKSParameter: "/upvest-webhooks/" + string(env) + "/jwks", JWKSRefresh: "5m",
			IPAllowlist: string(env), SignatureClockSkew: "60s",
			LedgerRetention: 400, LogLevel: "info", LogRetentionDays: 90,
			ThrottleRate: 1000, ThrottleBurst: 2000, IngestReservedConcurrency: 0, IngestMemoryMB: IngestMemoryMB, MaxReceiveCount: 5,
			WorkerBatchSize: 10, WorkerBatchWindow: 1, WorkerMaxConcurrency: 5,
			QueueAgeAlarm: 900, OTelTraces: OTelOff,
			Capacity: TableCapacity{Mode: CapacityOnDemand, MinWrite: 5, MaxWrite: 1000, MinRead: 1, MaxRead: 200, TargetUtilization: 70},
			Scaling:  Scaling{NearLimitPercent: 80},
			// The subscription is off; its default lane would be one with every type.
			Subscription: SubscriptionConfig{Lanes: `[{"title":"` + DefaultLaneTitle + `","type":["ALL"]}]`, OnDelete: "disable"},
		}
		if c != want {
			t.Errorf("%s:\n got %+v\nwant %+v", env, c, want)
		}
		if c.PublicPath() != "/webhooks" {
			t.Errorf("%s: public path %q", env, c.PublicPath())
		}
		if c.Capacity.Provisioned() {
			t.Errorf("%s: provisioned capacity by default", env)
		}
	}
	// No env at all is a sandbox deployment, never a live one by accident.
	c, err := Load(contextOf(nil))
	if err != nil || c.Env != Sandbox || c.IPAllowlist != "sandbox" {
		t.Fatalf("no context: %+v, %v", c, err)
	}
}

func TestLoadOverrides(t *testing.T) {
	// -c values arrive as strings, cdk.json values as JSON types: both are accepted.
	c, err := Load(contextOf(map[string]any{
		"env": "live", "stackName": "webhooks-prod", "ipAllowlist": "off",
		"jwksParameter": "/custom/jwks", "throttleRate": "200", "throttleBurst": 400.0,
		"maxReceiveCount": "3", "workerBatchWindowSeconds": 0.0, "exampleStreamConsumer": "true", "ingestReservedConcurrency": "20",
		"domainName": "hooks.example.com", "certificateArn": "arn:aws:acm:eu-central-1:111111111111:certificate/x",
		"basePath": "upvest", "alarmEmail": "ops@example.com", "logLevel": "debug", "logRetentionDays": "30",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Env != Live || c.StackName != "webhooks-prod" || c.IPAllowlist != "off" || c.JWKSParameter != "/custom/jwks" ||
		c.ThrottleRate != 200 || c.ThrottleBurst != 400 || c.IngestReservedConcurrency != 20 || c.MaxReceiveCount != 3 || c.WorkerBatchWindow != 0 ||
		!c.ExampleStreamConsumer || c.AlarmEmail != "ops@example.com" || c.LogLevel != "debug" || c.LogRetentionDays != 30 {
		t.Errorf("overrides not applied: %+v", c)
	}
	if got := c.PublicPath(); got != "/upvest/webhooks" {
		t.Errorf("public path behind base path: %q", got)
	}
	if got := c.QueueVisibilityTimeout(); got != 6*WorkerTimeout {
		t.Errorf("visibility with no batching window: %v", got)
	}
}

func TestLoadCapacity(t *testing.T) {
	for name, tt := range map[string]struct {
		context map[string]any
		want    TableCapacity
	}{
		"provisioned on the defaults": {map[string]any{"capacityMode": "provisioned"},
			TableCapacity{Mode: CapacityProvisioned, MinWrite: 5, MaxWrite: 1000, MinRead: 1, MaxRead: 200, TargetUtilization: 70}},
		// -c values arrive as strings, cdk.json values as JSON types: both are accepted.
		"every bound set": {map[string]any{"capacityMode": " provisioned ", "minWriteCapacity": "25", "maxWriteCapacity": 4000.0,
			"minReadCapacity": "3", "maxReadCapacity": 50.0, "capacityTargetUtilization": "80"},
			TableCapacity{Mode: CapacityProvisioned, MinWrite: 25, MaxWrite: 4000, MinRead: 3, MaxRead: 50, TargetUtilization: 80}},
		// 40,000, a table's quota, was here too, but the stack's tables and indexes together would start above the account's.
		"fixed capacity (minimum = maximum)": {map[string]any{"capacityMode": "provisioned", "minWriteCapacity": "1000", "maxWriteCapacity": "1000",
			"minReadCapacity": "1", "maxReadCapacity": "1", "capacityTargetUtilization": "20"},
			TableCapacity{Mode: CapacityProvisioned, MinWrite: 1000, MaxWrite: 1000, MinRead: 1, MaxRead: 1, TargetUtilization: 20}},
		"the largest minimums within the account quota": {map[string]any{"capacityMode": "provisioned",
			"minWriteCapacity": strconv.Itoa(80000 / capacityUnits()), "maxWriteCapacity": "40000",
			"minReadCapacity": strconv.Itoa(80000 / capacityUnits()), "maxReadCapacity": "40000"},
			TableCapacity{Mode: CapacityProvisioned, MinWrite: 80000 / capacityUnits(), MaxWrite: 40000, MinRead: 80000 / capacityUnits(), MaxRead: 40000, TargetUtilization: 70}},
		"on demand named": {map[string]any{"capacityMode": "on-demand"},
			TableCapacity{Mode: CapacityOnDemand, MinWrite: 5, MaxWrite: 1000, MinRead: 1, MaxRead: 200, TargetUtilization: 70}},
	} {
		c, err := Load(contextOf(tt.context))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if c.Capacity != tt.want {
			t.Errorf("%s:\n got %+v\nwant %+v", name, c.Capacity, tt.want)
		}
		if c.Capacity.Provisioned() != (tt.want.Mode == CapacityProvisioned) {
			t.Errorf("%s: Provisioned() = %v", name, c.Capacity.Provisioned())
		}
	}
}

func TestQueueAgeAlarmBelowRetention(t *testing.T) {
	// The highest accepted threshold still leaves an hour before the oldest message expires.
	max := int((QueueRetention - time.Hour).Seconds())
	c, err := Load(contextOf(map[string]any{"queueAgeAlarmSeconds": strconv.Itoa(max)}))
	if err != nil || c.QueueAgeAlarm != max {
		t.Fatalf("queueAgeAlarmSeconds=%d: %d, %v", max, c.QueueAgeAlarm, err)
	}
	if _, err := Load(contextOf(map[string]any{"queueAgeAlarmSeconds": float64(max + 1)})); err == nil {
		t.Errorf("queueAgeAlarmSeconds=%d accepted, less than an hour before messages expire at %v", max+1, QueueRetention)
	}
}

// A claim-checked event's message names its ledger record: the record must
// outlive every message of it, dead letters and one redrive included.
func TestLedgerRetentionOutlivesTheMessages(t *testing.T) {
	min := int((DeadLetterRetention + QueueRetention) / (24 * time.Hour))
	if c, err := Load(contextOf(map[string]any{"ledgerRetentionDays": strconv.Itoa(min)})); err != nil || c.LedgerRetention != min {
		t.Fatalf("ledgerRetentionDays=%d: %d, %v", min, c.LedgerRetention, err)
	}
	for _, days := range []int{1, 7, min - 1} {
		if _, err := Load(contextOf(map[string]any{"ledgerRetentionDays": strconv.Itoa(days)})); err == nil {
			t.Errorf("ledgerRetentionDays=%d accepted: the TTL deletes a large event's bytes while its message still names them", days)
		}
	}
}

// A healthy pipeline holds a message up to the batching window (the poller
// has received it and waits for more) plus one worker run before deleting it,
// and SQS counts its age all along (ApproximateAgeOfOldestMessage: the oldest
// message not yet deleted): a queue-age threshold within that would page on
// every quiet batch.
func TestQueueAgeAlarmAboveAHealthyMessagesAge(t *testing.T) {
	if _, err := Load(contextOf(map[string]any{"workerBatchWindowSeconds": "300", "queueAgeAlarmSeconds": "300"})); err == nil ||
		!strings.Contains(err.Error(), "queueAgeAlarmSeconds: 300 is not above") {
		t.Errorf("a threshold within the batching window and a worker run: %v", err)
	}
	floor := 300 + int(WorkerTimeout.Seconds())
	if c, err := Load(contextOf(map[string]any{"workerBatchWindowSeconds": "300", "queueAgeAlarmSeconds": strconv.Itoa(floor + 1)})); err != nil || c.QueueAgeAlarm != floor+1 {
		t.Errorf("queueAgeAlarmSeconds=%d with a 300 s window: %v", floor+1, err)
	}
	if _, err := Load(contextOf(map[string]any{"queueAgeAlarmSeconds": "60"})); err != nil {
		t.Errorf("the lowest threshold with the default 1 s window: %v", err)
	}
}

// Each key refused without the subscriptions is taken with them.
func TestSubscriptionKeysApplyWithSubscription(t *testing.T) {
	for key, value := range map[string]any{
		"subscriptionLanes": subscriptionLanesFixture, "subscriptionTypes": "ORDER,EXECUTION", "subscriptionExcludeTypes": "ORDER",
		"subscriptionDelay": "1s", "subscriptionMaxPackageSize": "102400", "subscriptionOnDelete": "delete",
	} {
		if !slices.Contains(subscriptionKeys, key) {
			t.Errorf("%s is not among subscriptionKeys %v", key, subscriptionKeys)
		}
		c, err := Load(contextOf(map[string]any{"upvestSubscription": "true", key: value,
			"upvestApiSecretArn": "arn:aws:secretsmanager:eu-central-1:111111111111:secret:upvest-api-AbCdEf"}))
		if err != nil {
			t.Errorf("%s=%v: %v", key, value, err)
		} else if def := (SubscriptionConfig{Enabled: true, Lanes: `[{"title":"` + DefaultLaneTitle + `","type":["ALL"]}]`, OnDelete: "disable"}); c.Subscription == def {
			t.Errorf("%s=%v: not applied (%+v)", key, value, c.Subscription)
		}
	}
}

// capacityUnits, which the account-quota check multiplies the minimums by,
// is every table and index the stack provisions: the template's sum is the same.
func TestCapacityUnitsAreTheStacks(t *testing.T) {
	s := synthProvisioned(t)
	units, writes, reads := 0, 0.0, 0.0
	add := func(throughput any) {
		units++
		writes += dig(throughput, "WriteCapacityUnits").(float64)
		reads += dig(throughput, "ReadCapacityUnits").(float64)
	}
	for _, id := range s.tp.ofType("AWS::DynamoDB::Table") {
		p := s.tp.Resources[id].Properties
		add(p["ProvisionedThroughput"])
		ixs, _ := p["GlobalSecondaryIndexes"].([]any)
		for _, ix := range ixs {
			add(dig(ix, "ProvisionedThroughput"))
		}
	}
	c := s.cfg.Capacity
	if units != capacityUnits() || writes != float64(units*c.MinWrite) || reads != float64(units*c.MinRead) {
		t.Errorf("template: %d tables and indexes with %v write and %v read units; capacityUnits() = %d, minimums %d/%d",
			units, writes, reads, capacityUnits(), c.MinWrite, c.MinRead)
	}
}

func TestLoadContextRefusesUnknownKeys(t *testing.T) {
	for _, tt := range []struct {
		name    string
		key     string
		wantErr []string // nil: accepted
	}{
		{"misspelt option", "ingestReservedConcurency", []string{"ingestReservedConcurency: not a context key of this stack; did you mean ingestReservedConcurrency?"}},
		{"option in the wrong case", "QueueAgeAlarmSeconds", []string{"QueueAgeAlarmSeconds: not a context key", "did you mean queueAgeAlarmSeconds?"}},
		{"option of another stack", "vpcId", []string{"vpcId: not a context key of this stack (README's Deploy section lists them)"}},
		{"option with a word left out", "minWrite", []string{"minWrite: not a context key"}},
		// The app's own key, and what CDK puts in the context: never an option of this stack.
		{"nag", "nag", nil},
		{"feature flag", "@aws-cdk/core:newStyleStackSynthesis", nil},
		{"CLI setting", "aws:cdk:enable-path-metadata", nil},
		{"cached lookup", "availability-zones:account=123456789012:region=eu-central-1", nil},
		{"acknowledged notices", "acknowledged-issue-numbers", nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadContext(map[string]any{tt.key: "false"})
			if tt.wantErr == nil {
				if err != nil {
					t.Errorf("%s refused: %v", tt.key, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("%s accepted", tt.key)
			}
			for _, frag := range tt.wantErr {
				if !strings.Contains(err.Error(), frag) {
					t.Errorf("error %q lacks %q", err, frag)
				}
			}
		})
	}
	// With other errors, all of them in one report.
	_, err := LoadContext(map[string]any{"throttleRates": "10", "logLevel": "loud"})
	if err == nil || !strings.Contains(err.Error(), "throttleRates: not a context key") || !strings.Contains(err.Error(), "logLevel:") {
		t.Errorf("both errors: %v", err)
	}
}

// Every option the stack's tests set, and cdk.json's context, are known keys.
func TestLoadContextTakesEveryOption(t *testing.T) {
	raw, err := os.ReadFile("../cdk.json")
	if err != nil {
		t.Fatal(err)
	}
	var cdkJSON struct{ Context map[string]any }
	if err := json.Unmarshal(raw, &cdkJSON); err != nil {
		t.Fatal(err)
	}
	all := map[string]any{
		"upvestSubscription": "true", "subscriptionLanes": subscriptionLanesFixture, "subscriptionOnDelete": "delete", "subscriptionDelay": "1s",
		"subscriptionMaxPackageSize": "20480", "otelTraces": "collector", "otelCollectorLayerArn": "arn:aws:lambda:eu-central-1:123456789012:layer:otel:1",
		"warmWriteUnitsPerSecond": "4000", "nearLimitAlarmPercent": "90", "workerMaxConcurrencyByDomain": "holdings=40", "jwksRefresh": "1m",
		"signatureClockSkew": "30s", "ledgerRetentionDays": "30", "workerBatchSize": "20", "workerBatchWindowSeconds": "2", "workerMaxConcurrency": "6",
		"queueAgeAlarmSeconds": "600", "stackName": "hooks", "jwksParameter": "/x/jwks", "upvestApiBaseUrl": "https://api.upvest.co", "nag": "false",
	}
	for _, ctx := range []map[string]any{cdkJSON.Context, fixtureContext[Live], provisionedContext} {
		for k, v := range ctx {
			all[k] = v
		}
	}
	if _, err := LoadContext(all); err != nil {
		t.Error(err)
	}
	// The same with subscriptionTypes and subscriptionExcludeTypes instead of lanes.
	delete(all, "subscriptionLanes")
	all["subscriptionExcludeTypes"] = "ORDER"
	if _, err := LoadContext(all); err != nil {
		t.Error(err)
	}
	delete(all, "subscriptionExcludeTypes")
	all["subscriptionTypes"] = "ORDER"
	if _, err := LoadContext(all); err != nil {
		t.Error(err)
	}
}

func TestAllowlistTakesExtraCIDRs(t *testing.T) {
	for env, spec := range map[Environment]string{
		Live:    "live,203.0.113.0/24",
		Sandbox: "sandbox, 198.51.100.7 ,2001:db8::/32",
		"":      "203.0.113.0/24", // only your own addresses (a proxy in front, say)
	} {
		ctx := map[string]any{"ipAllowlist": spec}
		if env != "" {
			ctx["env"] = string(env)
		}
		c, err := Load(contextOf(ctx))
		if err != nil {
			t.Errorf("%s %q: %v", env, spec, err)
			continue
		}
		if c.IPAllowlist != strings.TrimSpace(spec) {
			t.Errorf("%s: allowlist %q, want %q passed to ingest as given", env, c.IPAllowlist, spec)
		}
	}
}

func TestLambdaLogLevelPassesMetrics(t *testing.T) {
	for level, want := range map[string]awslambda.ApplicationLogLevel{
		"debug": awslambda.ApplicationLogLevel_DEBUG, "info": awslambda.ApplicationLogLevel_INFO,
		"warn": awslambda.ApplicationLogLevel_INFO, "error": awslambda.ApplicationLogLevel_INFO,
	} {
		if got := LambdaApplicationLogLevel(level); got != want {
			t.Errorf("logLevel %s: Lambda filters at %s, want %s", level, got, want)
		}
	}
}

func TestQueueVisibilityTimeoutCoversWorkerAndWindow(t *testing.T) {
	for _, window := range []int{0, 1, 20, 300} {
		c := Config{WorkerBatchWindow: window}
		if min := 6*WorkerTimeout + time.Duration(window)*time.Second; c.QueueVisibilityTimeout() < min {
			t.Errorf("window %ds: visibility %v < %v", window, c.QueueVisibilityTimeout(), min)
		}
	}
}

// withCert is a context with a custom domain and a valid certificate.
func withCert(domain string) map[string]any {
	return map[string]any{"domainName": domain, "certificateArn": "arn:aws:acm:eu-central-1:111111111111:certificate/x"}
}

func TestDomainNameTakesHostNames(t *testing.T) {
	for _, domain := range []string{"webhooks.example.com", "a.b", "xn--bcher-kva.example", "hooks-1.eu.example.co.uk",
		strings.Repeat("a", 63) + ".example.com", strings.Repeat(strings.Repeat("a", 62)+".", 4) + "a"} {
		c, err := Load(contextOf(withCert(domain)))
		if err != nil {
			t.Errorf("%q (%d characters): %v", domain, len(domain), err)
			continue
		}
		if c.DomainName != domain {
			t.Errorf("domain %q, want %q", c.DomainName, domain)
		}
	}
}

func TestLoadRejects(t *testing.T) {
	tests := []struct {
		name    string
		context map[string]any
		wantErr []string // every fragment must appear in the one error
	}{
		{"unknown env", map[string]any{"env": "prod"}, []string{`env: "prod"`}},
		{"other environment's allowlist", map[string]any{"env": "live", "ipAllowlist": "sandbox"}, []string{"ipAllowlist", "env is live"}},
		{"other environment's list among CIDRs", map[string]any{"env": "sandbox", "ipAllowlist": "203.0.113.0/24,live"}, []string{"ipAllowlist", "env is sandbox"}},
		{"bad CIDR", map[string]any{"ipAllowlist": "sandbox,203.0.113.0/33"}, []string{"ipAllowlist", "203.0.113.0/33"}},
		{"off with more", map[string]any{"ipAllowlist": "off,203.0.113.7"}, []string{"ipAllowlist", "off cannot be combined"}},
		{"empty entry", map[string]any{"ipAllowlist": "sandbox,,203.0.113.7"}, []string{"ipAllowlist", "empty entry"}},
		{"domain without certificate", map[string]any{"domainName": "a.example.com"}, []string{"domainName and certificateArn go together"}},
		// A URL, a host with a port or a bad label made an invalid API Gateway domain name and a https://https://... output.
		{"domain given as a URL", withCert("https://webhooks.example.com/"), []string{`domainName: "https://webhooks.example.com/" is not a host name`}},
		{"domain with a path", withCert("webhooks.example.com/hooks"), []string{"domainName:", "not a host name"}},
		{"domain with a port", withCert("webhooks.example.com:443"), []string{"domainName:", "not a host name"}},
		{"domain in upper case", withCert("Webhooks.Example.com"), []string{"domainName:", "not a host name"}},
		{"domain of one label", withCert("webhooks"), []string{"domainName:", "not a host name"}},
		{"domain with a trailing dot", withCert("webhooks.example.com."), []string{"domainName:", "not a host name"}},
		{"domain with an empty label", withCert("webhooks..example.com"), []string{"domainName:", "not a host name"}},
		{"domain label starting with -", withCert("-webhooks.example.com"), []string{"domainName:", "not a host name"}},
		{"domain with an underscore", withCert("web_hooks.example.com"), []string{"domainName:", "not a host name"}},
		{"domain wildcard", withCert("*.example.com"), []string{"domainName:", "not a host name"}},
		{"domain label over 63", withCert(strings.Repeat("a", 64) + ".example.com"), []string{"domainName:", "not a host name"}},
		{"domain over 253", withCert(strings.Repeat(strings.Repeat("a", 62)+".", 4) + "ab"), []string{"domainName:", "not a host name"}},
		{"certificate not an ARN", map[string]any{"domainName": "a.example.com", "certificateArn": "cert"}, []string{"not an ARN"}},
		{"base path without domain", map[string]any{"basePath": "x"}, []string{"basePath"}},
		{"base path with slash", map[string]any{"domainName": "a.example.com", "certificateArn": "arn:aws:acm:x", "basePath": "a/b"}, []string{"basePath"}},
		{"not a number", map[string]any{"throttleRate": "fast"}, []string{"throttleRate: want a whole number"}},
		{"fraction", map[string]any{"maxReceiveCount": 2.5}, []string{"maxReceiveCount: want a whole number"}},
		{"out of range", map[string]any{"workerMaxConcurrency": "1"}, []string{"workerMaxConcurrency: 1 is outside"}},
		{"negative reserved concurrency", map[string]any{"ingestReservedConcurrency": "-1"}, []string{"ingestReservedConcurrency: -1 is outside"}},
		{"reserved concurrency of one", map[string]any{"ingestReservedConcurrency": "1"}, []string{"ingestReservedConcurrency: 1 leaves no room"}},
		{"big batch without window", map[string]any{"workerBatchSize": "50", "workerBatchWindowSeconds": "0"}, []string{"workerBatchSize: 50 needs"}},
		{"bad bool", map[string]any{"exampleStreamConsumer": "yes please"}, []string{"exampleStreamConsumer"}},
		{"bad duration", map[string]any{"jwksRefresh": "often"}, []string{"jwksRefresh"}},
		{"relative parameter", map[string]any{"jwksParameter": "jwks"}, []string{"jwksParameter"}},
		{"log level", map[string]any{"logLevel": "verbose"}, []string{"logLevel"}},
		{"log retention", map[string]any{"logRetentionDays": "10"}, []string{"logRetentionDays: 10"}},
		{"email", map[string]any{"alarmEmail": "not an address"}, []string{"alarmEmail"}},
		// Addresses mail.ParseAddress takes, but SNS refuses as a subscription endpoint.
		{"email with a display name", map[string]any{"alarmEmail": "Ops Team <ops@example.com>"}, []string{"alarmEmail:", "not a bare address", "such as ops@example.com"}},
		{"email in angle brackets", map[string]any{"alarmEmail": "<ops@example.com>"}, []string{"alarmEmail:", "not a bare address"}},
		{"email with a comment", map[string]any{"alarmEmail": "ops@example.com (on call)"}, []string{"alarmEmail:", "not a bare address"}},
		// Messages expire from a domain queue at QueueRetention, so an alarm on an older age never fires.
		{"queue age alarm at the retention", map[string]any{"queueAgeAlarmSeconds": strconv.Itoa(int(QueueRetention.Seconds()))},
			[]string{fmt.Sprintf("queueAgeAlarmSeconds: %d is outside [60, %d]", int(QueueRetention.Seconds()), int(QueueRetention.Seconds())-3600)}},
		{"queue age alarm of 14 days", map[string]any{"queueAgeAlarmSeconds": "1209600"}, []string{"queueAgeAlarmSeconds: 1209600 is outside"}},
		{"wrong type", map[string]any{"env": true}, []string{"env: want a string"}},
		// CloudFormation's stack-name rule; jsii would panic at synth instead.
		{"stack name with underscore", map[string]any{"stackName": "upvest_webhooks"}, []string{`stackName: "upvest_webhooks" is not a CloudFormation stack name`}},
		{"stack name starting with a digit", map[string]any{"stackName": "1webhooks"}, []string{`stackName: "1webhooks"`}},
		{"stack name too long", map[string]any{"stackName": "a" + strings.Repeat("b", 128)}, []string{"stackName:", "at most 128"}},
		{"stack name empty", map[string]any{"stackName": " "}, []string{`stackName: ""`}},
		{"unknown capacity mode", map[string]any{"capacityMode": "PROVISIONED"}, []string{`capacityMode: "PROVISIONED"`, `"on-demand"`, `"provisioned"`}},
		{"capacity mode of another tool", map[string]any{"capacityMode": "pay-per-request"}, []string{`capacityMode: "pay-per-request"`, `"on-demand"`, `"provisioned"`}},
		{"write minimum above maximum", map[string]any{"capacityMode": "provisioned", "minWriteCapacity": "200", "maxWriteCapacity": 100.0},
			[]string{"minWriteCapacity: 200 is above maxWriteCapacity 100"}},
		{"read minimum above maximum", map[string]any{"capacityMode": "provisioned", "minReadCapacity": "300"},
			[]string{"minReadCapacity: 300 is above maxReadCapacity 200"}},
		{"no write capacity", map[string]any{"capacityMode": "provisioned", "minWriteCapacity": "0"}, []string{"minWriteCapacity: 0 is outside [1, 40000]"}},
		{"write capacity over the table quota", map[string]any{"capacityMode": "provisioned", "maxWriteCapacity": "40001"}, []string{"maxWriteCapacity: 40001 is outside [1, 40000]"}},
		{"no read capacity", map[string]any{"capacityMode": "provisioned", "minReadCapacity": "0"}, []string{"minReadCapacity: 0 is outside [1, 40000]"}},
		{"read capacity over the table quota", map[string]any{"capacityMode": "provisioned", "maxReadCapacity": 40001.0}, []string{"maxReadCapacity: 40001 is outside [1, 40000]"}},
		// Every table and index starts at the minimums, which together must fit DynamoDB's default account quota of 80,000.
		{"write minimum over the account quota", map[string]any{"capacityMode": "provisioned", "minWriteCapacity": "2000", "maxWriteCapacity": "40000",
			"minReadCapacity": "2000", "maxReadCapacity": "40000"},
			[]string{fmt.Sprintf("minWriteCapacity: 2000 on each of the stack's %d tables and indexes is %d write units, above DynamoDB's default quota of 80000", capacityUnits(), 2000*capacityUnits()),
				fmt.Sprintf("minReadCapacity: 2000 on each of the stack's %d tables and indexes is %d read units", capacityUnits(), 2000*capacityUnits()),
				fmt.Sprintf("set at most %d", 80000/capacityUnits()), "quota raised"}},
		{"fixed capacity at the table quota", map[string]any{"capacityMode": "provisioned", "minWriteCapacity": "40000", "maxWriteCapacity": "40000"},
			[]string{"minWriteCapacity: 40000 on each", "above DynamoDB's default quota of 80000"}},
		{"write minimum just over the account quota", map[string]any{"capacityMode": "provisioned", "minWriteCapacity": strconv.Itoa(80000/capacityUnits() + 1), "maxWriteCapacity": "40000"},
			[]string{fmt.Sprintf("minWriteCapacity: %d on each", 80000/capacityUnits()+1)}},
		{"read minimum just over the account quota", map[string]any{"capacityMode": "provisioned", "minReadCapacity": strconv.Itoa(80000/capacityUnits() + 1), "maxReadCapacity": "40000"},
			[]string{fmt.Sprintf("minReadCapacity: %d on each", 80000/capacityUnits()+1)}},
		{"utilization too low", map[string]any{"capacityMode": "provisioned", "capacityTargetUtilization": "19"}, []string{"capacityTargetUtilization: 19 is outside [20, 90]"}},
		{"utilization too high", map[string]any{"capacityMode": "provisioned", "capacityTargetUtilization": "91"}, []string{"capacityTargetUtilization: 91 is outside [20, 90]"}},
		{"utilization a fraction", map[string]any{"capacityMode": "provisioned", "capacityTargetUtilization": 0.7}, []string{"capacityTargetUtilization: want a whole number"}},
		// Would be ignored on demand: the deployment is not what the command line says.
		{"capacity bound without provisioned mode", map[string]any{"minWriteCapacity": "50"}, []string{"minWriteCapacity: applies only with capacityMode=provisioned"}},
		{"target without provisioned mode", map[string]any{"capacityMode": "on-demand", "capacityTargetUtilization": "50"},
			[]string{"capacityTargetUtilization: applies only with capacityMode=provisioned"}},
		// Likewise the subscription keys without the subscriptions (-c upvestSubscription=false too).
		{"subscription lanes without the subscriptions", map[string]any{"subscriptionLanes": `[{"title":"a","type":["ORDER"]}]`},
			[]string{"subscriptionLanes: applies only with upvestSubscription=true"}},
		{"subscription types with the subscriptions off", map[string]any{"upvestSubscription": "false", "subscriptionTypes": "ORDER"},
			[]string{"subscriptionTypes: applies only with upvestSubscription=true"}},
		{"every subscription key without the subscriptions", map[string]any{"subscriptionExcludeTypes": "ORDER", "subscriptionDelay": "1s",
			"subscriptionMaxPackageSize": 102400.0, "subscriptionOnDelete": "delete"},
			[]string{"subscriptionExcludeTypes: applies only", "subscriptionDelay: applies only", "subscriptionMaxPackageSize: applies only", "subscriptionOnDelete: applies only"}},
		{"every problem at once", map[string]any{"env": "prod", "throttleRate": "x", "logLevel": "loud"},
			[]string{"env:", "throttleRate:", "logLevel:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(contextOf(tt.context))
			if err == nil {
				t.Fatal("accepted")
			}
			for _, frag := range tt.wantErr {
				if !strings.Contains(err.Error(), frag) {
					t.Errorf("error %q lacks %q", err, frag)
				}
			}
		})
	}
}

func TestAssetsFollowTheConsumerSwitch(t *testing.T) {
	if got := (Config{}).Assets(); !slices.Equal(got, []string{AssetIngest, AssetWorker}) {
		t.Errorf("without consumer: %v", got)
	}
	if got := (Config{ExampleStreamConsumer: true}).Assets(); !slices.Equal(got, []string{AssetIngest, AssetWorker, AssetStreamConsumer}) {
		t.Errorf("with consumer: %v", got)
	}
}

func TestPascal(t *testing.T) {
	for in, want := range map[string]string{"orders": "Orders", "corporate_actions": "CorporateActions", "fees_taxes": "FeesTaxes"} {
		if got := ConstructName(in); got != want {
			t.Errorf("ConstructName(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestEveryOptionIsInTheReadme: a context key that is refused as unknown is
// answered with "README's Deploy section lists them", so every key the stack
// reads is named there (or in the section the Deploy list points to).
func TestEveryOptionIsInTheReadme(t *testing.T) {
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(raw)
	keys := map[string]bool{}
	if _, err := load(func(k string) any { keys[k] = true; return nil }, nil); err != nil {
		t.Fatal(err)
	}
	for _, k := range AppContextKeys {
		keys[k] = true
	}
	if len(keys) < 30 {
		t.Fatalf("only %d keys read: %v", len(keys), keys)
	}
	for k := range keys {
		if !strings.Contains(readme, "`"+k+"`") && !strings.Contains(readme, "`"+k+"=") && !strings.Contains(readme, "-c "+k+"=") {
			t.Errorf("context key %s is not in README.md", k)
		}
	}
}
