// Package awstest gives integration tests a fresh, private set of tables and
// queues on the local servers that `make test` starts. Test binaries of
// different packages run in parallel against the same servers; every Env call
// provisions under its own random prefix, and deletes it when the test ends.
package awstest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/shared/local/localaws"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/schema"
)

// Test defaults: short enough that redelivery and dead-lettering happen within
// a test, long enough that a message being handled is not redelivered meanwhile.
const (
	DefaultVisibilityTimeout = 2 * time.Second
	DefaultMaxReceiveCount   = 3
)

// EnvRequireServers, set to 1 by `make test`, makes a test that needs the local
// servers fail, instead of skip, when they are not configured.
const EnvRequireServers = "UPVEST_REQUIRE_LOCAL_SERVERS"

// RequireServers returns the local servers' endpoints from the SDK's variables
// (AWS_ENDPOINT_URL_DYNAMODB, AWS_ENDPOINT_URL_SQS), which `make test` sets. With
// neither set, it skips the test, so that plain `go test ./...` passes on a bare
// clone; unless UPVEST_REQUIRE_LOCAL_SERVERS=1, where it fails. With only one
// set, the setup is broken and the test fails.
func RequireServers(t testing.TB) (dynamoEndpoint, sqsEndpoint string) {
	t.Helper()
	dynamoEndpoint, sqsEndpoint, err := localaws.EndpointsFromEnv()
	switch {
	case err == nil:
		return dynamoEndpoint, sqsEndpoint
	case dynamoEndpoint == "" && sqsEndpoint == "" && os.Getenv(EnvRequireServers) != "1":
		t.Skipf("needs DynamoDB Local and the SQS server: run `make test` (%s and %s unset)",
			localaws.EnvDynamoDBEndpoint, localaws.EnvSQSEndpoint)
	default:
		t.Fatalf("integration tests need the local servers: run `make test` (%v)", err)
	}
	return "", ""
}

// Environment is one test's private slice of the local servers.
type Environment struct {
	Config   aws.Config
	DynamoDB *dynamodb.Client
	SQS      *sqs.Client
	Streams  *dynamodbstreams.Client
	Names    schema.Names
	localaws.Resources
}

// Option adjusts Env: the provisioning options of localaws.
type Option = localaws.ProvisionOption

// WithVisibilityTimeout and WithMaxReceiveCount override the test defaults.
var (
	WithVisibilityTimeout = localaws.WithVisibilityTimeout
	WithMaxReceiveCount   = localaws.WithMaxReceiveCount
)

// Env provisions a fresh ledger table, state tables and queues under a unique
// prefix, registers their deletion with t.Cleanup, and returns them with
// clients. Without the local servers it skips or fails the test, as
// RequireServers says.
func Env(t testing.TB, opts ...Option) Environment {
	t.Helper()
	opts = withTestDefaults(opts)
	c := sharedClients(t)
	names := schema.Names{Prefix: uniquePrefix(t)}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := localaws.Provision(ctx, c.cfg, names, opts...)
	if err != nil {
		t.Fatalf("provision %q: %v", names.Prefix, err)
	}
	t.Cleanup(func() {
		// 13 tables and 24 queues, one by one: on a loaded 2-core machine
		// (load 50-70, make test's packages in parallel) a minute was not
		// always enough for the servers to answer them all.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		if err := localaws.Teardown(ctx, c.cfg, res); err != nil {
			t.Errorf("teardown %q: %v", names.Prefix, err)
		}
	})
	return Environment{
		Config: c.cfg, DynamoDB: c.db, SQS: c.sqs, Streams: c.streams,
		Names: names, Resources: res,
	}
}

// Queues provisions a fresh set of domain queues and DLQs, with the same
// defaults and options as Env, and deletes them when the test ends: for a test
// that reuses tables but must not see another test's messages.
func Queues(t testing.TB, opts ...Option) (queueURLs, dlqURLs map[events.Domain]string) {
	t.Helper()
	opts = withTestDefaults(opts)
	c := sharedClients(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	names := schema.Names{Prefix: uniquePrefix(t)}
	res, err := localaws.ProvisionQueues(ctx, c.cfg, names, opts...)
	if err != nil {
		t.Fatalf("provision queues %q: %v", names.Prefix, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		if err := localaws.Teardown(ctx, c.cfg, res); err != nil {
			t.Errorf("teardown queues %q: %v", names.Prefix, err)
		}
	})
	return res.QueueURLs, res.DLQURLs
}

// withTestDefaults puts the test defaults first, so that the caller's options win.
func withTestDefaults(opts []Option) []Option {
	return append([]Option{WithVisibilityTimeout(DefaultVisibilityTimeout), WithMaxReceiveCount(DefaultMaxReceiveCount)}, opts...)
}

type clients struct {
	cfg     aws.Config
	db      *dynamodb.Client
	sqs     *sqs.Client
	streams *dynamodbstreams.Client
	err     error
}

var (
	clientsOnce sync.Once
	shared      clients
)

// sharedClients builds the config and clients once per test binary.
func sharedClients(t testing.TB) clients {
	t.Helper()
	dynamo, queue := RequireServers(t)
	clientsOnce.Do(func() {
		cfg, err := localaws.Config(context.Background(), dynamo, queue)
		if err != nil {
			shared.err = err
			return
		}
		shared = clients{
			cfg: cfg, db: dynamodb.NewFromConfig(cfg), sqs: sqs.NewFromConfig(cfg),
			streams: dynamodbstreams.NewFromConfig(cfg),
		}
	})
	if shared.err != nil {
		t.Fatalf("local servers' SDK config: %v", shared.err)
	}
	return shared
}

// uniquePrefix is short (queue names are limited to 80 characters) and random,
// so parallel test binaries never share a resource.
func uniquePrefix(t testing.TB) string {
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("random prefix: %v", err)
	}
	return "t" + hex.EncodeToString(b) + "-"
}
