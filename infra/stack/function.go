package stack

import (
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/observability"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/permissions"
)

// retentionDays maps the day counts CloudWatch Logs accepts to CDK's enum.
var retentionDays = map[int]awslogs.RetentionDays{
	1: awslogs.RetentionDays_ONE_DAY, 3: awslogs.RetentionDays_THREE_DAYS, 5: awslogs.RetentionDays_FIVE_DAYS,
	7: awslogs.RetentionDays_ONE_WEEK, 14: awslogs.RetentionDays_TWO_WEEKS, 30: awslogs.RetentionDays_ONE_MONTH,
	60: awslogs.RetentionDays_TWO_MONTHS, 90: awslogs.RetentionDays_THREE_MONTHS, 120: awslogs.RetentionDays_FOUR_MONTHS,
	150: awslogs.RetentionDays_FIVE_MONTHS, 180: awslogs.RetentionDays_SIX_MONTHS, 365: awslogs.RetentionDays_ONE_YEAR,
	400: awslogs.RetentionDays_THIRTEEN_MONTHS, 545: awslogs.RetentionDays_EIGHTEEN_MONTHS, 731: awslogs.RetentionDays_TWO_YEARS,
	1096: awslogs.RetentionDays_THREE_YEARS, 1827: awslogs.RetentionDays_FIVE_YEARS, 2192: awslogs.RetentionDays_SIX_YEARS,
	2557: awslogs.RetentionDays_SEVEN_YEARS, 2922: awslogs.RetentionDays_EIGHT_YEARS, 3288: awslogs.RetentionDays_NINE_YEARS,
	3653: awslogs.RetentionDays_TEN_YEARS,
}

// EnvLogLevel is read by observability.NewLogger in every function.
const EnvLogLevel = "LOG_LEVEL"

// LambdaApplicationLogLevel is the level Lambda filters application logs at:
// the configured level when it is more verbose than INFO, otherwise INFO, so
// that metrics are never dropped (warn and error are applied in-process).
func LambdaApplicationLogLevel(logLevel string) awslambda.ApplicationLogLevel {
	if strings.EqualFold(logLevel, "debug") {
		return awslambda.ApplicationLogLevel_DEBUG
	}
	return awslambda.ApplicationLogLevel_INFO
}

// GoFunctionProps describes one Go Lambda built by `make build`.
type GoFunctionProps struct {
	Config      Config
	Asset       string // AssetIngest, AssetWorker, AssetStreamConsumer
	Description string
	MemoryMB    int
	Timeout     time.Duration
	Environment map[string]string
	// ReservedConcurrency, when above 0, is set aside for this function alone.
	ReservedConcurrency int
}

// GoFunction is a Go Lambda with its own role and log group. The role starts
// empty (no AWSLambdaBasicExecutionRole): it may write to its own log group,
// send traces, and whatever its construct grants explicitly.
type GoFunction struct {
	Function awslambda.Function
	Role     awsiam.Role
	LogGroup awslogs.LogGroup
}

// NewGoFunction creates the function, its role and its log group under scope.
func NewGoFunction(scope constructs.Construct, id string, p GoFunctionProps) *GoFunction {
	s := constructs.NewConstruct(scope, jsii.String(id))
	role := awsiam.NewRole(s, jsii.String("Role"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
		Description: jsii.String("Execution role of " + p.Description),
	})
	logGroup := awslogs.NewLogGroup(s, jsii.String("Logs"), &awslogs.LogGroupProps{
		Retention: retentionDays[p.Config.LogRetentionDays],
		// Logs expire anyway; the data worth keeping is in the retained tables.
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	logGroup.GrantWrite(role)

	var reserved *float64
	if p.ReservedConcurrency > 0 {
		reserved = jsii.Number(float64(p.ReservedConcurrency))
	}
	fn := awslambda.NewFunction(s, jsii.String("Function"), &awslambda.FunctionProps{
		ReservedConcurrentExecutions: reserved,
		Description:                  jsii.String(p.Description),
		Runtime:                      awslambda.Runtime_PROVIDED_AL2023(),
		Architecture:                 awslambda.Architecture_ARM_64(),
		Handler:                      jsii.String("bootstrap"),
		Code:                         awslambda.Code_FromAsset(jsii.String(filepath.Join(p.Config.AssetsDir, p.Asset)), nil),
		MemorySize:                   jsii.Number(float64(p.MemoryMB)),
		Timeout:                      awscdk.Duration_Seconds(jsii.Number(p.Timeout.Seconds())),
		Role:                         role,
		LogGroup:                     logGroup,
		// The functions log slog JSON with a "level" field and filter it
		// themselves (LOG_LEVEL). Lambda's own filter must let INFO through:
		// it counts a line without "level", such as an EMF metric line, as INFO.
		LoggingFormat:         awslambda.LoggingFormat_JSON,
		ApplicationLogLevelV2: LambdaApplicationLogLevel(p.Config.LogLevel),
		SystemLogLevelV2:      awslambda.SystemLogLevel_INFO,
		Tracing:               awslambda.Tracing_ACTIVE,
	})
	env := maps.Clone(p.Environment)
	if env == nil {
		env = map[string]string{}
	}
	maps.Copy(env, p.Config.TracingEnvironment(*awscdk.Aws_REGION()))
	// Metrics (and alarms) of this stack apart from another's in the same account and region.
	env[observability.EnvStack] = p.Config.StackName
	// Added in key order so that the template is the same on every synth.
	for _, k := range slices.Sorted(maps.Keys(env)) {
		fn.AddEnvironment(jsii.String(k), jsii.String(env[k]), nil)
	}
	if p.Config.OTelCollectorLayerARN != "" {
		fn.AddLayers(awslambda.LayerVersion_FromLayerVersionArn(s, jsii.String("OTelCollector"), jsii.String(p.Config.OTelCollectorLayerARN)))
	}
	cdknag.NagSuppressions_AddResourceSuppressions(role, &[]*cdknag.NagPackSuppression{{
		Id:        jsii.String("AwsSolutions-IAM5"),
		Reason:    jsii.String("Active X-Ray tracing needs xray:PutTraceSegments/PutTelemetryRecords, and otelTraces=xray xray:PutSpans/PutSpansForIndexing, which support no resource-level permissions (Resource \"*\" is the only valid form)."),
		AppliesTo: &[]any{jsii.String("Resource::*")},
	}}, jsii.Bool(true))
	return &GoFunction{Function: fn, Role: role, LogGroup: logGroup}
}

// allow adds one exact statement to a function's role.
// grant allows what the function's code does (shared/prod/permissions), each
// resource at the ARNs given (a resource left out fails the synth: a policy
// statement needs a resource).
func (f *GoFunction) grant(perms []permissions.Permission, arns map[permissions.Resource][]*string) {
	for _, p := range perms {
		f.allow(p.Actions, arns[p.Resource]...)
	}
}

func (f *GoFunction) allow(actions []string, resources ...*string) {
	f.Role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Effect:    awsiam.Effect_ALLOW,
		Actions:   jsii.Strings(actions...),
		Resources: &resources,
	}))
}
