// Package awstest gives integration tests a fresh, private set of tables and
// queues on the local servers that `make test` starts. Test binaries of
// different packages run in parallel against the same servers; every Env call
// provisions under its own random prefix, and deletes it when the test ends.
package awstest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/upvest-webhooks/upvest-webhooks/shared/localaws"
	"github.com/upvest-webhooks/upvest-webhooks/shared/schema"
)

// Test defaults: short enough that redelivery and dead-lettering happen within
// a test, long enough that a message being handled is not redelivered meanwhile.
const (
	DefaultVisibilityTimeout = 2 * time.Second
	DefaultMaxReceiveCount   = 3
)

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
// clients. It fails the test when the endpoint variables are missing.
func Env(t testing.TB, opts ...Option) Environment {
	t.Helper()
	// Test defaults first, so that the caller's options win.
	opts = append([]Option{WithVisibilityTimeout(DefaultVisibilityTimeout), WithMaxReceiveCount(DefaultMaxReceiveCount)}, opts...)
	c := sharedClients(t)
	names := schema.Names{Prefix: uniquePrefix(t)}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := localaws.Provision(ctx, c.cfg, names, opts...)
	if err != nil {
		t.Fatalf("provision %q: %v", names.Prefix, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
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
	clientsOnce.Do(func() {
		dynamo, queue, err := localaws.EndpointsFromEnv()
		if err != nil {
			shared.err = err
			return
		}
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
		t.Fatalf("integration tests need the local servers: run `make test` (%v)", shared.err)
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
