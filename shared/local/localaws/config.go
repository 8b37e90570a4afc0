package localaws

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/awssdk"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/config"
)

// The SDK's own per-service endpoint variables. aws-sdk-go-v2's config loader
// honours them, so a Lambda started with them set talks to the local servers
// without any code of ours.
const (
	EnvDynamoDBEndpoint = config.EnvDynamoDBEndpoint
	EnvSQSEndpoint      = config.EnvSQSEndpoint
	EnvStreamsEndpoint  = "AWS_ENDPOINT_URL_DYNAMODB_STREAMS"
)

// Region and dummy credentials for the local servers. DynamoDB Local runs with
// -sharedDb, so neither affects which tables a client sees; the key must be
// alphanumeric for DynamoDB Local to accept it.
const (
	Region          = "eu-central-1"
	AccessKeyID     = "local"
	SecretAccessKey = "local"
)

// EnvVars returns the environment entries ("KEY=value") that point an
// SDK-based process at the local servers: the three endpoint variables (DynamoDB
// Streams is served by DynamoDB Local), the region and the dummy credentials.
func EnvVars(dynamoEndpoint, sqsEndpoint string) []string {
	return []string{
		EnvDynamoDBEndpoint + "=" + dynamoEndpoint,
		EnvStreamsEndpoint + "=" + dynamoEndpoint,
		EnvSQSEndpoint + "=" + sqsEndpoint,
		"AWS_REGION=" + Region,
		"AWS_ACCESS_KEY_ID=" + AccessKeyID,
		"AWS_SECRET_ACCESS_KEY=" + SecretAccessKey,
	}
}

// EndpointsFromEnv reads the DynamoDB and SQS endpoints from the SDK's
// variables, failing if either is unset.
func EndpointsFromEnv() (dynamoEndpoint, sqsEndpoint string, err error) {
	dynamoEndpoint, sqsEndpoint = os.Getenv(EnvDynamoDBEndpoint), os.Getenv(EnvSQSEndpoint)
	if dynamoEndpoint == "" || sqsEndpoint == "" {
		return "", "", fmt.Errorf("%s and %s must both be set (got %q, %q)",
			EnvDynamoDBEndpoint, EnvSQSEndpoint, dynamoEndpoint, sqsEndpoint)
	}
	return dynamoEndpoint, sqsEndpoint, nil
}

// Config returns an SDK config for the local servers: region eu-central-1,
// static dummy credentials, and per-service endpoints. The endpoints travel in
// aws.Config.ConfigSources as a per-service base-endpoint source, the mechanism
// the SDK itself uses for AWS_ENDPOINT_URL_<SERVICE>; so plain
// dynamodb.NewFromConfig, dynamodbstreams.NewFromConfig and sqs.NewFromConfig
// reach the local servers without client options. The config is built by hand,
// not loaded, so that no shared config file or profile of the developer leaks in.
// It gets the project's SDK middleware (awssdk.Apply), as the Lambdas' do.
func Config(_ context.Context, dynamoEndpoint, sqsEndpoint string) (aws.Config, error) {
	if dynamoEndpoint == "" || sqsEndpoint == "" {
		return aws.Config{}, errors.New("localaws.Config: both endpoints are required")
	}
	// The generated clients ignore configured per-service endpoints when the
	// global AWS_ENDPOINT_URL is set without the service's own variable.
	if os.Getenv("AWS_ENDPOINT_URL") != "" {
		return aws.Config{}, errors.New("localaws.Config: unset AWS_ENDPOINT_URL; it overrides the per-service local endpoints")
	}
	return awssdk.Apply(aws.Config{
		Region:      Region,
		Credentials: aws.NewCredentialsCache(credentials.NewStaticCredentialsProvider(AccessKeyID, SecretAccessKey, "")),
		HTTPClient:  newLimitedClient(dynamoEndpoint, DynamoDBLocalInFlight),
		ConfigSources: []any{serviceEndpoints{
			dynamodb.ServiceID:        dynamoEndpoint,
			dynamodbstreams.ServiceID: dynamoEndpoint,
			sqs.ServiceID:             sqsEndpoint,
		}},
	}), nil
}

// serviceEndpoints maps an SDK service id (dynamodb.ServiceID, ...) to its base
// endpoint. It satisfies the SDK's ServiceBaseEndpointProvider config source.
type serviceEndpoints map[string]string

func (m serviceEndpoints) GetServiceBaseEndpoint(_ context.Context, sdkID string) (string, bool, error) {
	v, ok := m[sdkID]
	return v, ok, nil
}
