package stack

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/customresources"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	fnconfig "github.com/upvest-webhooks/upvest-webhooks/shared/prod/config"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/keysync"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/subscription"
)

// Sizing of the subscription function (a few Upvest calls per deploy).
const (
	SubscriptionMemoryMB = 256
	SubscriptionTimeout  = 2 * time.Minute
	// SubscriptionResourceType is the custom resource's CloudFormation type.
	SubscriptionResourceType = "Custom::UpvestWebhookSubscriptions"
	// DefaultLaneTitle is the one lane's title when no lanes are given.
	DefaultLaneTitle = "upvest-webhooks"
)

// SubscriptionConfig is what the context asks of the stack's subscriptions.
type SubscriptionConfig struct {
	Enabled  bool
	Lanes    string // JSON array of subscription.Lane (a string keeps Config comparable)
	OnDelete string // disable (default) or delete
}

// loadSubscription reads upvestSubscription (off by default), and either
// subscriptionLanes (a JSON array of {title, type, exclude_type, delay,
// max_package_size}) or, for the one default lane, subscriptionTypes,
// subscriptionExcludeTypes (comma-separated), subscriptionDelay and
// subscriptionMaxPackageSize; and subscriptionOnDelete.
func loadSubscription(r *reader) SubscriptionConfig {
	c := SubscriptionConfig{Enabled: r.boolean("upvestSubscription", false), OnDelete: r.str("subscriptionOnDelete", subscription.OnDeleteDisable)}
	lanes := r.str("subscriptionLanes", "")
	single := subscription.Lane{
		Title:       DefaultLaneTitle,
		Type:        commaList(r.str("subscriptionTypes", "ALL")),
		ExcludeType: commaList(r.str("subscriptionExcludeTypes", "")),
		Delay:       r.str("subscriptionDelay", ""),
	}
	single.MaxPackageSize = r.integer("subscriptionMaxPackageSize", 0, 0, keysync.MaxMaxPackageSize)
	list := []subscription.Lane{single}
	if lanes != "" {
		list = nil
		if err := json.Unmarshal([]byte(lanes), &list); err != nil {
			r.fail("subscriptionLanes: not a JSON array of {title, type, exclude_type, delay, max_package_size}: %v", err)
		}
	}
	b, _ := json.Marshal(list)
	c.Lanes = string(b)
	return c
}

func commaList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, strings.ToUpper(v))
		}
	}
	return out
}

func (c Config) validateSubscription() []error {
	if !c.Subscription.Enabled {
		return nil
	}
	var errs []error
	if !c.KeySyncEnabled() {
		errs = append(errs, errors.New("upvestSubscription: needs upvestApiSecretArn (the key sync's secret holds the API client)"))
	}
	// The same checks the function makes, at synth: a bad lane never reaches a deploy.
	if err := subscription.Validate(subscription.Properties{URL: "https://example.com/webhooks", Lanes: c.Subscription.Lanes, OnDelete: c.Subscription.OnDelete}); err != nil {
		errs = append(errs, fmt.Errorf("upvestSubscription: %w", err))
	}
	return errs
}

// Subscription is the stack's Upvest webhook subscriptions: a custom resource
// whose onEvent function alone reads the API client's secret for admin calls.
type Subscription struct {
	*GoFunction
	Resource awscdk.CustomResource
	Provider customresources.Provider
}

// NewSubscription creates the function, the Provider framework around it and
// the resource on ingest's webhook URL, ordered after the key sync (its
// function and schedule) and after ingest's endpoint; the function itself
// waits for the keys (and runs the key sync when they are missing) before it
// enables anything.
func NewSubscription(scope constructs.Construct, id string, cfg Config, ingest *Ingest, keySync *KeySync) *Subscription {
	s := constructs.NewConstruct(scope, jsii.String(id))
	fn := NewGoFunction(s, "Function", GoFunctionProps{
		Config:      cfg,
		Asset:       AssetSubscription,
		Description: "upvest-webhooks subscriptions: creates, adopts, updates and disables the stack's Upvest webhook subscriptions",
		MemoryMB:    SubscriptionMemoryMB,
		Timeout:     SubscriptionTimeout,
		Environment: map[string]string{
			fnconfig.EnvUpvestAPIBaseURL:    cfg.UpvestAPIBaseURL,
			fnconfig.EnvUpvestAPISecret:     cfg.UpvestAPISecretARN,
			fnconfig.EnvKeySyncSSMParameter: cfg.JWKSParameter,
			EnvKeySyncFunction:              *keySync.Function.FunctionName(),
			EnvLogLevel:                     cfg.LogLevel,
		},
	})
	fn.allow([]string{"secretsmanager:GetSecretValue"}, jsii.String(cfg.UpvestAPISecretARN))
	fn.allow([]string{"ssm:GetParameter"}, awscdk.Stack_Of(s).FormatArn(&awscdk.ArnComponents{
		Service:      jsii.String("ssm"),
		Resource:     jsii.String("parameter"),
		ResourceName: jsii.String(strings.TrimPrefix(cfg.JWKSParameter, "/")),
		ArnFormat:    awscdk.ArnFormat_SLASH_RESOURCE_NAME,
	}))
	fn.allow([]string{"lambda:InvokeFunction"}, keySync.Function.FunctionArn())

	// The relay's own log group, as every function here has: without one, CDK
	// names a group /aws/lambda/<relay> that CloudFormation creates after the
	// relay, which the custom resource may run first (Lambda then creates the
	// group, and CloudFormation's create fails with AlreadyExists); it would
	// also keep logs 731 days and be retained after the stack.
	relayLogs := awslogs.NewLogGroup(s, jsii.String("ProviderLogs"), &awslogs.LogGroupProps{
		Retention:     retentionDays[cfg.LogRetentionDays],
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	provider := customresources.NewProvider(s, jsii.String("Provider"), &customresources.ProviderProps{
		OnEventHandler: fn.Function,
		LogGroup:       relayLogs,
	})
	cdknag.NagSuppressions_AddResourceSuppressions(provider, &[]*cdknag.NagPackSuppression{
		{Id: jsii.String("AwsSolutions-IAM4"), Reason: jsii.String("The CDK Provider framework's own function uses AWSLambdaBasicExecutionRole; it only relays CloudFormation events to the subscription function.")},
		{Id: jsii.String("AwsSolutions-IAM5"), Reason: jsii.String("The CDK Provider framework grants its relay <subscription function>:* (its versions); the relay reads no secret.")},
		{Id: jsii.String("AwsSolutions-L1"), Reason: jsii.String("The CDK Provider framework pins its relay's Node.js runtime; CDK upgrades move it.")},
	}, jsii.Bool(true))

	onDelete := cfg.Subscription.OnDelete
	if onDelete == "" {
		onDelete = subscription.OnDeleteDisable
	}
	res := awscdk.NewCustomResource(s, jsii.String("Resource"), &awscdk.CustomResourceProps{
		ServiceToken: provider.ServiceToken(),
		ResourceType: jsii.String(SubscriptionResourceType),
		Properties: &map[string]any{
			"Url":      ingest.WebhookURL,
			"Lanes":    cfg.Subscription.Lanes,
			"OnDelete": onDelete,
		},
	})
	// After the key sync: its function and schedule exist before the first subscription call.
	// After ingest's endpoint too: Upvest delivers as soon as a subscription is
	// enabled, and a delivery that finds no route, stage, permission or domain
	// mapping fails and holds back every later one. The Url orders the resource
	// after the API at most (with a custom domain, after nothing). On deletion
	// this disables the subscription before the endpoint goes.
	res.Node().AddDependency(keySync.Function, keySync.Schedule, ingest.Construct)
	return &Subscription{GoFunction: fn, Resource: res, Provider: provider}
}

// EnvKeySyncFunction names the key sync function the subscription function
// runs when the JWKS parameter is still empty.
const EnvKeySyncFunction = "KEYSYNC_FUNCTION_NAME"

// addSubscription deploys the stack-owned subscriptions when asked.
func addSubscription(stack awscdk.Stack, cfg Config, ingest *Ingest, keySync *KeySync) *Subscription {
	if !cfg.Subscription.Enabled || keySync == nil {
		return nil
	}
	sub := NewSubscription(stack, "Subscription", cfg, ingest, keySync)
	output(stack, "SubscriptionIds", "Upvest webhook subscription id(s) of this stack, one per lane", sub.Resource.GetAttString(jsii.String("SubscriptionIds")))
	return sub
}
