package stack

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsscheduler"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	fnconfig "github.com/upvest-webhooks/upvest-webhooks/shared/prod/config"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/keysync"
)

// Key sync sizing and cadence.
const (
	KeySyncMemoryMB = 256
	KeySyncTimeout  = 60 * time.Second
	KeySyncEvery    = 15 * time.Minute
	// KeySyncAlarmPeriod spans two scheduled runs.
	KeySyncAlarmPeriod = 30 * time.Minute
)

// UpvestBaseURL is the default Upvest API base URL of an environment.
func UpvestBaseURL(env Environment) string {
	if env == Live {
		return keysync.LiveBaseURL
	}
	return keysync.SandboxBaseURL
}

// KeySyncEnabled tells whether the stack deploys the key sync: only when the
// secret with the customer's Upvest API credentials is configured.
func (c Config) KeySyncEnabled() bool { return c.UpvestAPISecretARN != "" }

// loadKeySync reads upvestApiSecretArn and upvestApiBaseUrl (default per env,
// applied only when the key sync is on, so that without it nothing changes).
func loadKeySync(r *reader, env Environment) (secretARN, baseURL string) {
	secretARN = r.str("upvestApiSecretArn", "")
	baseURL = strings.TrimRight(r.str("upvestApiBaseUrl", ""), "/")
	if secretARN != "" && baseURL == "" {
		baseURL = UpvestBaseURL(env)
	}
	return secretARN, baseURL
}

func (c Config) validateKeySync() []error {
	var errs []error
	if c.UpvestAPISecretARN == "" {
		if c.UpvestAPIBaseURL != "" {
			errs = append(errs, fmt.Errorf("upvestApiBaseUrl: %q needs upvestApiSecretArn (the key sync is off without it)", c.UpvestAPIBaseURL))
		}
		return errs
	}
	// A full ARN (with Secrets Manager's random suffix), so that the grant names exactly this secret.
	if parts := strings.Split(c.UpvestAPISecretARN, ":"); len(parts) != 7 || parts[0] != "arn" ||
		parts[2] != "secretsmanager" || parts[5] != "secret" || parts[6] == "" {
		errs = append(errs, fmt.Errorf("upvestApiSecretArn: %q is not a full Secrets Manager secret ARN (arn:aws:secretsmanager:<region>:<account>:secret:<name>-<suffix>)", c.UpvestAPISecretARN))
	}
	if u, err := url.Parse(c.UpvestAPIBaseURL); err != nil || u.Scheme != "https" || u.Host == "" || u.RawQuery != "" {
		errs = append(errs, fmt.Errorf("upvestApiBaseUrl: %q is not an https:// URL such as %s", c.UpvestAPIBaseURL, UpvestBaseURL(c.Env)))
	}
	return errs
}

// KeySync is the scheduled function that keeps the JWKS parameter equal to
// the keys Upvest publishes (shared/prod/keysync).
type KeySync struct {
	*GoFunction
	Schedule awsscheduler.CfnSchedule
	// Group holds only the key sync's schedule, so that Scheduler's metrics
	// per group (keySyncSchedulerMetric) are this schedule's alone.
	Group awsscheduler.CfnScheduleGroup
}

// NewKeySync creates the function, its every-15-minutes schedule and its
// grants: read the one secret, read and write the one parameter.
func NewKeySync(scope constructs.Construct, id string, cfg Config) *KeySync {
	s := constructs.NewConstruct(scope, jsii.String(id))
	fn := NewGoFunction(s, "Function", GoFunctionProps{
		Config:      cfg,
		Asset:       AssetKeySync,
		Description: "upvest-webhooks key sync: copies Upvest's webhook keys (GET /auth/verify_keys) into the JWKS parameter when they change",
		MemoryMB:    KeySyncMemoryMB,
		Timeout:     KeySyncTimeout,
		Environment: map[string]string{
			fnconfig.EnvUpvestAPIBaseURL:    cfg.UpvestAPIBaseURL,
			fnconfig.EnvUpvestAPISecret:     cfg.UpvestAPISecretARN,
			fnconfig.EnvKeySyncSSMParameter: cfg.JWKSParameter,
			EnvLogLevel:                     cfg.LogLevel,
		},
	})
	fn.allow([]string{"secretsmanager:GetSecretValue"}, jsii.String(cfg.UpvestAPISecretARN))
	fn.allow([]string{"ssm:GetParameter", "ssm:PutParameter"}, awscdk.Stack_Of(s).FormatArn(&awscdk.ArnComponents{
		Service:      jsii.String("ssm"),
		Resource:     jsii.String("parameter"),
		ResourceName: jsii.String(strings.TrimPrefix(cfg.JWKSParameter, "/")),
		ArnFormat:    awscdk.ArnFormat_SLASH_RESOURCE_NAME,
	}))

	// The schedule's own role may invoke this function and nothing else. (The
	// L2 LambdaInvoke target would also grant <function>:*, every version and alias.)
	stack := awscdk.Stack_Of(s)
	role := awsiam.NewRole(s, jsii.String("ScheduleRole"), &awsiam.RoleProps{
		AssumedBy: awsiam.NewServicePrincipal(jsii.String("scheduler.amazonaws.com"), &awsiam.ServicePrincipalOpts{
			Conditions: &map[string]any{"StringEquals": map[string]any{"aws:SourceAccount": stack.Account()}},
		}),
		Description: jsii.String("EventBridge Scheduler: invoke the upvest-webhooks key sync"),
	})
	role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Effect:    awsiam.Effect_ALLOW,
		Actions:   jsii.Strings("lambda:InvokeFunction"),
		Resources: jsii.Strings(*fn.Function.FunctionArn()),
	}))
	group := awsscheduler.NewCfnScheduleGroup(s, jsii.String("ScheduleGroup"), &awsscheduler.CfnScheduleGroupProps{})
	schedule := awsscheduler.NewCfnSchedule(s, jsii.String("Schedule"), &awsscheduler.CfnScheduleProps{
		GroupName:          group.Ref(), // Ref is the group's name
		Description:        jsii.String("upvest-webhooks " + string(cfg.Env) + ": sync Upvest's webhook keys into " + cfg.JWKSParameter),
		ScheduleExpression: jsii.String(fmt.Sprintf("rate(%d minutes)", int(KeySyncEvery.Minutes()))),
		FlexibleTimeWindow: &awsscheduler.CfnSchedule_FlexibleTimeWindowProperty{Mode: jsii.String("OFF")},
		State:              jsii.String("ENABLED"),
		Target: &awsscheduler.CfnSchedule_TargetProperty{
			Arn:     fn.Function.FunctionArn(),
			RoleArn: role.RoleArn(),
			Input:   jsii.String(`{"source":"schedule"}`),
			// The next run comes in 15 minutes; an older attempt is pointless.
			RetryPolicy: &awsscheduler.CfnSchedule_RetryPolicyProperty{
				MaximumRetryAttempts:     jsii.Number(2),
				MaximumEventAgeInSeconds: jsii.Number(KeySyncEvery.Seconds()),
			},
		},
	})
	schedule.Node().AddDependency(role) // the role's policy must exist before the first run
	return &KeySync{GoFunction: fn, Schedule: schedule, Group: group}
}

// addKeySync deploys the key sync when it is configured: the function, its
// schedule, and the output naming it for on-demand runs. Its alarms are
// Monitoring's (PipelineStuck).
func addKeySync(stack awscdk.Stack, cfg Config) *KeySync {
	if !cfg.KeySyncEnabled() {
		return nil
	}
	k := NewKeySync(stack, "KeySync", cfg)
	output(stack, "KeySyncFunctionName", "Run the key sync now: aws lambda invoke --function-name <this> out.json", k.Function.FunctionName())
	return k
}

// keySyncSchedulerMetric is one of EventBridge Scheduler's metrics for the
// key sync's schedule group (AWS/Scheduler, dimension ScheduleGroup).
func keySyncSchedulerMetric(k *KeySync, name string, opts *awscloudwatch.MetricOptions) awscloudwatch.Metric {
	return awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
		Namespace:     jsii.String("AWS/Scheduler"),
		MetricName:    jsii.String(name),
		DimensionsMap: &map[string]*string{"ScheduleGroup": k.Group.Ref()},
		Statistic:     opts.Statistic,
		Period:        opts.Period,
	})
}

// keySyncNotRun sums, per window, the key sync's throttles and the schedule's
// failed and dropped invocations: one alarm for "a run did not happen".
func keySyncNotRun(k *KeySync, window *awscloudwatch.MetricOptions) awscloudwatch.IMetric {
	return awscloudwatch.NewMathExpression(&awscloudwatch.MathExpressionProps{
		Expression: jsii.String("SUM([throttles, targetErrors, dropped])"),
		UsingMetrics: &map[string]awscloudwatch.IMetric{
			"throttles":    k.Function.MetricThrottles(window),
			"targetErrors": keySyncSchedulerMetric(k, "TargetErrorCount", window),
			"dropped":      keySyncSchedulerMetric(k, "InvocationDroppedCount", window),
		},
		Label:  jsii.String("key sync runs that did not happen"),
		Period: window.Period,
	})
}
