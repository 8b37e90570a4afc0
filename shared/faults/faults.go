// Package faults injects failures at the AWS SDK boundary of the local
// pipeline, for `make chaos`: API errors, throttling, timeouts after the call
// took effect, partial SendMessageBatch failures, a twin racing each
// conditional write, and crashes of the whole process at named points. It is
// wired into the local run only (functions/local), and only when
// UPVEST_FAULTS is set; the Lambdas never load it.
package faults

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
)

// Environment of the local run.
const (
	// EnvFaults enables injection, e.g.
	// "error=0.02,throttle=0.02,timeout=0.02,partial=0.1,race=0.05,crash=worker-after-state@300".
	EnvFaults = "UPVEST_FAULTS"
	// EnvFaultsLog names a file that gets one line per injected fault (its
	// kind), appended at once, so that counts survive a crash of the process.
	EnvFaultsLog = "UPVEST_FAULTS_LOG"
)

// Kind names one kind of fault.
type Kind string

const (
	APIError Kind = "error"    // an internal server error instead of the call
	Throttle Kind = "throttle" // a throttling exception instead of the call
	Timeout  Kind = "timeout"  // the call takes effect, its answer is lost
	Partial  Kind = "partial"  // some SendMessageBatch entries fail, the rest are sent
	Race     Kind = "race"     // a twin of a conditional write runs at the same time
	Crash    Kind = "crash"    // the process exits on the spot at a crash point
)

// Crash points: where a process dies with CrashExitCode.
const (
	// IngestAfterClaim: ingest has written its ledger claims and is about to
	// fan out (the first SendMessageBatch call).
	IngestAfterClaim = "ingest-after-claim"
	// WorkerAfterState: a worker has written the state table and is about to
	// record the outcome in the ledger (an UpdateItem on the ledger table).
	WorkerAfterState = "worker-after-state"
)

// CrashExitCode is the exit code of a process killed at a crash point.
const CrashExitCode = 86

// Config is what to inject. Rates are probabilities per SDK call.
type Config struct {
	Rates map[Kind]float64
	// CrashPoint and CrashAfter: the process exits at the CrashAfter-th time
	// it reaches CrashPoint. Empty: no crash.
	CrashPoint string
	CrashAfter int
}

// Enabled reports whether anything is injected.
func (c Config) Enabled() bool {
	for _, r := range c.Rates {
		if r > 0 {
			return true
		}
	}
	return c.CrashPoint != ""
}

// String is the config in Parse's syntax.
func (c Config) String() string {
	var parts []string
	for _, k := range []Kind{APIError, Throttle, Timeout, Partial, Race} {
		if r := c.Rates[k]; r > 0 {
			parts = append(parts, fmt.Sprintf("%s=%g", k, r))
		}
	}
	if c.CrashPoint != "" {
		parts = append(parts, fmt.Sprintf("%s=%s@%d", Crash, c.CrashPoint, c.CrashAfter))
	}
	return strings.Join(parts, ",")
}

// Parse reads a config: comma-separated kind=rate pairs (rates 0 to 1) and at
// most one crash=<point>@<n>. An empty spec injects nothing.
func Parse(spec string) (Config, error) {
	c := Config{Rates: map[Kind]float64{}}
	for _, part := range strings.Split(spec, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, value, ok := strings.Cut(part, "=")
		if !ok {
			return Config{}, fmt.Errorf("%s: %q is not kind=value", EnvFaults, part)
		}
		switch k := Kind(name); k {
		case APIError, Throttle, Timeout, Partial, Race:
			r, err := strconv.ParseFloat(value, 64)
			if err != nil || r < 0 || r > 1 {
				return Config{}, fmt.Errorf("%s: rate of %s %q is not a number from 0 to 1", EnvFaults, k, value)
			}
			c.Rates[k] = r
		case Crash:
			point, n, _ := strings.Cut(value, "@")
			after, err := strconv.Atoi(n)
			if point != IngestAfterClaim && point != WorkerAfterState {
				return Config{}, fmt.Errorf("%s: crash point %q is not %s or %s", EnvFaults, point, IngestAfterClaim, WorkerAfterState)
			}
			if err != nil || after < 1 {
				return Config{}, fmt.Errorf("%s: crash %q needs @<count from 1>", EnvFaults, value)
			}
			c.CrashPoint, c.CrashAfter = point, after
		default:
			return Config{}, fmt.Errorf("%s: unknown fault kind %q", EnvFaults, name)
		}
	}
	return c, nil
}

// Injector injects the faults of a Config into SDK calls.
type Injector struct {
	cfg         Config
	ledgerTable string
	record      func(Kind) // called before a fault takes effect
	exit        func(code int)

	// twin makes the racing twin of a conditional write, on clients without
	// faults (a stack runs one call at a time, so the twin needs its own).
	twin *dynamodb.Client

	mu      sync.Mutex
	rng     *rand.Rand
	reached int // times the crash point was reached
}

// Options configure an Injector.
type Options struct {
	// LedgerTable tells the worker's ledger update from its state write.
	LedgerTable string
	// Record is told each fault as it is injected (nil: not recorded).
	Record func(Kind)
	// Seed makes the choices repeatable; 0 picks one at random.
	Seed uint64
	// Exit ends the process at a crash point (default os.Exit).
	Exit func(code int)
}

// New returns an Injector.
func New(cfg Config, opts Options) *Injector {
	seed := opts.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	in := &Injector{cfg: cfg, ledgerTable: opts.LedgerTable, record: opts.Record, exit: opts.Exit,
		rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
	if in.record == nil {
		in.record = func(Kind) {}
	}
	if in.exit == nil {
		in.exit = os.Exit
	}
	return in
}

// FromEnv builds an Injector from UPVEST_FAULTS and UPVEST_FAULTS_LOG; nil
// when UPVEST_FAULTS is unset or injects nothing. close releases the log file.
func FromEnv(getenv func(string) string, ledgerTable string) (in *Injector, close func() error, err error) {
	cfg, err := Parse(getenv(EnvFaults))
	if err != nil || !cfg.Enabled() {
		return nil, func() error { return nil }, err
	}
	opts := Options{LedgerTable: ledgerTable}
	close = func() error { return nil }
	if path := getenv(EnvFaultsLog); path != "" {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", EnvFaultsLog, err)
		}
		var mu sync.Mutex
		opts.Record = func(k Kind) {
			mu.Lock()
			defer mu.Unlock()
			_, _ = f.WriteString(string(k) + "\n") // one write(2): kept even if the process dies next
		}
		close = f.Close
	}
	return New(cfg, opts), close, nil
}

// Install adds the injector to every client built from cfg afterwards.
func (in *Injector) Install(cfg *aws.Config) {
	in.twin = dynamodb.NewFromConfig(*cfg)
	cfg.APIOptions = append(slices.Clone(cfg.APIOptions), func(stack *middleware.Stack) error {
		// Last of the initialize step: the service and operation are known,
		// and nothing below (retries included) sees what this skips or repeats.
		return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("InjectFaults", in.handle), middleware.After)
	})
}

func (in *Injector) chance(k Kind) bool {
	r := in.cfg.Rates[k]
	if r <= 0 {
		return false
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.rng.Float64() < r
}

// crashPoint reports whether the call is the crash point's, and counts it.
func (in *Injector) atCrashPoint(params any) bool {
	var here bool
	switch p := params.(type) {
	case *sqs.SendMessageBatchInput:
		here = in.cfg.CrashPoint == IngestAfterClaim
	case *dynamodb.UpdateItemInput:
		here = in.cfg.CrashPoint == WorkerAfterState && in.ledgerTable != "" && aws.ToString(p.TableName) == in.ledgerTable
	}
	if !here {
		return false
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	in.reached++
	return in.reached == in.cfg.CrashAfter
}

func (in *Injector) handle(ctx context.Context, args middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
	service := awsmiddleware.GetServiceID(ctx)
	if (service != dynamodb.ServiceID && service != sqs.ServiceID) || !dataPlane[awsmiddleware.GetOperationName(ctx)] {
		return next.HandleInitialize(ctx, args)
	}
	if in.atCrashPoint(args.Parameters) {
		in.record(Crash)
		in.exit(CrashExitCode)
	}
	if in.twin != nil && conditionalWrite(args.Parameters) && in.chance(Race) {
		in.record(Race)
		return in.race(ctx, args, next)
	}
	if batch, ok := args.Parameters.(*sqs.SendMessageBatchInput); ok && len(batch.Entries) > 0 && in.chance(Partial) {
		in.record(Partial)
		return in.partial(ctx, args, batch, next)
	}
	if in.chance(Throttle) {
		in.record(Throttle)
		return middleware.InitializeOutput{}, middleware.Metadata{}, &smithy.GenericAPIError{
			Code: throttleCode(service), Message: "injected: rate exceeded", Fault: smithy.FaultClient}
	}
	if in.chance(APIError) {
		in.record(APIError)
		return middleware.InitializeOutput{}, middleware.Metadata{}, &smithy.GenericAPIError{
			Code: "InternalServerError", Message: "injected: internal server error", Fault: smithy.FaultServer}
	}
	if in.chance(Timeout) {
		in.record(Timeout)
		_, _, _ = next.HandleInitialize(ctx, args) // it happened; the caller never hears
		return middleware.InitializeOutput{}, middleware.Metadata{}, fmt.Errorf("injected: answer lost: %w", ErrInjectedTimeout)
	}
	return next.HandleInitialize(ctx, args)
}

// dataPlane are the calls that carry events; setup calls (CreateQueue,
// GetQueueAttributes, DescribeTable, ...) are left alone, as the Lambdas make none.
var dataPlane = map[string]bool{
	"GetItem": true, "PutItem": true, "UpdateItem": true, "DeleteItem": true, "Query": true,
	"BatchGetItem": true, "BatchWriteItem": true, "TransactWriteItems": true, "TransactGetItems": true,
	"SendMessage": true, "SendMessageBatch": true, "ReceiveMessage": true, "DeleteMessage": true,
	"DeleteMessageBatch": true, "ChangeMessageVisibility": true, "ChangeMessageVisibilityBatch": true,
}

// ErrInjectedTimeout is the cause of an injected timeout.
var ErrInjectedTimeout = errors.New("request timed out after it was sent")

func throttleCode(service string) string {
	if service == dynamodb.ServiceID {
		return "ProvisionedThroughputExceededException"
	}
	return "ThrottlingException"
}

func conditionalWrite(params any) bool {
	switch p := params.(type) {
	case *dynamodb.PutItemInput:
		return p.ConditionExpression != nil
	case *dynamodb.UpdateItemInput:
		return p.ConditionExpression != nil
	case *dynamodb.DeleteItemInput:
		return p.ConditionExpression != nil
	}
	return false
}

// race runs a twin of the conditional write at the same time as the call,
// as a redelivery handled by another worker would; the caller gets its own
// call's answer, which is a conditional check failure whenever the twin won.
func (in *Injector) race(ctx context.Context, args middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
	twin := make(chan struct{})
	go func() {
		defer close(twin)
		ctx := context.WithoutCancel(ctx)
		switch p := args.Parameters.(type) { // the inputs are only read
		case *dynamodb.PutItemInput:
			_, _ = in.twin.PutItem(ctx, p)
		case *dynamodb.UpdateItemInput:
			_, _ = in.twin.UpdateItem(ctx, p)
		case *dynamodb.DeleteItemInput:
			_, _ = in.twin.DeleteItem(ctx, p)
		}
	}()
	out, md, err := next.HandleInitialize(ctx, args)
	<-twin
	return out, md, err
}

// partial sends all entries but some, and reports those as failed the way
// SQS does (a server-side error per entry).
func (in *Injector) partial(ctx context.Context, args middleware.InitializeInput, batch *sqs.SendMessageBatchInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
	in.mu.Lock()
	failing := 1 + in.rng.IntN(len(batch.Entries))
	order := in.rng.Perm(len(batch.Entries))
	in.mu.Unlock()
	dropped := map[int]bool{}
	for _, i := range order[:failing] {
		dropped[i] = true
	}
	kept := *batch
	kept.Entries = nil
	var failed []sqstypes.BatchResultErrorEntry
	for i, e := range batch.Entries {
		if dropped[i] {
			failed = append(failed, sqstypes.BatchResultErrorEntry{
				Id: e.Id, Code: aws.String("InternalError"), Message: aws.String("injected: entry not sent"), SenderFault: false})
			continue
		}
		kept.Entries = append(kept.Entries, e)
	}
	if len(kept.Entries) == 0 {
		return middleware.InitializeOutput{Result: &sqs.SendMessageBatchOutput{Failed: failed}}, middleware.Metadata{}, nil
	}
	args.Parameters = &kept
	out, md, err := next.HandleInitialize(ctx, args)
	if err != nil {
		return out, md, err
	}
	result, ok := out.Result.(*sqs.SendMessageBatchOutput)
	if !ok {
		return out, md, fmt.Errorf("faults: SendMessageBatch returned %T", out.Result)
	}
	result.Failed = append(result.Failed, failed...)
	return out, md, nil
}
