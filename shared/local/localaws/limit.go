package localaws

import (
	"net/http"
	"net/url"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
)

// DynamoDBLocalInFlight bounds the requests one process has in flight to
// DynamoDB Local. It serialises a table's writes on a lock and answers 500
// ("timed out ... waiting for a lock. This request will succeed in actual
// DynamoDB API") when more than a few dozen wait, which would only exhaust
// the SDK's retry quota; DynamoDB itself takes ingest's 128 writes in flight.
const DynamoDBLocalInFlight = 16

// limitedClient holds requests to one host to a fixed number in flight.
type limitedClient struct {
	next  aws.HTTPClient
	host  string
	slots chan struct{}
}

func newLimitedClient(endpoint string, n int) aws.HTTPClient {
	next := awshttp.NewBuildableClient()
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" {
		return next
	}
	return &limitedClient{next: next, host: u.Host, slots: make(chan struct{}, n)}
}

func (c *limitedClient) Do(req *http.Request) (*http.Response, error) {
	if req.URL.Host != c.host {
		return c.next.Do(req)
	}
	select {
	case c.slots <- struct{}{}:
	case <-req.Context().Done():
		return nil, req.Context().Err()
	}
	defer func() { <-c.slots }()
	return c.next.Do(req)
}
