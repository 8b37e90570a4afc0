package stack

import (
	"errors"
	"fmt"
	"maps"
	"net/mail"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/schema"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/signature"
)

// Environment is the Upvest environment a deployment receives webhooks from.
type Environment string

const (
	Sandbox Environment = "sandbox"
	Live    Environment = "live"
)

// AllowlistOff turns the ingest's source IP check off (IP_ALLOWLIST=off).
const AllowlistOff = "off"

// WebhookPath is the API route Upvest posts to.
const WebhookPath = "/webhooks"

// Lambda asset names: ./functions/<name>, built by BuildLambdas into <dir>/<name>/bootstrap.
const (
	AssetIngest         = "ingest"
	AssetWorker         = "worker"
	AssetStreamConsumer = "streamconsumer"
	AssetKeySync        = "keysync"
	AssetSubscription   = "subscription"
)

// Config is everything a deployment can vary. Every field comes from CDK
// context (cdk.json or -c key=value); Load documents the keys and defaults.
type Config struct {
	Env       Environment
	StackName string
	AssetsDir string // holds <asset>/bootstrap for every Lambda; set by the app after BuildLambdas, not by context

	JWKSParameter      string // SSM String parameter holding Upvest's JWKS, loaded by the operator
	JWKSRefresh        string // Go duration, how often ingest re-reads the JWKS
	IPAllowlist        string // off, or the environment's name and/or IPs/CIDRs, comma-separated
	SignatureClockSkew string // Go duration
	LedgerRetention    int    // days an event stays in the ledger (TTL)
	LogLevel           string
	LogRetentionDays   int

	// Optional custom domain: both or neither. BasePath is an API mapping key.
	DomainName     string
	CertificateARN string
	BasePath       string

	// Stage throttling applies to every caller, Upvest included: set far above
	// Upvest's rate so only a flood (which pages) can push Upvest into 429s.
	ThrottleRate  int // requests per second at the default stage
	ThrottleBurst int
	// Concurrency reserved for ingest: the workers cannot take it away, and
	// ingest cannot take more than this from the account. 0 (the default)
	// reserves nothing: Lambda refuses any reservation that would leave the
	// account fewer than 100 unreserved executions, so a reservation by default
	// would fail the first deploy on a new account (quota often 10).
	IngestReservedConcurrency int
	// IngestMemoryMB is ingest's memory, IngestMemoryMB (two vCPUs) unless
	// set: a new AWS account's "Function memory maximum" can be 3,008 MB,
	// and Lambda then refuses more, failing the first deploy.
	IngestMemoryMB int

	MaxReceiveCount      int // deliveries before a message goes to its domain's DLQ
	WorkerBatchSize      int
	WorkerBatchWindow    int // seconds
	WorkerMaxConcurrency int

	AlarmEmail            string // optional: SNS email subscription for every alarm
	QueueAgeAlarm         int    // seconds a message may wait on a domain queue before alarming
	ExampleStreamConsumer bool

	// Key sync (keysync.go): on only with the secret of the customer's Upvest API client.
	UpvestAPISecretARN string
	UpvestAPIBaseURL   string // set (default per env) only when UpvestAPISecretARN is
	// Stack-owned Upvest subscriptions (subscription.go): off unless asked; need the key sync.
	Subscription SubscriptionConfig
	// OpenTelemetry traces of ingest and the workers (shared/prod/tracing): off,
	// xray (CloudWatch's OTLP endpoint), console (the function's logs) or
	// collector (a collector Lambda layer, OTelCollectorLayerARN).
	OTelTraces            string
	OTelCollectorLayerARN string

	// How every DynamoDB table the stack creates, and each of its indexes, is
	// billed (tables.go). On demand costs nothing idle and takes any burst;
	// provisioned capacity with auto scaling costs about 0.41× per write at 70 %
	// utilisation, for steady high volume, but throttles what outruns the scaling.
	Capacity TableCapacity
	Scaling  Scaling // scaling.go
}

// Values of the capacityMode context key.
const (
	CapacityOnDemand    = "on-demand"
	CapacityProvisioned = "provisioned"
)

// TableCapacity is the capacity of each table and each index, which auto
// scaling moves between the minimum and the maximum on its own. The bounds
// apply only in provisioned mode.
type TableCapacity struct {
	Mode string // CapacityOnDemand or CapacityProvisioned
	// Every event writes at least 3 units (ingest's put, the worker's outcome
	// update, the state write), so writes dominate: the minimum is what each
	// table and index pays when idle, and what a burst meets before scaling reacts.
	MinWrite, MaxWrite int
	// Reads are rare: the workers' claim-check GetItem on the ledger, and the ops tool.
	MinRead, MaxRead int
	// TargetUtilization (percent) is the share of the provisioned capacity
	// auto scaling keeps in use: higher is cheaper, lower leaves more headroom for a burst.
	TargetUtilization int
	// WarmWriteUnits is Scaling.WarmWriteUnits, for every table and index.
	WarmWriteUnits int
}

// Provisioned reports whether the tables have provisioned capacity (with auto scaling).
func (c TableCapacity) Provisioned() bool { return c.Mode == CapacityProvisioned }

// Values of the otelTraces context key.
const (
	OTelOff       = "off"
	OTelXRay      = "xray"
	OTelConsole   = "console"
	OTelCollector = "collector"
)

// TracingEnvironment is what the functions read to export traces as
// OTelTraces says (region: the stack's); nothing when off.
func (c Config) TracingEnvironment(region string) map[string]string {
	switch c.OTelTraces {
	case OTelXRay:
		// Signed with the role's credentials; X-Ray's write permission, which
		// active tracing grants, covers the endpoint. Needs Transaction Search.
		return map[string]string{
			"OTEL_TRACES_EXPORTER":               "otlp",
			"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://xray." + region + ".amazonaws.com/v1/traces",
		}
	case OTelConsole:
		return map[string]string{"OTEL_TRACES_EXPORTER": "console"}
	case OTelCollector:
		// The layer's collector listens on localhost:4318, the default endpoint.
		return map[string]string{"OTEL_TRACES_EXPORTER": "otlp"}
	}
	return nil
}

// Fixed sizing, chosen for this workload rather than configured (ingest's
// memory is the default of ingestMemoryMB).
const (
	// Two vCPUs: a 1 MiB package is answered in about 120 ms (1.2× its calls'
	// latency), about 12,000 events/s per subscription, where 1,769 MB (one
	// vCPU) gives 1.4× and 10,000/s and 512 MB 3.4× and 4,000/s
	// (BenchmarkLatencyModelledIngest). Ingest runs once per package, so its
	// GB-seconds are under 1 % of an event's cost.
	IngestMemoryMB = 3538
	// Lambda's memory range; new accounts may be held at 3,008 MB until AWS raises it.
	minLambdaMemoryMB = 128
	maxLambdaMemoryMB = 10240
	// Under API Gateway's 30 s integration limit, so a stuck call ends in the
	// function's own logs and metrics rather than as an anonymous gateway 503.
	IngestTimeout   = 20 * time.Second
	WorkerMemoryMB  = 256
	WorkerTimeout   = schema.WorkerTimeout
	ConsumerMemory  = 256
	ConsumerTimeout = 30 * time.Second
)

// PublicPath is the URL path Upvest signs: the route, behind the custom
// domain's base path when there is one. Ingest rebuilds @path from it.
func (c Config) PublicPath() string {
	if c.DomainName != "" && c.BasePath != "" {
		return "/" + c.BasePath + WebhookPath
	}
	return WebhookPath
}

// QueueVisibilityTimeout leaves a message invisible while any worker could
// still hold it: AWS's advice of 6 × the function timeout, plus the batching window.
func (c Config) QueueVisibilityTimeout() time.Duration {
	return schema.QueueVisibilityTimeout(time.Duration(c.WorkerBatchWindow) * time.Second)
}

// Load reads the configuration from context. get returns a context value (a
// string from -c, a string/number/bool from cdk.json) or nil when unset.
func Load(get func(key string) any) (Config, error) { return load(get, nil) }

// LoadContext is Load over the app's whole context, which also refuses a key
// that looks like one of this stack's options but is none: a misspelt key
// (ingestReservedConcurency) would otherwise be silently ignored.
func LoadContext(context map[string]any) (Config, error) {
	keys := make([]string, 0, len(context))
	for k := range context {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return load(func(k string) any { return context[k] }, keys)
}

// AppContextKeys are the context keys the app (infra/main.go) reads itself, not Load.
var AppContextKeys = []string{"nag"}

// optionKeyRE matches keys shaped like this stack's options. CDK's own keys
// (feature flags @aws-cdk/..., aws:cdk:..., lookups cached with a ':',
// acknowledged-issue-numbers) all have a character it leaves out.
var optionKeyRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9]*$`)

func load(get func(key string) any, keys []string) (Config, error) {
	read := map[string]bool{}
	r := reader{get: func(k string) any { read[k] = true; return get(k) }}
	c := Config{Env: Environment(r.str("env", string(Sandbox)))}
	if c.Env != Sandbox && c.Env != Live {
		r.fail("env: %q is neither %q nor %q", c.Env, Sandbox, Live)
	}
	c.StackName = r.str("stackName", "upvest-webhooks-"+string(c.Env))
	c.JWKSParameter = r.str("jwksParameter", "/upvest-webhooks/"+string(c.Env)+"/jwks")
	c.JWKSRefresh = r.duration("jwksRefresh", "5m")
	c.IPAllowlist = r.str("ipAllowlist", string(c.Env))
	c.SignatureClockSkew = r.duration("signatureClockSkew", "60s")
	c.LedgerRetention = r.integer("ledgerRetentionDays", 400, minLedgerRetentionDays, 3650)
	c.LogLevel = r.str("logLevel", "info")
	c.LogRetentionDays = r.integer("logRetentionDays", 90, 1, 3653)
	c.DomainName = r.str("domainName", "")
	c.CertificateARN = r.str("certificateArn", "")
	c.BasePath = r.str("basePath", "")
	c.ThrottleRate = r.integer("throttleRate", 1000, 1, 10000)
	c.ThrottleBurst = r.integer("throttleBurst", 2000, 1, 5000)
	c.IngestReservedConcurrency = r.integer("ingestReservedConcurrency", 0, 0, 1000)
	if c.IngestReservedConcurrency == 1 {
		// One execution is the limit itself: a retry overlapping a delivery is
		// throttled (429, the feed held), and IngestConcurrencyNearReserved
		// would page on every request.
		r.fail("ingestReservedConcurrency: 1 leaves no room for a retry beside a delivery; use 0 (none) or at least 2")
	}
	c.IngestMemoryMB = r.integer("ingestMemoryMB", IngestMemoryMB, minLambdaMemoryMB, maxLambdaMemoryMB)
	c.MaxReceiveCount = r.integer("maxReceiveCount", schema.DefaultMaxReceiveCount, 1, 1000)
	c.WorkerBatchSize = r.integer("workerBatchSize", 10, 1, 10000)
	c.WorkerBatchWindow = r.integer("workerBatchWindowSeconds", int(schema.DefaultBatchWindow.Seconds()), 0, 300)
	c.WorkerMaxConcurrency = r.integer("workerMaxConcurrency", 5, 2, 1000) // SQS mappings need ≥ 2
	c.AlarmEmail = r.str("alarmEmail", "")
	c.QueueAgeAlarm = r.integer("queueAgeAlarmSeconds", 900, 60, maxQueueAgeAlarm)
	c.ExampleStreamConsumer = r.boolean("exampleStreamConsumer", false)
	c.UpvestAPISecretARN, c.UpvestAPIBaseURL = loadKeySync(&r, c.Env)
	c.Subscription = loadSubscription(&r)
	// Set without the subscriptions they shape, they would be silently ignored.
	if !c.Subscription.Enabled {
		for _, key := range subscriptionKeys {
			if r.get(key) != nil {
				r.fail("%s: applies only with upvestSubscription=true", key)
			}
		}
	}
	c.OTelTraces = r.str("otelTraces", OTelOff)
	c.OTelCollectorLayerARN = r.str("otelCollectorLayerArn", "")
	c.Capacity = loadCapacity(&r)
	c.Scaling = loadScaling(&r)
	c.Capacity.WarmWriteUnits = c.Scaling.WarmWriteUnits

	// Every option is read above, whatever the others say, so a key not read is none of them.
	known := slices.Concat(slices.Sorted(maps.Keys(read)), AppContextKeys)
	for _, k := range keys {
		if optionKeyRE.MatchString(k) && !slices.Contains(known, k) {
			r.fail("%s: not a context key of this stack%s (README's Deploy section lists them)", k, suggestKey(k, known))
		}
	}

	if err := errors.Join(append(r.errs, c.Validate())...); err != nil {
		return Config{}, fmt.Errorf("infra config (CDK context): %w", err)
	}
	return c, nil
}

// minLedgerRetentionDays keeps a ledger record at least as long as a message
// of its event can still be delivered: an event over message.MaxInlineBody
// travels as a claim check that its worker reads from the ledger, and its
// message lives up to DeadLetterRetention after it was sent (SQS keeps the
// original enqueue time in the DLQ), a redrive giving it QueueRetention more.
// A shorter TTL deletes the bytes while the message still names them: the
// worker cannot read the event, and it is lost with its dead letter.
var minLedgerRetentionDays = int((DeadLetterRetention + QueueRetention) / (24 * time.Hour))

// maxQueueAgeAlarm is below QueueRetention: no message on a domain queue gets
// older than that (SQS deletes it), so a higher threshold could never fire.
// The hour is for the alarm's 5-minute period to report, and someone to act,
// before the oldest message is lost.
var maxQueueAgeAlarm = int((QueueRetention - time.Hour).Seconds())

var (
	basePathRE  = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)
	stackNameRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9-]*$`)
	hostLabelRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)
	// Lambda's application log levels, which filter the JSON logs by their "level".
	logLevels = map[string]bool{"debug": true, "info": true, "warn": true, "error": true}
)

// Assets are the functions this configuration deploys, for BuildLambdas.
func (c Config) Assets() []string {
	assets := []string{AssetIngest, AssetWorker}
	if c.ExampleStreamConsumer {
		assets = append(assets, AssetStreamConsumer)
	}
	if c.KeySyncEnabled() {
		assets = append(assets, AssetKeySync)
	}
	if c.Subscription.Enabled {
		assets = append(assets, AssetSubscription)
	}
	return assets
}

// Validate checks the combination of values.
func (c Config) Validate() error {
	var errs []error
	fail := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }

	if err := c.validateAllowlist(); err != nil {
		fail("ipAllowlist: %v", err)
	}
	if !strings.HasPrefix(c.JWKSParameter, "/") {
		fail("jwksParameter: %q must be a path-style name starting with /", c.JWKSParameter)
	}
	if !logLevels[c.LogLevel] {
		fail("logLevel: %q is not one of debug, info, warn, error", c.LogLevel)
	}
	if _, ok := retentionDays[c.LogRetentionDays]; !ok {
		fail("logRetentionDays: %d is not a CloudWatch Logs retention (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653)", c.LogRetentionDays)
	}
	if (c.DomainName == "") != (c.CertificateARN == "") {
		fail("domainName and certificateArn go together (got domainName %q, certificateArn %q)", c.DomainName, c.CertificateARN)
	}
	if c.DomainName != "" && !validHostname(c.DomainName) {
		fail("domainName: %q is not a host name such as webhooks.example.com (at least two dot-separated labels of lower-case letters, digits and -, "+
			"each at most 63 characters, 253 in all; no scheme, path, port or trailing dot)", c.DomainName)
	}
	if c.CertificateARN != "" && !strings.HasPrefix(c.CertificateARN, "arn:") {
		fail("certificateArn: %q is not an ARN", c.CertificateARN)
	}
	if c.BasePath != "" && (c.DomainName == "" || !basePathRE.MatchString(c.BasePath)) {
		fail("basePath: %q needs a domainName and must be one path segment of letters, digits, . _ -", c.BasePath)
	}
	// SQS ages a message until it is deleted: a healthy one waits up to the
	// batching window in the poller, then one worker run.
	if healthy := c.WorkerBatchWindow + int(WorkerTimeout.Seconds()); c.QueueAgeAlarm <= healthy {
		fail("queueAgeAlarmSeconds: %d is not above %d s, the batching window (workerBatchWindowSeconds %d) plus a worker run (%v): "+
			"a message is that old on a healthy queue, so the alarm would fire on every quiet batch", c.QueueAgeAlarm, healthy, c.WorkerBatchWindow, WorkerTimeout)
	}
	if c.WorkerBatchSize > 10 && c.WorkerBatchWindow == 0 {
		fail("workerBatchSize: %d needs workerBatchWindowSeconds ≥ 1 (SQS allows batches over 10 only with a window)", c.WorkerBatchSize)
	}
	if c.AlarmEmail != "" {
		// SNS takes the bare address only: a display name or comment, which
		// mail.ParseAddress accepts, would fail the subscription at deploy.
		if a, err := mail.ParseAddress(c.AlarmEmail); err != nil {
			fail("alarmEmail: %q: %v", c.AlarmEmail, err)
		} else if a.Address != c.AlarmEmail {
			fail("alarmEmail: %q is not a bare address: SNS takes only the address itself, such as %s", c.AlarmEmail, a.Address)
		}
	}
	// CloudFormation's rule for stack names; jsii panics on any other at synth.
	if !stackNameRE.MatchString(c.StackName) || len(c.StackName) > 128 {
		fail("stackName: %q is not a CloudFormation stack name (a letter, then letters, digits and -, at most 128 characters)", c.StackName)
	}
	switch c.OTelTraces {
	case OTelOff, OTelXRay, OTelConsole, OTelCollector:
	default:
		fail("otelTraces: %q is not one of off, xray, console, collector", c.OTelTraces)
	}
	if (c.OTelTraces == OTelCollector) != (c.OTelCollectorLayerARN != "") {
		fail("otelCollectorLayerArn goes with otelTraces=collector, and only with it (got otelTraces %q, otelCollectorLayerArn %q)", c.OTelTraces, c.OTelCollectorLayerARN)
	}
	if c.OTelCollectorLayerARN != "" && !strings.HasPrefix(c.OTelCollectorLayerARN, "arn:") {
		fail("otelCollectorLayerArn: %q is not an ARN", c.OTelCollectorLayerARN)
	}
	errs = append(errs, c.validateKeySync()...)
	errs = append(errs, c.validateSubscription()...)
	errs = append(errs, c.Capacity.validate()...)
	return errors.Join(errs...)
}

// DynamoDB's default quotas for each of reads and writes: per table and per
// index, and per account and region summed over every provisioned table and
// index (this stack's and any other's).
const (
	maxTableCapacity   = 40000
	maxAccountCapacity = 80000
)

// provisionedTables is every table the stack creates (stack.go, pipeline.go):
// the ledger and one state table per domain, each with its indexes.
func provisionedTables() []schema.Table {
	tables := []schema.Table{schema.LedgerTable}
	for range events.Domains() {
		tables = append(tables, schema.StateTable)
	}
	return tables
}

// capacityUnits is how many tables and indexes the stack provisions capacity
// for: each starts at the minimums, so they sum to capacityUnits() × minimum.
func capacityUnits() int {
	n := 0
	for _, t := range provisionedTables() {
		n += 1 + len(t.Indexes)
	}
	return n
}

// capacityBoundKeys are the context keys that only provisioned mode reads.
var capacityBoundKeys = []string{"minWriteCapacity", "maxWriteCapacity", "minReadCapacity", "maxReadCapacity", "capacityTargetUtilization"}

// subscriptionKeys are the context keys that only upvestSubscription=true reads (loadSubscription).
var subscriptionKeys = []string{"subscriptionLanes", "subscriptionTypes", "subscriptionExcludeTypes", "subscriptionDelay",
	"subscriptionMaxPackageSize", "subscriptionOnDelete"}

func loadCapacity(r *reader) TableCapacity {
	c := TableCapacity{
		Mode:              r.str("capacityMode", CapacityOnDemand),
		MinWrite:          r.integer("minWriteCapacity", 5, 1, maxTableCapacity),
		MaxWrite:          r.integer("maxWriteCapacity", 1000, 1, maxTableCapacity),
		MinRead:           r.integer("minReadCapacity", 1, 1, maxTableCapacity),
		MaxRead:           r.integer("maxReadCapacity", 200, 1, maxTableCapacity),
		TargetUtilization: r.integer("capacityTargetUtilization", schema.DefaultCapacityTargetUtilization, 20, 90),
	}
	// A bound set without provisioned mode would be silently ignored.
	if c.Mode == CapacityOnDemand {
		for _, key := range capacityBoundKeys {
			if r.get(key) != nil {
				r.fail("%s: applies only with capacityMode=%s (capacityMode is %s)", key, CapacityProvisioned, c.Mode)
			}
		}
	}
	return c
}

func (c TableCapacity) validate() []error {
	var errs []error
	switch c.Mode {
	case CapacityOnDemand, CapacityProvisioned:
	default:
		errs = append(errs, fmt.Errorf("capacityMode: %q is neither %q nor %q", c.Mode, CapacityOnDemand, CapacityProvisioned))
	}
	if c.MinWrite > c.MaxWrite {
		errs = append(errs, fmt.Errorf("minWriteCapacity: %d is above maxWriteCapacity %d", c.MinWrite, c.MaxWrite))
	}
	if c.MinRead > c.MaxRead {
		errs = append(errs, fmt.Errorf("minReadCapacity: %d is above maxReadCapacity %d", c.MinRead, c.MaxRead))
	}
	// Every table and index starts at the minimums: above the account quota,
	// CloudFormation fails the first deploy at the table that crosses it.
	if c.Provisioned() {
		n := capacityUnits()
		for _, m := range []struct {
			key, units string
			min        int
		}{{"minWriteCapacity", "write", c.MinWrite}, {"minReadCapacity", "read", c.MinRead}} {
			if total := n * m.min; total > maxAccountCapacity {
				errs = append(errs, fmt.Errorf("%s: %d on each of the stack's %d tables and indexes is %d %s units, above DynamoDB's default quota of %d "+
					"per account and region (over all provisioned tables and indexes, other stacks' too): set at most %d, "+
					"or have the quota raised (Service Quotas, DynamoDB) before deploying", m.key, m.min, n, total, m.units, maxAccountCapacity, maxAccountCapacity/n))
			}
		}
	}
	return errs
}

// suggestKey names the known key closest to a misspelt one, if one is close:
// at most a third of its letters away (case aside).
func suggestKey(key string, known []string) string {
	best, bestDistance := "", len(key)/3+1
	for _, k := range known {
		if d := editDistance(strings.ToLower(key), strings.ToLower(k)); d < bestDistance {
			best, bestDistance = k, d
		}
	}
	if best == "" {
		return ""
	}
	return "; did you mean " + best + "?"
}

// editDistance is the Levenshtein distance between a and b (bytes: keys are ASCII).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// validHostname reports whether s is a DNS host name API Gateway can serve
// and the webhook URL can be built from: a URL or host:port here would make
// an invalid domain name resource and a https://https://... output.
func validHostname(s string) bool {
	labels := strings.Split(s, ".")
	if len(s) > 253 || len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if len(l) > 63 || !hostLabelRE.MatchString(l) {
			return false
		}
	}
	return true
}

// validateAllowlist accepts what ingest's IP_ALLOWLIST accepts (off, a named
// list, IPs and CIDRs, comma-separated), except the other environment's named
// list, which would reject every real delivery.
func (c Config) validateAllowlist() error {
	if _, err := signature.ParseAllowlist(c.IPAllowlist); err != nil {
		return err
	}
	for _, token := range strings.Split(c.IPAllowlist, ",") {
		token = strings.ToLower(strings.TrimSpace(token))
		if (token == string(Sandbox) || token == string(Live)) && token != string(c.Env) {
			return fmt.Errorf("%q names the %s list, but env is %s (use %q, %q, or IPs/CIDRs, comma-separated)",
				c.IPAllowlist, token, c.Env, c.Env, AllowlistOff)
		}
	}
	return nil
}

// reader converts context values, collecting every error so one run reports them all.
type reader struct {
	get  func(string) any
	errs []error
}

func (r *reader) fail(format string, a ...any) { r.errs = append(r.errs, fmt.Errorf(format, a...)) }

func (r *reader) str(key, def string) string {
	switch v := r.get(key).(type) {
	case nil:
		return def
	case string:
		return strings.TrimSpace(v)
	default:
		r.fail("%s: want a string, got %v (%T)", key, v, v)
		return def
	}
}

func (r *reader) integer(key string, def, lo, hi int) int {
	var n int
	switch v := r.get(key).(type) {
	case nil:
		return def
	case float64: // JSON numbers
		n = int(v)
		if float64(n) != v {
			r.fail("%s: want a whole number, got %v", key, v)
			return def
		}
	case string:
		var err error
		if n, err = strconv.Atoi(strings.TrimSpace(v)); err != nil {
			r.fail("%s: want a whole number, got %q", key, v)
			return def
		}
	default:
		r.fail("%s: want a whole number, got %v (%T)", key, v, v)
		return def
	}
	if n < lo || n > hi {
		r.fail("%s: %d is outside [%d, %d]", key, n, lo, hi)
	}
	return n
}

func (r *reader) boolean(key string, def bool) bool {
	switch v := r.get(key).(type) {
	case nil:
		return def
	case bool:
		return v
	case string:
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			r.fail("%s: want true or false, got %q", key, v)
			return def
		}
		return b
	default:
		r.fail("%s: want true or false, got %v (%T)", key, v, v)
		return def
	}
}

func (r *reader) duration(key, def string) string {
	s := r.str(key, def)
	if d, err := time.ParseDuration(s); err != nil || d <= 0 {
		r.fail("%s: %q is not a positive Go duration such as 60s or 5m", key, s)
	}
	return s
}
