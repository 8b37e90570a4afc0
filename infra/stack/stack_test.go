package stack

import (
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/observability"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/schema"
)

// wiring is the system found by following Refs from the ingest function:
// the ledger and queues it writes to, and for each queue its DLQ, the worker
// consuming it and the state table that worker writes.
type wiring struct {
	ingest string // function logical ids...
	ledger string
	queue  map[events.Domain]string
	dlq    map[events.Domain]string
	worker map[events.Domain]string
	table  map[events.Domain]string
	esm    map[events.Domain]string
}

func wire(t *testing.T, s *synthesized) *wiring {
	t.Helper()
	tp := s.tp
	w := &wiring{
		queue: map[events.Domain]string{}, dlq: map[events.Domain]string{}, worker: map[events.Domain]string{},
		table: map[events.Domain]string{}, esm: map[events.Domain]string{},
	}
	for _, id := range tp.ofType("AWS::Lambda::Function") {
		vars := dig(tp.Resources[id].Properties, "Environment", "Variables")
		if dig(vars, "UPVEST_JWKS_SSM_PARAMETER") != nil {
			if w.ingest != "" {
				t.Fatalf("two ingest functions: %s, %s", w.ingest, id)
			}
			w.ingest = id
		}
		if d, ok := dig(vars, schema.EnvDomain).(string); ok {
			if w.worker[events.Domain(d)] != "" {
				t.Fatalf("two workers for %s", d)
			}
			w.worker[events.Domain(d)] = id
			w.table[events.Domain(d)] = refID(dig(vars, schema.EnvStateTable))
		}
	}
	if w.ingest == "" {
		t.Fatal("no ingest function")
	}
	vars := dig(tp.Resources[w.ingest].Properties, "Environment", "Variables")
	w.ledger = refID(dig(vars, schema.EnvLedgerTable))
	tp.get(t, w.ledger, "AWS::DynamoDB::Table")
	for _, d := range events.Domains() {
		w.queue[d] = refID(dig(vars, schema.QueueURLEnv(d)))
		q := tp.get(t, w.queue[d], "AWS::SQS::Queue")
		w.dlq[d] = getAtt(dig(q.Properties, "RedrivePolicy", "deadLetterTargetArn"), "Arn")
		tp.get(t, w.dlq[d], "AWS::SQS::Queue")
		if w.worker[d] == "" {
			t.Fatalf("domain %s has no worker", d)
		}
		tp.get(t, w.table[d], "AWS::DynamoDB::Table")
		for _, id := range tp.ofType("AWS::Lambda::EventSourceMapping") {
			if refID(tp.Resources[id].Properties["FunctionName"]) == w.worker[d] {
				if w.esm[d] != "" {
					t.Fatalf("worker %s has two event sources", d)
				}
				w.esm[d] = id
			}
		}
	}
	return w
}

// distinct fails if two domains share a resource.
func distinct(t *testing.T, what string, ids map[events.Domain]string) {
	t.Helper()
	seen := map[string]events.Domain{}
	for d, id := range ids {
		if other, dup := seen[id]; dup {
			t.Errorf("%s %s shared by %s and %s", what, id, d, other)
		}
		seen[id] = d
	}
}

// checkGoFunction asserts what every function shares, and returns its log group's id.
func checkGoFunction(t *testing.T, s *synthesized, id string, memory, timeout float64) string {
	t.Helper()
	p := s.tp.get(t, id, "AWS::Lambda::Function").Properties
	for key, want := range map[string]any{
		"Runtime": "provided.al2023", "Handler": "bootstrap", "Architectures": []any{"arm64"},
		"MemorySize": memory, "Timeout": timeout, "TracingConfig": map[string]any{"Mode": "Active"},
	} {
		if !reflect.DeepEqual(p[key], want) {
			t.Errorf("%s %s = %v, want %v", id, key, p[key], want)
		}
	}
	// EMF metric lines carry no "level", which Lambda reads as INFO: its filter
	// must pass INFO, whatever LOG_LEVEL (applied in-process) says.
	passesInfo := map[any]bool{"TRACE": true, "DEBUG": true, "INFO": true}
	if dig(p, "LoggingConfig", "LogFormat") != "JSON" || !passesInfo[dig(p, "LoggingConfig", "ApplicationLogLevel")] {
		t.Errorf("%s logging %v: must pass INFO, where Lambda puts EMF lines", id, p["LoggingConfig"])
	}
	if got := dig(p, "Environment", "Variables", EnvLogLevel); got != s.cfg.LogLevel {
		t.Errorf("%s %s = %v, want %s", id, EnvLogLevel, got, s.cfg.LogLevel)
	}
	logs := refID(dig(p, "LoggingConfig", "LogGroup"))
	if got := dig(s.tp.get(t, logs, "AWS::Logs::LogGroup").Properties, "RetentionInDays"); got != float64(s.cfg.LogRetentionDays) {
		t.Errorf("%s log retention %v", id, got)
	}
	return logs
}

func TestEveryDomainHasItsPipeline(t *testing.T) {
	eachEnv(t, func(t *testing.T, s *synthesized) {
		tp, w := s.tp, wire(t, s)
		distinct(t, "queue", w.queue)
		distinct(t, "dead-letter queue", w.dlq)
		distinct(t, "state table", w.table)
		for _, d := range events.Domains() {
			t.Run(string(d), func(t *testing.T) {
				checkGoFunction(t, s, w.worker[d], WorkerMemoryMB, WorkerTimeout.Seconds())
				env := dig(tp.Resources[w.worker[d]].Properties, "Environment", "Variables")
				wantEnv := map[string]any{
					schema.EnvDomain:       string(d),
					schema.EnvStateTable:   map[string]any{"Ref": w.table[d]},
					schema.EnvLedgerTable:  map[string]any{"Ref": w.ledger},
					"LOG_LEVEL":            s.cfg.LogLevel,
					observability.EnvStack: s.cfg.StackName,
				}
				if !reflect.DeepEqual(env, wantEnv) {
					t.Errorf("worker env = %v, want %v", env, wantEnv)
				}

				// The worker consumes the very queue ingest sends this domain's events to.
				esm := tp.get(t, w.esm[d], "AWS::Lambda::EventSourceMapping").Properties
				if getAtt(esm["EventSourceArn"], "Arn") != w.queue[d] {
					t.Errorf("worker reads %v, not its queue %s", esm["EventSourceArn"], w.queue[d])
				}
				for key, want := range map[string]any{
					"FunctionResponseTypes":          []any{"ReportBatchItemFailures"},
					"BatchSize":                      10.0,
					"MaximumBatchingWindowInSeconds": 1.0,
					"ScalingConfig":                  map[string]any{"MaximumConcurrency": 5.0},
				} {
					if !reflect.DeepEqual(esm[key], want) {
						t.Errorf("event source %s = %v, want %v", key, esm[key], want)
					}
				}

				q := tp.Resources[w.queue[d]].Properties
				if got := dig(q, "RedrivePolicy", "maxReceiveCount"); got != float64(s.cfg.MaxReceiveCount) {
					t.Errorf("maxReceiveCount %v, want %d", got, s.cfg.MaxReceiveCount)
				}
				vis, _ := q["VisibilityTimeout"].(float64)
				if min := 6*WorkerTimeout.Seconds() + dig(esm, "MaximumBatchingWindowInSeconds").(float64); vis < min {
					t.Errorf("visibility timeout %vs < 6 × worker timeout + batching window = %vs", vis, min)
				}
				// SQS keeps the original enqueue time in the DLQ: its retention must be longer.
				retention := map[string]float64{w.queue[d]: 7 * 24 * 3600, w.dlq[d]: 14 * 24 * 3600}
				for id, want := range retention {
					p := tp.Resources[id].Properties
					if p["SqsManagedSseEnabled"] != true || p["MessageRetentionPeriod"] != want {
						t.Errorf("queue %s: SSE %v, retention %v, want %v", id, p["SqsManagedSseEnabled"], p["MessageRetentionPeriod"], want)
					}
					if !deniesInsecureTransport(tp, id) {
						t.Errorf("queue %s: no policy denying non-TLS access", id)
					}
				}

				table := tp.Resources[w.table[d]]
				checkDataTable(t, table)
				p := table.Properties
				if !reflect.DeepEqual(p["KeySchema"], []any{keyElem(schema.StatePK, "HASH")}) {
					t.Errorf("state key schema %v", p["KeySchema"])
				}
				if dig(p, "StreamSpecification", "StreamViewType") != "NEW_AND_OLD_IMAGES" {
					t.Errorf("stream %v", p["StreamSpecification"])
				}
				wantGSIs := []any{
					gsi(schema.StateByUserIndex, schema.StateUserID, "", "KEYS_ONLY"),
					gsi(schema.StateByAccountIndex, schema.StateAccountID, "", "KEYS_ONLY"),
					gsi(schema.StateByAccountGroupIndex, schema.StateAccountGroupID, "", "KEYS_ONLY"),
				}
				if !reflect.DeepEqual(p["GlobalSecondaryIndexes"], wantGSIs) {
					t.Errorf("state GSIs = %v", p["GlobalSecondaryIndexes"])
				}
			})
		}
		// Nothing beyond what the routing table asks for.
		n := len(events.Domains())
		counts := map[string]int{
			"AWS::SQS::Queue":                 2 * n,
			"AWS::DynamoDB::Table":            n + 1,
			"AWS::Lambda::Function":           n + 1,
			"AWS::Lambda::EventSourceMapping": n,
		}
		if s.cfg.ExampleStreamConsumer { // one consumer, its failure queue, one mapping per stream
			counts["AWS::SQS::Queue"]++
			counts["AWS::Lambda::Function"]++
			counts["AWS::Lambda::EventSourceMapping"] += n
		}
		if s.cfg.KeySyncEnabled() {
			counts["AWS::Lambda::Function"]++
		}
		for typ, want := range counts {
			if got := len(tp.ofType(typ)); got != want {
				t.Errorf("%d %s, want %d", got, typ, want)
			}
		}
	})
}

func keyElem(name, typ string) map[string]any {
	return map[string]any{"AttributeName": name, "KeyType": typ}
}

// gsi is an index as CloudFormation describes it; sk "" for an index without sort key.
func gsi(name, pk, sk, projection string) map[string]any {
	keySchema := []any{keyElem(pk, "HASH")}
	if sk != "" {
		keySchema = append(keySchema, keyElem(sk, "RANGE"))
	}
	return map[string]any{
		"IndexName":  name,
		"KeySchema":  keySchema,
		"Projection": map[string]any{"ProjectionType": projection},
	}
}

// checkDataTable asserts what the ledger and the state tables share.
func checkDataTable(t *testing.T, r resource) {
	t.Helper()
	p := r.Properties
	// Deletion protection would make the rollback of a failed first deploy fail (and leave the table behind).
	if p["BillingMode"] != "PAY_PER_REQUEST" || p["DeletionProtectionEnabled"] != false ||
		dig(p, "PointInTimeRecoverySpecification", "PointInTimeRecoveryEnabled") != true ||
		dig(p, "SSESpecification", "SSEEnabled") != true || p["TableName"] != nil {
		t.Errorf("table billing/protection/PITR/SSE/name: %v %v %v %v %v", p["BillingMode"], p["DeletionProtectionEnabled"],
			p["PointInTimeRecoverySpecification"], p["SSESpecification"], p["TableName"])
	}
	// Kept on stack deletion and replacement; deleted only by the rollback of the deploy that created it.
	if r.DeletionPolicy != "RetainExceptOnCreate" || r.UpdateReplace != "Retain" {
		t.Errorf("table deletion %q, replace %q: want RetainExceptOnCreate, Retain", r.DeletionPolicy, r.UpdateReplace)
	}
}

// deniesInsecureTransport reports whether a queue policy denies every request without TLS.
func deniesInsecureTransport(tp *template, queueID string) bool {
	for _, id := range tp.ofType("AWS::SQS::QueuePolicy") {
		p := tp.Resources[id].Properties
		if len(p["Queues"].([]any)) != 1 || refID(p["Queues"].([]any)[0]) != queueID {
			continue
		}
		for _, st := range dig(p, "PolicyDocument", "Statement").([]any) {
			if dig(st, "Effect") == "Deny" && dig(st, "Principal", "AWS") == "*" && dig(st, "Action") == "sqs:*" &&
				dig(st, "Condition", "Bool", "aws:SecureTransport") == "false" {
				return true
			}
		}
	}
	return false
}

func TestLedgerTable(t *testing.T) {
	eachEnv(t, func(t *testing.T, s *synthesized) {
		w := wire(t, s)
		r := s.tp.Resources[w.ledger]
		checkDataTable(t, r)
		p := r.Properties
		if !reflect.DeepEqual(p["KeySchema"], []any{keyElem(schema.LedgerPK, "HASH")}) {
			t.Errorf("ledger key schema %v", p["KeySchema"])
		}
		if want := map[string]any{"AttributeName": schema.LedgerExpiresAt, "Enabled": true}; !reflect.DeepEqual(p["TimeToLiveSpecification"], want) {
			t.Errorf("ledger TTL %v", p["TimeToLiveSpecification"])
		}
		if want := []any{gsi(schema.LedgerParkedIndex, schema.LedgerParked, schema.LedgerReceivedAt, "ALL")}; !reflect.DeepEqual(p["GlobalSecondaryIndexes"], want) {
			t.Errorf("ledger GSIs %v", p["GlobalSecondaryIndexes"])
		}
		if p["StreamSpecification"] != nil {
			t.Errorf("ledger has a stream nobody reads: %v", p["StreamSpecification"])
		}
	})
}

func TestIngestFunctionAndAPI(t *testing.T) {
	eachEnv(t, func(t *testing.T, s *synthesized) {
		tp, w := s.tp, wire(t, s)
		checkGoFunction(t, s, w.ingest, IngestMemoryMB, IngestTimeout.Seconds())
		// A default deploy reserves nothing, so that it works on a new account
		// (Lambda keeps 100 executions unreserved); the live fixture asks for 50,
		// which workers then cannot take. Workers reserve none (their mappings cap them).
		var wantReserved any // sandbox: defaults
		if s.cfg.Env == Live {
			wantReserved = 50.0
		}
		if got := tp.Resources[w.ingest].Properties["ReservedConcurrentExecutions"]; got != wantReserved {
			t.Errorf("ingest reserved concurrency %v, want %v", got, wantReserved)
		}
		for d, fn := range w.worker {
			if got := tp.Resources[fn].Properties["ReservedConcurrentExecutions"]; got != nil {
				t.Errorf("worker %s reserves %v", d, got)
			}
		}

		env := dig(tp.Resources[w.ingest].Properties, "Environment", "Variables").(map[string]any)
		publicPath, allowlist := "/webhooks", "sandbox"
		if s.cfg.Env == Live {
			publicPath, allowlist = "/upvest/webhooks", "live,203.0.113.0/24" // the fixture maps the API under /upvest
		}
		want := map[string]any{
			schema.EnvLedgerTable:       map[string]any{"Ref": w.ledger},
			"UPVEST_JWKS_SSM_PARAMETER": "/upvest-webhooks/" + string(s.cfg.Env) + "/jwks",
			"UPVEST_JWKS_REFRESH":       "5m",
			"IP_ALLOWLIST":              allowlist,
			"PUBLIC_PATH":               publicPath,
			"SIGNATURE_CLOCK_SKEW":      "60s",
			"LEDGER_RETENTION_DAYS":     "400",
			"LOG_LEVEL":                 s.cfg.LogLevel,
			observability.EnvStack:      s.cfg.StackName,
		}
		for _, d := range events.Domains() {
			want[schema.QueueURLEnv(d)] = map[string]any{"Ref": w.queue[d]}
		}
		if !reflect.DeepEqual(env, want) {
			t.Errorf("ingest env:\n got %v\nwant %v", env, want)
		}

		apis := tp.ofType("AWS::ApiGatewayV2::Api")
		if len(apis) != 1 || tp.Resources[apis[0]].Properties["ProtocolType"] != "HTTP" {
			t.Fatalf("want one HTTP API, got %v", apis)
		}
		api := apis[0]
		routes := tp.ofType("AWS::ApiGatewayV2::Route")
		if len(routes) != 1 {
			t.Fatalf("want exactly one route, got %v", routes)
		}
		route := tp.Resources[routes[0]].Properties
		if route["RouteKey"] != "POST /webhooks" || refID(route["ApiId"]) != api || route["AuthorizationType"] != nil && route["AuthorizationType"] != "NONE" {
			t.Errorf("route %v", route)
		}
		integID := strings.TrimPrefix(render(route["Target"]), "integrations/${")
		integ := tp.get(t, strings.TrimSuffix(integID, "}"), "AWS::ApiGatewayV2::Integration").Properties
		if integ["IntegrationType"] != "AWS_PROXY" || integ["PayloadFormatVersion"] != "2.0" || getAtt(integ["IntegrationUri"], "Arn") != w.ingest {
			t.Errorf("integration %v", integ)
		}
		invokable := false
		for _, id := range tp.ofType("AWS::Lambda::Permission") {
			p := tp.Resources[id].Properties
			invokable = invokable || p["Principal"] == "apigateway.amazonaws.com" && getAtt(p["FunctionName"], "Arn") == w.ingest &&
				strings.HasSuffix(render(p["SourceArn"]), "/*/*/webhooks")
		}
		if !invokable {
			t.Error("no permission for the API to invoke ingest on its route")
		}

		stages := tp.ofType("AWS::ApiGatewayV2::Stage")
		if len(stages) != 1 {
			t.Fatalf("stages %v", stages)
		}
		stage := tp.Resources[stages[0]].Properties
		if stage["StageName"] != "$default" || stage["AutoDeploy"] != true || refID(stage["ApiId"]) != api {
			t.Errorf("stage %v", stage)
		}
		// The stage throttle counts every caller: far above Upvest's rate, so that only a flood (which pages) reaches it.
		if want := map[string]any{"ThrottlingRateLimit": 1000.0, "ThrottlingBurstLimit": 2000.0}; !reflect.DeepEqual(stage["DefaultRouteSettings"], want) {
			t.Errorf("throttling %v", stage["DefaultRouteSettings"])
		}
		logs := getAtt(dig(stage, "AccessLogSettings", "DestinationArn"), "Arn")
		tp.get(t, logs, "AWS::Logs::LogGroup")
		var format map[string]string
		if err := json.Unmarshal([]byte(dig(stage, "AccessLogSettings", "Format").(string)), &format); err != nil {
			t.Errorf("access log format is not JSON: %v", err)
		}
		for _, v := range []string{"$context.requestId", "$context.status", "$context.identity.sourceIp", "$context.integrationErrorMessage"} {
			if !slices.Contains(slices.Collect(maps.Values(format)), v) {
				t.Errorf("access log lacks %s: %v", v, format)
			}
		}

		domains := tp.ofType("AWS::ApiGatewayV2::DomainName")
		disabled := tp.Resources[api].Properties["DisableExecuteApiEndpoint"]
		if s.cfg.Env == Sandbox {
			if len(domains) != 0 || disabled == true {
				t.Errorf("sandbox fixture has no custom domain: domains %v, execute-api disabled %v", domains, disabled)
			}
			return
		}
		if len(domains) != 1 || disabled != true {
			t.Fatalf("live fixture: domains %v, execute-api disabled %v", domains, disabled)
		}
		dn := tp.Resources[domains[0]].Properties
		wantDN := map[string]any{"CertificateArn": liveCert, "EndpointType": "REGIONAL", "SecurityPolicy": "TLS_1_2"}
		if dn["DomainName"] != liveDomain || !reflect.DeepEqual(dig(dn, "DomainNameConfigurations", 0), wantDN) {
			t.Errorf("domain %v", dn)
		}
		mappings := tp.ofType("AWS::ApiGatewayV2::ApiMapping")
		if len(mappings) != 1 {
			t.Fatalf("mappings %v", mappings)
		}
		m := tp.Resources[mappings[0]]
		if m.Properties["ApiMappingKey"] != "upvest" || m.Properties["Stage"] != "$default" || refID(m.Properties["DomainName"]) != domains[0] ||
			refID(m.Properties["ApiId"]) != api {
			t.Errorf("mapping %v", m.Properties)
		}
		// CloudFormation must create the stage before mapping a domain to it.
		if !slices.Contains(stringsOf(m.DependsOn), stages[0]) {
			t.Errorf("mapping does not depend on the stage %s: %v", stages[0], m.DependsOn)
		}
	})
}

func TestLeastPrivilege(t *testing.T) {
	eachEnv(t, func(t *testing.T, s *synthesized) {
		tp, w := s.tp, wire(t, s)
		partition, region, account := "${AWS::Partition}", "${AWS::Region}", "${AWS::AccountId}"
		if s.cfg.Env == Live { // a known region makes the partition a literal too
			partition, region, account = "aws", liveRegion, liveAccount
		}
		arn := func(id string) string { return "${" + id + ".Arn}" }
		// What every function needs: its own log group, and X-Ray (which has no resource-level permissions).
		base := func(fn string) map[grant]bool {
			logs := refID(dig(tp.Resources[fn].Properties, "LoggingConfig", "LogGroup"))
			return union(
				grants([]string{"logs:CreateLogStream", "logs:PutLogEvents"}, arn(logs)),
				grants([]string{"xray:PutTraceSegments", "xray:PutTelemetryRecords"}, "*"),
			)
		}
		check := func(name, fn string, want map[grant]bool) {
			t.Helper()
			role := getAtt(tp.Resources[fn].Properties["Role"], "Arn")
			extra, missing := diffGrants(tp.grantsOf(t, role), want)
			if len(extra) > 0 || len(missing) > 0 {
				t.Errorf("%s role %s:\n  granted beyond need: %v\n  needed, not granted: %v", name, role, extra, missing)
			}
		}

		queues := make([]string, 0, len(w.queue))
		for _, d := range events.Domains() {
			queues = append(queues, arn(w.queue[d]))
		}
		check("ingest", w.ingest, union(base(w.ingest),
			// GetItem: an id that comes again with other bytes while its record is RECEIVED is sent again from the ledger.
			grants([]string{"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"}, arn(w.ledger)),
			grants([]string{"sqs:SendMessage"}, queues...),
			grants([]string{"ssm:GetParameter"}, "arn:"+partition+":ssm:"+region+":"+account+":parameter/upvest-webhooks/"+string(s.cfg.Env)+"/jwks"),
		))
		for _, d := range events.Domains() {
			check("worker "+string(d), w.worker[d], union(base(w.worker[d]),
				grants([]string{"dynamodb:UpdateItem"}, arn(w.table[d])),
				grants([]string{"dynamodb:GetItem", "dynamodb:UpdateItem"}, arn(w.ledger)),
				grants([]string{"sqs:ReceiveMessage", "sqs:ChangeMessageVisibility", "sqs:DeleteMessage",
					"sqs:GetQueueAttributes", "sqs:GetQueueUrl"}, arn(w.queue[d])),
			))
		}
		if s.cfg.ExampleStreamConsumer {
			fn, failures := consumerIDs(t, tp)
			streams := make([]string, 0, len(w.table))
			for _, d := range events.Domains() {
				streams = append(streams, "${"+w.table[d]+".StreamArn}")
			}
			check("stream consumer", fn, union(base(fn),
				grants([]string{"dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"}, streams...),
				grants([]string{"dynamodb:ListStreams"}, "*"), // no resource-level permissions exist for it
				grants([]string{"sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"}, arn(failures)),
			))
		}

		// Every role is a function's role (or the key sync schedule's, see
		// TestKeySync), and no identity policy anywhere has a wildcard action.
		roles := tp.ofType("AWS::IAM::Role")
		if len(roles) != len(tp.ofType("AWS::Lambda::Function"))+len(tp.ofType("AWS::Scheduler::Schedule")) {
			t.Errorf("%d roles for %d functions", len(roles), len(tp.ofType("AWS::Lambda::Function")))
		}
		for _, role := range roles {
			for g := range tp.grantsOf(t, role) {
				if strings.Contains(g.Action, "*") {
					t.Errorf("role %s: wildcard action %s", role, g)
				}
			}
		}
	})
}

// consumerIDs finds the example stream consumer's function and failure queue.
func consumerIDs(t *testing.T, tp *template) (fn, failures string) {
	t.Helper()
	for _, id := range tp.ofType("AWS::Lambda::EventSourceMapping") {
		p := tp.Resources[id].Properties
		if getAtt(p["EventSourceArn"], "StreamArn") != "" {
			fn = refID(p["FunctionName"])
			failures = getAtt(dig(p, "DestinationConfig", "OnFailure", "Destination"), "Arn")
		}
	}
	if fn == "" || failures == "" {
		t.Fatal("no stream consumer")
	}
	return fn, failures
}

func TestStreamConsumer(t *testing.T) {
	eachEnv(t, func(t *testing.T, s *synthesized) {
		tp, w := s.tp, wire(t, s)
		if !s.cfg.ExampleStreamConsumer {
			for _, id := range tp.ofType("AWS::Lambda::EventSourceMapping") {
				if getAtt(tp.Resources[id].Properties["EventSourceArn"], "StreamArn") != "" {
					t.Errorf("stream mapping %s although exampleStreamConsumer is off", id)
				}
			}
			return
		}
		fn, failures := consumerIDs(t, tp)
		checkGoFunction(t, s, fn, ConsumerMemory, ConsumerTimeout.Seconds())
		if env := dig(tp.Resources[fn].Properties, "Environment", "Variables"); !reflect.DeepEqual(env, map[string]any{"LOG_LEVEL": s.cfg.LogLevel, observability.EnvStack: s.cfg.StackName}) {
			t.Errorf("consumer env %v", env)
		}
		if !deniesInsecureTransport(tp, failures) {
			t.Error("failure queue accepts non-TLS requests")
		}
		if got := tp.Resources[failures].Properties["MessageRetentionPeriod"]; got != 14*24*3600.0 {
			t.Errorf("failure queue retention %v, want 14 days", got)
		}
		for _, d := range events.Domains() {
			found := 0
			for _, id := range tp.ofType("AWS::Lambda::EventSourceMapping") {
				p := tp.Resources[id].Properties
				if getAtt(p["EventSourceArn"], "StreamArn") != w.table[d] {
					continue
				}
				found++
				want := map[string]any{
					"FunctionName":               map[string]any{"Ref": fn},
					"FunctionResponseTypes":      []any{"ReportBatchItemFailures"},
					"BisectBatchOnFunctionError": true,
					"MaximumRetryAttempts":       float64(ConsumerRetryAttempts),
					"MaximumRecordAgeInSeconds":  ConsumerMaxRecordAge * 3600.0,
					"StartingPosition":           "TRIM_HORIZON",
					"BatchSize":                  float64(ConsumerBatchSize),
				}
				for k, v := range want {
					if !reflect.DeepEqual(p[k], v) {
						t.Errorf("%s stream mapping %s = %v, want %v", d, k, p[k], v)
					}
				}
			}
			if found != 1 {
				t.Errorf("%s state table stream has %d consumer mappings, want 1", d, found)
			}
		}
	})
}

// metricKey describes one metric: namespace/name[dimensions], for lookups.
func metricKey(namespace, name, dims any) string {
	var parts []string
	if dims != nil {
		for _, d := range dims.([]any) {
			parts = append(parts, fmt.Sprintf("%v=%s", dig(d, "Name"), render(dig(d, "Value"))))
		}
	}
	slices.Sort(parts)
	return fmt.Sprintf("%v/%v[%s]", namespace, name, strings.Join(parts, ","))
}

// watched is what an alarm evaluates: its metrics (with their statistic and
// period) and, for metric math, the expression.
type watched struct {
	id         string
	expression string
	metrics    map[string]string // metricKey -> statistic
	period     float64
	props      map[string]any
}

func watchedBy(t *testing.T, id string, p map[string]any) watched {
	t.Helper()
	w := watched{id: id, metrics: map[string]string{}, props: p}
	if p["MetricName"] != nil {
		w.metrics[metricKey(p["Namespace"], p["MetricName"], p["Dimensions"])] = fmt.Sprint(p["Statistic"])
		w.period, _ = p["Period"].(float64)
		return w
	}
	for _, q := range p["Metrics"].([]any) {
		if e, ok := dig(q, "Expression").(string); ok {
			w.expression = e
			continue
		}
		m := dig(q, "MetricStat", "Metric")
		w.metrics[metricKey(dig(m, "Namespace"), dig(m, "MetricName"), dig(m, "Dimensions"))] = fmt.Sprint(dig(q, "MetricStat", "Stat"))
		period, _ := dig(q, "MetricStat", "Period").(float64)
		if w.period != 0 && w.period != period {
			t.Errorf("alarm %s mixes periods %v and %v", id, w.period, period)
		}
		w.period = period
	}
	return w
}

// UpvestMaxBackoff is the longest pause between two deliveries of a failing webhook.
const UpvestMaxBackoff = 600.0

func TestAlarms(t *testing.T) {
	eachEnv(t, func(t *testing.T, s *synthesized) {
		tp, w := s.tp, wire(t, s)
		api := tp.ofType("AWS::ApiGatewayV2::Api")[0]
		var alarms []watched
		for _, id := range tp.ofType("AWS::CloudWatch::Alarm") {
			p := tp.Resources[id].Properties
			a := watchedBy(t, id, p)
			alarms = append(alarms, a)
			// Only the composites notify; a component never pages on its own, nor flaps OK.
			if p["ActionsEnabled"] != false || p["AlarmActions"] != nil || p["OKActions"] != nil {
				t.Errorf("alarm %s has actions of its own: %v %v %v", id, p["ActionsEnabled"], p["AlarmActions"], p["OKActions"])
			}
			if p["TreatMissingData"] != "notBreaching" || p["DatapointsToAlarm"] != 1.0 {
				t.Errorf("alarm %s: missing data %v, datapoints to alarm %v", id, p["TreatMissingData"], p["DatapointsToAlarm"])
			}
			// Stays in ALARM across one of Upvest's retry pauses.
			if window := p["EvaluationPeriods"].(float64) * a.period; window <= UpvestMaxBackoff {
				t.Errorf("alarm %s looks back %v s, not longer than Upvest's %v s backoff", id, window, UpvestMaxBackoff)
			}
			if len(a.metrics) > 10 {
				t.Errorf("alarm %s has %d metrics; CloudWatch allows 10", id, len(a.metrics))
			}
		}
		// find returns the alarms watching key: plain ones for an empty prefix, else math alarms whose expression starts with it.
		find := func(key, prefix string) []watched {
			var out []watched
			for _, a := range alarms {
				if _, ok := a.metrics[key]; ok && (prefix == "" && a.expression == "" || prefix != "" && strings.HasPrefix(a.expression, prefix)) {
					out = append(out, a)
				}
			}
			return out
		}
		expect := func(key, prefix, op string, threshold float64, stat string) string {
			t.Helper()
			found := find(key, prefix)
			if len(found) != 1 {
				t.Errorf("%d alarms (%q) on %s, want 1", len(found), prefix, key)
				return ""
			}
			a := found[0]
			if a.props["ComparisonOperator"] != op || a.props["Threshold"] != threshold || a.metrics[key] != stat {
				t.Errorf("alarm %s on %s: %v %v (%v), want %s %v (%s)", a.id, key, a.props["ComparisonOperator"], a.props["Threshold"], a.metrics[key], op, threshold, stat)
			}
			return a.id
		}
		const atLeast, above = "GreaterThanOrEqualToThreshold", "GreaterThanThreshold"
		ns := observability.Namespace

		// The feed: any non-200 on POST /webhooks, requests without a 200, 5xx, ingest errors and throttles.
		refused := ns + "/" + MetricWebhookRefused + "[ApiId=${" + api + "}]"
		ok := ns + "/" + MetricWebhookOK + "[ApiId=${" + api + "}]"
		feed := []string{
			expect(refused, "", atLeast, 1, "Sum"),
			expect("AWS/ApiGateway/5xx[ApiId=${"+api+"},Stage=$default]", "", atLeast, 1, "Sum"),
			expect("AWS/Lambda/Errors[FunctionName=${"+w.ingest+"}]", "", atLeast, 1, "Sum"),
			expect("AWS/Lambda/Throttles[FunctionName=${"+w.ingest+"}]", "", atLeast, 1, "Sum"),
		}
		noSuccess := expect(ok, "IF(", atLeast, 1, "Sum")
		feed = append(feed, noSuccess)
		for _, a := range alarms {
			if a.id == noSuccess {
				if _, both := a.metrics[refused]; !both || a.expression != "IF(FILL(refused, 0) > 0 AND FILL(ok, 0) == 0, 1, 0)" {
					t.Errorf("no-success alarm: %q over %v", a.expression, a.metrics)
				}
			}
		}
		checkWebhookFilters(t, tp, w)

		// The pipeline: one metric-math alarm per kind of trouble covers every domain.
		pipeline := map[string]bool{}
		for _, d := range events.Domains() {
			pipeline[expect("AWS/SQS/ApproximateNumberOfMessagesVisible[QueueName=${"+w.dlq[d]+".QueueName}]", "MAX(", above, 0, "Maximum")] = true
			pipeline[expect("AWS/SQS/ApproximateAgeOfOldestMessage[QueueName=${"+w.queue[d]+".QueueName}]", "MAX(", above, float64(s.cfg.QueueAgeAlarm), "Maximum")] = true
			pipeline[expect(ns+"/"+observability.MetricParked+"[Service=worker-"+string(d)+",Stack="+s.cfg.StackName+"]", "SUM(", atLeast, 1, "Sum")] = true
			pipeline[expect("AWS/Lambda/Errors[FunctionName=${"+w.worker[d]+"}]", "SUM(", atLeast, 1, "Sum")] = true
		}
		pipeline[expect(ns+"/"+observability.MetricParked+"[Service="+ServiceIngest+",Stack="+s.cfg.StackName+"]", "SUM(", atLeast, 1, "Sum")] = true
		pipeline[expect(ns+"/"+observability.MetricRequestsParked+"[Service="+ServiceIngest+",Stack="+s.cfg.StackName+"]", "SUM(", atLeast, 1, "Sum")] = true
		pipeline[expect(ns+"/"+observability.MetricAhead+"[Service="+ServiceIngest+",Stack="+s.cfg.StackName+"]", "SUM(", atLeast, 1, "Sum")] = true
		pipeline[expect(ns+"/"+observability.MetricConflicting+"[Service="+ServiceIngest+",Stack="+s.cfg.StackName+"]", "SUM(", atLeast, 1, "Sum")] = true
		if s.cfg.ExampleStreamConsumer {
			fn, failures := consumerIDs(t, tp)
			pipeline[expect("AWS/SQS/ApproximateNumberOfMessagesVisible[QueueName=${"+failures+".QueueName}]", "MAX(", above, 0, "Maximum")] = true
			pipeline[expect("AWS/Lambda/Errors[FunctionName=${"+fn+"}]", "SUM(", atLeast, 1, "Sum")] = true
			pipeline[expect("AWS/Lambda/Throttles[FunctionName=${"+fn+"}]", "SUM(", atLeast, 1, "Sum")] = true
		}
		if s.cfg.KeySyncEnabled() {
			fn := keySyncFunction(t, tp)
			pipeline[expect("AWS/Lambda/Errors[FunctionName=${"+fn+"}]", "", atLeast, 1, "Sum")] = true
			// Runs that did not happen: throttles, and Scheduler's failures to invoke it, in
			// the key sync's own schedule group (issue 17), summed in one alarm.
			group := keySyncScheduleGroup(t, tp)
			notRun := expect("AWS/Lambda/Throttles[FunctionName=${"+fn+"}]", "SUM(", atLeast, 1, "Sum")
			pipeline[notRun] = true
			for _, m := range []string{"TargetErrorCount", "InvocationDroppedCount"} {
				if id := expect("AWS/Scheduler/"+m+"[ScheduleGroup=${"+group+"}]", "SUM(", atLeast, 1, "Sum"); id != notRun {
					t.Errorf("the key sync schedule's %s is watched by %s, not with its throttles by %s", m, id, notRun)
				}
			}
		}
		// Fewer alarms: 4 kinds over 13+ domains, grouped by 10 metrics, instead of one per queue.
		if len(pipeline) > 10 {
			t.Errorf("%d pipeline alarms; metric math should cover the domains in a few", len(pipeline))
		}
		// The alarms before a limit binds (TestAlarmsBeforeLimits checks what each watches): ingest
		// near its reservation joins the feed's composite; workers near their maximum and on-demand
		// write throttles (one per 10 metrics CloudWatch allows an alarm) join the pipeline's.
		limits := 0
		for _, a := range alarmsDescribed(t, s, "of its reserved") {
			feed = append(feed, a.id)
			limits++
		}
		for _, prefix := range []string{"maximum concurrency", "throttled writes to an on-demand table"} {
			for _, a := range alarmsDescribed(t, s, prefix) {
				pipeline[a.id] = true
				limits++
			}
		}
		if len(alarms) != len(feed)+len(pipeline) {
			t.Errorf("%d alarms, want the %d feed and %d pipeline ones (%d of them before a limit)", len(alarms), len(feed), len(pipeline), limits)
		}

		// One composite per outage kind; each component in exactly one; only composites notify.
		composites := tp.ofType("AWS::CloudWatch::CompositeAlarm")
		if len(composites) != 2 {
			t.Fatalf("composites %v, want FeedBlocked and PipelineStuck", composites)
		}
		topic := ""
		if s.cfg.AlarmEmail != "" {
			topics := tp.ofType("AWS::SNS::Topic")
			if len(topics) != 1 {
				t.Fatalf("topics %v", topics)
			}
			topic = topics[0]
		}
		var wantActions []string
		if topic != "" {
			wantActions = []string{"${" + topic + "}"}
		}
		members := map[string][]string{}
		for _, id := range composites {
			p := tp.Resources[id].Properties
			rule := render(p["AlarmRule"])
			for _, a := range alarms {
				if strings.Contains(rule, `ALARM("${`+a.id+`.Arn}")`) {
					members[a.id] = append(members[a.id], id)
				}
			}
			if got := stringsOf(p["AlarmActions"]); !slices.Equal(got, wantActions) || !slices.Equal(stringsOf(p["OKActions"]), wantActions) {
				t.Errorf("composite %s actions %v / %v, want %v", id, got, p["OKActions"], wantActions)
			}
			if strings.Contains(rule, " AND ") {
				t.Errorf("composite %s: %s; want any component to raise it", id, rule)
			}
		}
		sameComposite := func(ids []string) {
			t.Helper()
			var parent string
			for _, id := range ids {
				if len(members[id]) != 1 {
					t.Errorf("alarm %s is in composites %v, want exactly one", id, members[id])
					continue
				}
				if parent == "" {
					parent = members[id][0]
				} else if members[id][0] != parent {
					t.Errorf("alarm %s is in %s, its group in %s", id, members[id][0], parent)
				}
			}
		}
		sameComposite(feed)
		sameComposite(slices.Collect(maps.Keys(pipeline)))
		if members[feed[0]] != nil && members[noSuccess] != nil && len(pipeline) > 0 {
			for id := range pipeline {
				if slices.Equal(members[id], members[feed[0]]) {
					t.Errorf("pipeline alarm %s shares the feed's composite", id)
				}
			}
		}

		if len(tp.ofType("AWS::CloudWatch::Dashboard")) != 1 {
			t.Error("no dashboard")
		}
		if topic == "" {
			if n := len(tp.ofType("AWS::SNS::Topic")); n != 0 {
				t.Errorf("%d topics without alarmEmail", n)
			}
			return
		}
		tprops := tp.Resources[topic].Properties
		key := getAtt(tprops["KmsMasterKeyId"], "Arn")
		if k := tp.get(t, key, "AWS::KMS::Key").Properties; k["EnableKeyRotation"] != true {
			t.Errorf("topic key %v", k)
		}
		subscribed := false
		for _, id := range tp.ofType("AWS::SNS::Subscription") {
			p := tp.Resources[id].Properties
			subscribed = subscribed || p["Protocol"] == "email" && p["Endpoint"] == liveEmail && refID(p["TopicArn"]) == topic
		}
		if !subscribed {
			t.Error("no email subscription")
		}
		var sslOnly, cloudwatchMayPublish bool
		for _, id := range tp.ofType("AWS::SNS::TopicPolicy") {
			for _, st := range dig(tp.Resources[id].Properties, "PolicyDocument", "Statement").([]any) {
				sslOnly = sslOnly || dig(st, "Effect") == "Deny" && dig(st, "Condition", "Bool", "aws:SecureTransport") == "false"
				cloudwatchMayPublish = cloudwatchMayPublish || dig(st, "Effect") == "Allow" &&
					dig(st, "Principal", "Service") == "cloudwatch.amazonaws.com" && dig(st, "Action") == "sns:Publish"
			}
		}
		if !sslOnly || !cloudwatchMayPublish {
			t.Errorf("topic policy: TLS only %v, CloudWatch may publish %v", sslOnly, cloudwatchMayPublish)
		}
	})
}

// checkWebhookFilters: the access log of the stage feeds the two metrics of
// POST /webhooks answers, 200 and not, by API id.
func checkWebhookFilters(t *testing.T, tp *template, w *wiring) {
	t.Helper()
	stage := tp.Resources[tp.ofType("AWS::ApiGatewayV2::Stage")[0]].Properties
	accessLogs := getAtt(dig(stage, "AccessLogSettings", "DestinationArn"), "Arn")
	var format map[string]string
	json.Unmarshal([]byte(dig(stage, "AccessLogSettings", "Format").(string)), &format)
	if format["apiId"] != "$context.apiId" || format["routeKey"] != "$context.routeKey" || format["status"] != "$context.status" {
		t.Errorf("access log lacks the fields the metric filters read: %v", format)
	}
	want := map[string]string{
		MetricWebhookOK:      `{ $.routeKey = "POST /webhooks" && $.status = "200" }`,
		MetricWebhookRefused: `{ $.routeKey = "POST /webhooks" && $.status != "200" }`,
	}
	for _, id := range tp.ofType("AWS::Logs::MetricFilter") {
		p := tp.Resources[id].Properties
		name, _ := dig(p, "MetricTransformations", 0, "MetricName").(string)
		pattern, ok := want[name]
		if !ok {
			t.Errorf("unexpected metric filter %s for %s", id, name)
			continue
		}
		delete(want, name)
		mt := dig(p, "MetricTransformations", 0)
		if refID(p["LogGroupName"]) != accessLogs || p["FilterPattern"] != pattern || dig(mt, "MetricNamespace") != observability.Namespace ||
			dig(mt, "MetricValue") != "1" || !reflect.DeepEqual(dig(mt, "Dimensions"), []any{map[string]any{"Key": "ApiId", "Value": "$.apiId"}}) {
			t.Errorf("metric filter %s: %v", id, p)
		}
	}
	for name := range want {
		t.Errorf("no metric filter for %s", name)
	}
}

func TestOutputs(t *testing.T) {
	eachEnv(t, func(t *testing.T, s *synthesized) {
		tp, w := s.tp, wire(t, s)
		value := func(name string) string {
			t.Helper()
			o, ok := tp.Outputs[name]
			if !ok {
				t.Errorf("no output %s", name)
				return ""
			}
			return render(o["Value"])
		}
		if got := value("LedgerTableName"); got != "${"+w.ledger+"}" {
			t.Errorf("LedgerTableName = %s", got)
		}
		for _, d := range events.Domains() {
			if got := value("StateTable" + ConstructName(string(d)) + "Name"); got != "${"+w.table[d]+"}" {
				t.Errorf("%s table output %s", d, got)
			}
			if got := value("StateTable" + ConstructName(string(d)) + "StreamArn"); got != "${"+w.table[d]+".StreamArn}" {
				t.Errorf("%s stream output %s", d, got)
			}
			if got := value("Queue" + ConstructName(string(d)) + "Url"); got != "${"+w.queue[d]+"}" {
				t.Errorf("%s queue output %s", d, got)
			}
			if got := value("DeadLetterQueue" + ConstructName(string(d)) + "Url"); got != "${"+w.dlq[d]+"}" {
				t.Errorf("%s dead-letter queue output %s", d, got)
			}
		}
		api := tp.ofType("AWS::ApiGatewayV2::Api")[0]
		want := "${" + api + ".ApiEndpoint}/webhooks" // https://<id>.execute-api.<region>.amazonaws.com
		if s.cfg.Env == Live {
			want = "https://" + liveDomain + "/upvest/webhooks"
			if got := value("CustomDomainTarget"); !strings.Contains(got, ".RegionalDomainName}") {
				t.Errorf("CustomDomainTarget = %s", got)
			}
		}
		if got := value("WebhookUrl"); got != want {
			t.Errorf("WebhookUrl = %s, want %s", got, want)
		}
	})
}

// TestCdkNag: the AwsSolutions pack finds nothing unsuppressed, and the
// suppressions are exactly the reviewed ones (a new one must be added here).
func TestCdkNag(t *testing.T) {
	eachEnv(t, checkNag)
}

// checkNag is TestCdkNag on one synthesis.
func checkNag(t *testing.T, s *synthesized) {
	if len(s.errors) > 0 {
		t.Errorf("cdk-nag errors:\n%s", strings.Join(s.errors, "\n"))
	}
	if len(s.warnings) > 0 {
		t.Errorf("cdk-nag warnings:\n%s", strings.Join(s.warnings, "\n"))
	}
	reviewed := map[string]bool{
		"AwsSolutions-IAM5 [Resource::*]": true, // X-Ray; dynamodb:ListStreams for the consumer
		"AwsSolutions-APIG4 []":           true, // Upvest authenticates by message signature
	}
	if s.cfg.ExampleStreamConsumer {
		reviewed["AwsSolutions-SQS3 []"] = true // the consumer's on-failure queue
	}
	if s.cfg.Subscription.Enabled {
		// The CDK Provider framework's relay (subscription.go): its managed
		// policy, its <function>:* invoke grant and its pinned Node.js runtime.
		for _, id := range []string{"AwsSolutions-IAM4 []", "AwsSolutions-IAM5 []", "AwsSolutions-L1 []"} {
			reviewed[id] = true
		}
	}
	seen := map[string]bool{}
	for id, r := range s.tp.Resources {
		rules, _ := dig(r.Metadata, "cdk_nag", "rules_to_suppress").([]any)
		for _, rule := range rules {
			key := fmt.Sprintf("%v %v", dig(rule, "id"), stringsOf(dig(rule, "applies_to")))
			seen[key] = true
			if !reviewed[key] {
				t.Errorf("%s: unreviewed suppression %s", id, key)
			}
			if reason, _ := dig(rule, "reason").(string); len(reason) < 40 {
				t.Errorf("%s: suppression %s without a real reason: %q", id, key, reason)
			}
		}
	}
	for key := range reviewed {
		if !seen[key] {
			t.Errorf("suppression %s is no longer needed; remove it", key)
		}
	}
}
