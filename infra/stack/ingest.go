package stack

import (
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigateway"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2integrations"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscertificatemanager"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	fnconfig "github.com/upvest-webhooks/upvest-webhooks/shared/prod/config"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/permissions"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/schema"
)

// Ingest is the public side: an HTTP API with one POST route to the ingest Lambda.
//
// An HTTP API, not a REST API: it has what this endpoint needs (throttling,
// access logs, custom domain with TLS 1.2, payload 2.0 with the source IP),
// costs less and adds less latency. The REST API's extras do not apply: request
// validation cannot check an HTTP message signature, and the IP allowlist is
// enforced by ingest on the source IP API Gateway reports. What an HTTP API
// cannot do is drop outsiders before its throttle (WAF needs a REST API or
// CloudFront): the stage limits are therefore far above Upvest's rate, ingest
// has reserved concurrency, and any 429 pages (see README "Who can stall the feed").
type Ingest struct {
	// Construct holds everything that answers on the webhook URL (function,
	// API, route, stage, custom domain and its mapping), to order after it.
	Construct  constructs.Construct
	API        awsapigatewayv2.HttpApi
	Stage      awsapigatewayv2.HttpStage
	Function   *GoFunction
	AccessLogs awslogs.LogGroup
	WebhookURL *string // the URL to register at Upvest
}

// NewIngest creates the API and the ingest function. The function may do what
// its code does (permissions.Ingest): write and read the ledger, send to the
// domain queues and read the JWKS parameter; nothing else.
func NewIngest(scope constructs.Construct, id string, cfg Config, ledger awsdynamodb.Table, pipelines []*Pipeline) *Ingest {
	s := constructs.NewConstruct(scope, jsii.String(id))
	in := &Ingest{Construct: s}

	env := map[string]string{
		schema.EnvLedgerTable:       *ledger.TableName(),
		fnconfig.EnvJWKSParameter:   cfg.JWKSParameter,
		fnconfig.EnvJWKSRefresh:     cfg.JWKSRefresh,
		fnconfig.EnvIPAllowlist:     cfg.IPAllowlist,
		fnconfig.EnvPublicPath:      cfg.PublicPath(),
		fnconfig.EnvClockSkew:       cfg.SignatureClockSkew,
		fnconfig.EnvLedgerRetention: strconv.Itoa(cfg.LedgerRetention),
		EnvLogLevel:                 cfg.LogLevel,
	}
	for _, p := range pipelines {
		env[schema.QueueURLEnv(p.Domain)] = *p.Queue.QueueUrl()
	}
	in.Function = NewGoFunction(s, "Function", GoFunctionProps{
		Config:      cfg,
		Asset:       AssetIngest,
		Description: "upvest-webhooks " + string(cfg.Env) + " ingest: verifies, records and fans out Upvest webhooks",
		MemoryMB:    cfg.IngestMemoryMB,
		Timeout:     IngestTimeout,
		Environment: env,
		// Workers scale with their queues; they must never leave Upvest's deliveries without a slot.
		ReservedConcurrency: cfg.IngestReservedConcurrency,
	})
	queues := make([]*string, len(pipelines))
	for i, p := range pipelines {
		queues[i] = p.Queue.QueueArn()
	}
	// The parameter is referenced by name, not created: its value is Upvest's
	// JWKS, which the operator loads (and rotates) outside the deployment.
	jwks := awscdk.Stack_Of(s).FormatArn(&awscdk.ArnComponents{
		Service:      jsii.String("ssm"),
		Resource:     jsii.String("parameter"),
		ResourceName: jsii.String(strings.TrimPrefix(cfg.JWKSParameter, "/")),
		ArnFormat:    awscdk.ArnFormat_SLASH_RESOURCE_NAME,
	})
	in.Function.grant(permissions.Ingest, map[permissions.Resource][]*string{
		permissions.Ledger: {ledger.TableArn()}, permissions.DomainQueues: queues, permissions.JWKSParameter: {jwks},
	})
	grantTraceExport(in.Function, cfg)

	var domain awsapigatewayv2.DomainName
	if cfg.DomainName != "" {
		domain = awsapigatewayv2.NewDomainName(s, jsii.String("Domain"), &awsapigatewayv2.DomainNameProps{
			DomainName:     jsii.String(cfg.DomainName),
			Certificate:    awscertificatemanager.Certificate_FromCertificateArn(s, jsii.String("Certificate"), jsii.String(cfg.CertificateARN)),
			SecurityPolicy: awsapigatewayv2.SecurityPolicy_TLS_1_2,
			EndpointType:   awsapigatewayv2.EndpointType_REGIONAL,
		})
		awscdk.NewCfnOutput(scope, jsii.String("CustomDomainTarget"), &awscdk.CfnOutputProps{
			Description: jsii.String("Point a CNAME (or alias) record for " + cfg.DomainName + " at this name"),
			Value:       domain.RegionalDomainName(),
		})
	}

	in.API = awsapigatewayv2.NewHttpApi(s, jsii.String("Api"), &awsapigatewayv2.HttpApiProps{
		ApiName:            jsii.String(cfg.StackName), // sandbox and live apart in the console, not both "Api"
		Description:        jsii.String("Receives Upvest " + string(cfg.Env) + " webhooks"),
		CreateDefaultStage: jsii.Bool(false),
		// With a custom domain, the execute-api URL is closed so the only way in is the name Upvest signs for.
		DisableExecuteApiEndpoint: jsii.Bool(cfg.DomainName != ""),
	})
	routes := in.API.AddRoutes(&awsapigatewayv2.AddRoutesOptions{
		Path:    jsii.String(WebhookPath),
		Methods: &[]awsapigatewayv2.HttpMethod{awsapigatewayv2.HttpMethod_POST},
		Integration: awsapigatewayv2integrations.NewHttpLambdaIntegration(jsii.String("Ingest"), in.Function.Function,
			&awsapigatewayv2integrations.HttpLambdaIntegrationProps{
				PayloadFormatVersion: awsapigatewayv2.PayloadFormatVersion_VERSION_2_0(),
			}),
	})
	cdknag.NagSuppressions_AddResourceSuppressions((*routes)[0], &[]*cdknag.NagPackSuppression{{
		Id: jsii.String("AwsSolutions-APIG4"),
		Reason: jsii.String("Upvest cannot present API Gateway credentials; every request is authenticated by its HTTP message signature " +
			"(ECDSA P-521, Upvest's published keys), verified by the ingest function before anything is stored, plus the source IP allowlist."),
	}}, jsii.Bool(true))

	in.AccessLogs = awslogs.NewLogGroup(s, jsii.String("AccessLogs"), &awslogs.LogGroupProps{
		Retention:     retentionDays[cfg.LogRetentionDays],
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	in.Stage = awsapigatewayv2.NewHttpStage(s, jsii.String("DefaultStage"), &awsapigatewayv2.HttpStageProps{
		HttpApi:    in.API,
		StageName:  jsii.String("$default"), // no stage in the path: the Lambda sees the path Upvest signs
		AutoDeploy: jsii.Bool(true),
		Throttle: &awsapigatewayv2.ThrottleSettings{
			RateLimit:  jsii.Number(float64(cfg.ThrottleRate)),
			BurstLimit: jsii.Number(float64(cfg.ThrottleBurst)),
		},
		AccessLogSettings: &accessLogSettings{
			destination: awsapigatewayv2.NewLogGroupLogDestination(in.AccessLogs),
			format:      awsapigateway.AccessLogFormat_Custom(jsii.String(accessLogFormat)),
		},
	})
	if domain != nil {
		mapDomain(s, cfg, in, domain)
	}

	if cfg.DomainName != "" {
		in.WebhookURL = jsii.String("https://" + cfg.DomainName + cfg.PublicPath())
	} else {
		in.WebhookURL = awscdk.Fn_Join(jsii.String(""), &[]*string{in.API.ApiEndpoint(), jsii.String(WebhookPath)})
	}
	return in
}

// accessLogFormat is one JSON object per request, with the HTTP API's context
// variables that matter when a delivery fails: who, what, and which side failed.
var accessLogFormat = func() string {
	fields := map[string]string{
		"apiId":              "$context.apiId", // the dimension of the metrics filtered from this log
		"requestId":          "$context.requestId",
		"sourceIp":           "$context.identity.sourceIp",
		"requestTime":        "$context.requestTime",
		"httpMethod":         "$context.httpMethod",
		"path":               "$context.path",
		"routeKey":           "$context.routeKey",
		"status":             "$context.status",
		"protocol":           "$context.protocol",
		"responseLength":     "$context.responseLength",
		"responseLatency":    "$context.responseLatency",
		"integrationStatus":  "$context.integrationStatus",
		"integrationLatency": "$context.integrationLatency",
		"integrationError":   "$context.integrationErrorMessage",
		"errorMessage":       "$context.error.message",
		"userAgent":          "$context.identity.userAgent",
	}
	parts := make([]string, 0, len(fields))
	for _, k := range slices.Sorted(maps.Keys(fields)) {
		parts = append(parts, strconv.Quote(k)+":"+strconv.Quote(fields[k]))
	}
	return "{" + strings.Join(parts, ",") + "}"
}()

// accessLogSettings implements the stage's IAccessLogSettings.
type accessLogSettings struct {
	destination awsapigatewayv2.IAccessLogDestination
	format      awsapigateway.AccessLogFormat
}

func (a *accessLogSettings) Destination() awsapigatewayv2.IAccessLogDestination { return a.destination }
func (a *accessLogSettings) Format() awsapigateway.AccessLogFormat              { return a.format }

// mapDomain maps the custom domain (under basePath, if any) to the stage. Made
// here rather than by the stage's domainMapping, whose construct id is
// domain + key and so reads "...undefined" in the logical id without a basePath.
func mapDomain(scope constructs.Construct, cfg Config, in *Ingest, domain awsapigatewayv2.DomainName) {
	var key *string
	if cfg.BasePath != "" {
		key = jsii.String(cfg.BasePath)
	}
	mapping := awsapigatewayv2.NewApiMapping(scope, jsii.String("DomainMapping"), &awsapigatewayv2.ApiMappingProps{
		Api:           in.API,
		DomainName:    domain,
		Stage:         in.Stage,
		ApiMappingKey: key,
	})
	mapping.Node().AddDependency(in.Stage) // the stage must exist before a domain maps to it
}
