package localaws

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/schema"
)

// Queue defaults, as the deployed stack sets them. Tests pass smaller values.
var (
	DefaultVisibilityTimeout = schema.QueueVisibilityTimeout(schema.DefaultBatchWindow)
	DefaultMaxReceiveCount   = schema.DefaultMaxReceiveCount
)

const dlqRetentionSeconds = 14 * 24 * 60 * 60 // the SQS maximum: parked work waits for a human

// Resources are the provisioned names, tables and queues.
type Resources struct {
	LedgerTable     string
	StateTables     map[events.Domain]string
	StateStreamARNs map[events.Domain]string
	QueueURLs       map[events.Domain]string
	DLQURLs         map[events.Domain]string
}

// IngestEnv is the environment the ingest Lambda reads its resources from.
func (r Resources) IngestEnv() map[string]string {
	env := map[string]string{schema.EnvLedgerTable: r.LedgerTable}
	for d, url := range r.QueueURLs {
		env[schema.QueueURLEnv(d)] = url
	}
	return env
}

// WorkerEnv is the environment a domain's worker Lambda reads its resources from.
func (r Resources) WorkerEnv(d events.Domain) map[string]string {
	return map[string]string{
		schema.EnvDomain: string(d), schema.EnvStateTable: r.StateTables[d], schema.EnvLedgerTable: r.LedgerTable,
	}
}

// ProvisionOption adjusts Provision.
type ProvisionOption func(*provisionSettings)

type provisionSettings struct {
	visibilityTimeout time.Duration
	maxReceiveCount   int
}

// WithVisibilityTimeout sets the domain queues' visibility timeout (whole seconds, 0 to 12 h).
func WithVisibilityTimeout(d time.Duration) ProvisionOption {
	return func(s *provisionSettings) { s.visibilityTimeout = d }
}

// WithMaxReceiveCount sets how many receives a message gets before SQS moves it
// to the domain's dead-letter queue (1 to 1000).
func WithMaxReceiveCount(n int) ProvisionOption {
	return func(s *provisionSettings) { s.maxReceiveCount = n }
}

// Provision creates, if missing, the ledger table, and for every domain of
// events.Domains() a state table, a dead-letter queue and a queue redriving to
// it. Existing tables and queues are kept (a queue's attributes are reset to
// the requested ones), so running it twice is harmless.
func Provision(ctx context.Context, cfg aws.Config, names schema.Names, opts ...ProvisionOption) (Resources, error) {
	// Check the options before creating anything.
	if _, err := settingsOf(opts); err != nil {
		return Resources{}, err
	}

	db := dynamodb.NewFromConfig(cfg)
	domains := events.Domains()
	res := Resources{
		LedgerTable:     names.LedgerTable(),
		StateTables:     make(map[events.Domain]string, len(domains)),
		StateStreamARNs: make(map[events.Domain]string, len(domains)),
	}
	if err := ensureLedgerTable(ctx, db, res.LedgerTable); err != nil {
		return Resources{}, err
	}

	var mu sync.Mutex
	err := forEach(domains, func(d events.Domain) error {
		table := names.StateTable(d)
		streamARN, err := ensureStateTable(ctx, db, table)
		if err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		res.StateTables[d], res.StateStreamARNs[d] = table, streamARN
		return nil
	})
	if err != nil {
		return Resources{}, err
	}
	queues, err := ProvisionQueues(ctx, cfg, names, opts...)
	if err != nil {
		return Resources{}, err
	}
	res.QueueURLs, res.DLQURLs = queues.QueueURLs, queues.DLQURLs
	return res, nil
}

// ProvisionQueues creates only the domain queues and their DLQs under names,
// as Provision would: for a test that keeps its tables and wants fresh queues.
func ProvisionQueues(ctx context.Context, cfg aws.Config, names schema.Names, opts ...ProvisionOption) (Resources, error) {
	set, err := settingsOf(opts)
	if err != nil {
		return Resources{}, err
	}
	q := sqs.NewFromConfig(cfg)
	domains := events.Domains()
	res := Resources{QueueURLs: make(map[events.Domain]string, len(domains)), DLQURLs: make(map[events.Domain]string, len(domains))}
	var mu sync.Mutex
	err = forEach(domains, func(d events.Domain) error {
		dlqURL, queueURL, err := ensureQueues(ctx, q, names.DeadLetterQueue(d), names.Queue(d), set)
		if err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		res.QueueURLs[d], res.DLQURLs[d] = queueURL, dlqURL
		return nil
	})
	if err != nil {
		return Resources{}, err
	}
	return res, nil
}

// settingsOf applies the options to the defaults and checks them.
func settingsOf(opts []ProvisionOption) (provisionSettings, error) {
	set := provisionSettings{visibilityTimeout: DefaultVisibilityTimeout, maxReceiveCount: DefaultMaxReceiveCount}
	for _, o := range opts {
		o(&set)
	}
	if set.visibilityTimeout < 0 || set.visibilityTimeout > 12*time.Hour || set.visibilityTimeout%time.Second != 0 {
		return set, fmt.Errorf("visibility timeout %v: want whole seconds between 0 and 12h", set.visibilityTimeout)
	}
	if set.maxReceiveCount < 1 || set.maxReceiveCount > 1000 {
		return set, fmt.Errorf("max receive count %d: want 1 to 1000", set.maxReceiveCount)
	}
	return set, nil
}

// Teardown deletes everything Provision created; what is already gone is skipped.
func Teardown(ctx context.Context, cfg aws.Config, r Resources) error {
	db, q := dynamodb.NewFromConfig(cfg), sqs.NewFromConfig(cfg)
	var errs []error
	tables := []string{r.LedgerTable}
	for _, t := range r.StateTables {
		tables = append(tables, t)
	}
	for _, t := range tables {
		if t == "" {
			continue
		}
		_, err := db.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String(t)})
		if err != nil && !isErr[*ddbtypes.ResourceNotFoundException](err) {
			errs = append(errs, fmt.Errorf("delete table %s: %w", t, err))
		}
	}
	for _, urls := range []map[events.Domain]string{r.QueueURLs, r.DLQURLs} {
		for _, u := range urls {
			_, err := q.DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: aws.String(u)})
			if err != nil && !isErr[*sqstypes.QueueDoesNotExist](err) {
				errs = append(errs, fmt.Errorf("delete queue %s: %w", u, err))
			}
		}
	}
	return errors.Join(errs...)
}

func ensureLedgerTable(ctx context.Context, db *dynamodb.Client, name string) error {
	_, err := ensureTable(ctx, db, TableRequestsFor(name, schema.LedgerTable))
	return err
}

// ensureStateTable creates a domain's state table and returns its stream ARN.
func ensureStateTable(ctx context.Context, db *dynamodb.Client, name string) (string, error) {
	desc, err := ensureTable(ctx, db, TableRequestsFor(name, schema.StateTable))
	if err != nil {
		return "", err
	}
	if desc.LatestStreamArn == nil {
		return "", fmt.Errorf("table %s exists without a stream", name)
	}
	return *desc.LatestStreamArn, nil
}

// TableRequests are the calls that make a table of a schema.Table definition.
type TableRequests struct {
	Create *dynamodb.CreateTableInput
	TTL    *dynamodb.UpdateTimeToLiveInput // nil: no TTL
}

// TableRequestsFor builds the requests for table def under name, on demand.
func TableRequestsFor(name string, def schema.Table) TableRequests {
	in := &dynamodb.CreateTableInput{
		TableName:   aws.String(name),
		BillingMode: ddbtypes.BillingModePayPerRequest,
		KeySchema:   []ddbtypes.KeySchemaElement{key(def.PartitionKey, ddbtypes.KeyTypeHash)},
	}
	for _, attr := range def.KeyAttributes() {
		in.AttributeDefinitions = append(in.AttributeDefinitions,
			ddbtypes.AttributeDefinition{AttributeName: aws.String(attr), AttributeType: ddbtypes.ScalarAttributeTypeS})
	}
	for _, ix := range def.Indexes {
		keySchema := []ddbtypes.KeySchemaElement{key(ix.PartitionKey, ddbtypes.KeyTypeHash)}
		if ix.SortKey != "" {
			keySchema = append(keySchema, key(ix.SortKey, ddbtypes.KeyTypeRange))
		}
		in.GlobalSecondaryIndexes = append(in.GlobalSecondaryIndexes, ddbtypes.GlobalSecondaryIndex{
			IndexName:  aws.String(ix.Name),
			KeySchema:  keySchema,
			Projection: &ddbtypes.Projection{ProjectionType: ddbtypes.ProjectionType(ix.Projection)},
		})
	}
	if def.StreamView != "" {
		in.StreamSpecification = &ddbtypes.StreamSpecification{
			StreamEnabled: aws.Bool(true), StreamViewType: ddbtypes.StreamViewType(def.StreamView),
		}
	}
	req := TableRequests{Create: in}
	if def.TTLAttribute != "" {
		req.TTL = &dynamodb.UpdateTimeToLiveInput{
			TableName: aws.String(name),
			TimeToLiveSpecification: &ddbtypes.TimeToLiveSpecification{
				AttributeName: aws.String(def.TTLAttribute), Enabled: aws.Bool(true),
			},
		}
	}
	return req
}

// ensureTable creates the table unless it exists, waits until it and its
// indexes are ACTIVE, and enables its TTL if it has one and it is not on yet.
func ensureTable(ctx context.Context, db *dynamodb.Client, req TableRequests) (*ddbtypes.TableDescription, error) {
	desc, err := ensureCreated(ctx, db, req.Create)
	if err != nil || req.TTL == nil {
		return desc, err
	}
	name := aws.ToString(req.Create.TableName)
	ttl, err := db.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: req.TTL.TableName})
	if err != nil {
		return nil, fmt.Errorf("describe TTL of %s: %w", name, err)
	}
	if d := ttl.TimeToLiveDescription; d != nil &&
		(d.TimeToLiveStatus == ddbtypes.TimeToLiveStatusEnabled || d.TimeToLiveStatus == ddbtypes.TimeToLiveStatusEnabling) {
		return desc, nil
	}
	if _, err := db.UpdateTimeToLive(ctx, req.TTL); err != nil {
		return nil, fmt.Errorf("enable TTL on %s: %w", name, err)
	}
	return desc, nil
}

// ensureCreated creates the table unless it exists, and waits until it and its
// indexes are ACTIVE.
func ensureCreated(ctx context.Context, db *dynamodb.Client, in *dynamodb.CreateTableInput) (*ddbtypes.TableDescription, error) {
	name := aws.ToString(in.TableName)
	if _, err := db.CreateTable(ctx, in); err != nil && !isErr[*ddbtypes.ResourceInUseException](err) {
		return nil, fmt.Errorf("create table %s: %w", name, err)
	}
	for delay := 20 * time.Millisecond; ; delay = min(2*delay, time.Second) {
		out, err := db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: in.TableName})
		if err != nil {
			return nil, fmt.Errorf("describe table %s: %w", name, err)
		}
		if active(out.Table) {
			return out.Table, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("table %s not active: %w", name, ctx.Err())
		case <-time.After(delay):
		}
	}
}

func active(t *ddbtypes.TableDescription) bool {
	if t.TableStatus != ddbtypes.TableStatusActive {
		return false
	}
	for _, g := range t.GlobalSecondaryIndexes {
		if g.IndexStatus != ddbtypes.IndexStatusActive {
			return false
		}
	}
	return true
}

// ensureQueues creates the dead-letter queue, then the queue redriving to it.
func ensureQueues(ctx context.Context, q *sqs.Client, dlqName, queueName string, set provisionSettings) (dlqURL, queueURL string, err error) {
	dlqURL, err = ensureQueue(ctx, q, dlqName, map[string]string{
		string(sqstypes.QueueAttributeNameMessageRetentionPeriod): strconv.Itoa(dlqRetentionSeconds),
	})
	if err != nil {
		return "", "", err
	}
	attrs, err := q.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(dlqURL), AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn},
	})
	if err != nil {
		return "", "", fmt.Errorf("get ARN of queue %s: %w", dlqName, err)
	}
	dlqARN := attrs.Attributes[string(sqstypes.QueueAttributeNameQueueArn)]
	if dlqARN == "" {
		return "", "", fmt.Errorf("queue %s has no ARN", dlqName)
	}
	redrive, err := json.Marshal(RedrivePolicy{DeadLetterTargetARN: dlqARN, MaxReceiveCount: set.maxReceiveCount})
	if err != nil {
		return "", "", fmt.Errorf("encode redrive policy: %w", err)
	}
	queueURL, err = ensureQueue(ctx, q, queueName, map[string]string{
		string(sqstypes.QueueAttributeNameVisibilityTimeout): strconv.Itoa(int(set.visibilityTimeout / time.Second)),
		string(sqstypes.QueueAttributeNameRedrivePolicy):     string(redrive),
	})
	return dlqURL, queueURL, err
}

// RedrivePolicy is a queue's RedrivePolicy attribute, as SQS encodes it.
type RedrivePolicy struct {
	DeadLetterTargetARN string `json:"deadLetterTargetArn"`
	MaxReceiveCount     int    `json:"maxReceiveCount"`
}

// ensureQueue creates the queue, or sets the attributes of the existing one
// (CreateQueue refuses an existing name with different attributes).
func ensureQueue(ctx context.Context, q *sqs.Client, name string, attrs map[string]string) (string, error) {
	out, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: attrs})
	if err == nil {
		return aws.ToString(out.QueueUrl), nil
	}
	if !isErr[*sqstypes.QueueNameExists](err) {
		return "", fmt.Errorf("create queue %s: %w", name, err)
	}
	got, err := q.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(name)})
	if err != nil {
		return "", fmt.Errorf("get URL of existing queue %s: %w", name, err)
	}
	if _, err := q.SetQueueAttributes(ctx, &sqs.SetQueueAttributesInput{QueueUrl: got.QueueUrl, Attributes: attrs}); err != nil {
		return "", fmt.Errorf("update existing queue %s: %w", name, err)
	}
	return aws.ToString(got.QueueUrl), nil
}

// forEach runs fn for every domain, a few at a time (the servers are local
// and small machines have two cores), and returns the first error.
func forEach(domains []events.Domain, fn func(events.Domain) error) error {
	sem := make(chan struct{}, 4)
	errs := make([]error, len(domains))
	var wg sync.WaitGroup
	for i, d := range domains {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			errs[i] = fn(d)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func key(name string, typ ddbtypes.KeyType) ddbtypes.KeySchemaElement {
	return ddbtypes.KeySchemaElement{AttributeName: aws.String(name), KeyType: typ}
}

func isErr[T error](err error) bool {
	var target T
	return errors.As(err, &target)
}
