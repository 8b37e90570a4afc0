package ingestapp

import (
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
)

// withConnectionPool keeps up to perHost idle connections to each endpoint,
// so that a request's many calls in flight reuse warm TLS connections from
// one invocation to the next instead of the SDK's default ten. A client the
// caller supplied that is not the SDK's buildable client is left as it is.
func withConnectionPool(cfg aws.Config, perHost int) aws.Config {
	base, ok := cfg.HTTPClient.(*awshttp.BuildableClient)
	if cfg.HTTPClient != nil && !ok {
		return cfg
	}
	if base == nil {
		base = awshttp.NewBuildableClient()
	}
	cfg.HTTPClient = base.WithTransportOptions(func(t *http.Transport) {
		t.MaxIdleConnsPerHost = perHost
		t.MaxIdleConns = max(t.MaxIdleConns, 2*perHost) // DynamoDB and SQS
	})
	return cfg
}
