// Package faults injects failures at the AWS SDK boundary of the local
// pipeline, for `make chaos`: API errors, throttling and connection errors on
// single attempts, errors that outlast the SDK's retryer, timeouts after the
// call took effect, partial SendMessageBatch failures, a twin racing each
// conditional write, and crashes of the whole process at named points. It is
// wired into the local run only (functions/local), and only when
// UPVEST_FAULTS is set; the Lambdas never load it.
//
// Where each kind is injected is where AWS makes it happen:
//   - error, throttle, conn: on one HTTP attempt, inside the SDK's retry loop
//     (a wrapped HTTP client answers 500, a throttling error, or fails to
//     connect). The standard retryer sees them as it sees AWS's, and retries
//     with backoff; the caller sees one only when all attempts drew one.
//   - final: every attempt of the call answers 500, so the retryer gives up
//     and the caller sees the error: an outage longer than the retries.
//   - timeout: the call takes effect, then the caller's deadline for the
//     whole call passes before the answer arrives. The SDK never retries a
//     call whose context ended, so the caller sees it, as a Lambda does when
//     its own deadline or a per-call context timeout fires after DynamoDB or
//     SQS applied the request.
package faults

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go/middleware"
)

// Environment of the local run.
const (
	// EnvFaults enables injection, e.g.
	// "error=0.02,throttle=0.02,timeout=0.02,partial=0.1,race=0.05,crash=worker-after-state@300".
	EnvFaults = "UPVEST_FAULTS"
	// EnvFaultsSeed seeds the random draws (decimal); unset or 0 picks one.
	EnvFaultsSeed = "UPVEST_FAULTS_SEED"
	// EnvFaultsLog names a file that gets one line per injected fault (its
	// kind), appended at once, so that counts survive a crash of the process.
	EnvFaultsLog = "UPVEST_FAULTS_LOG"
)

// Kind names one kind of fault.
type Kind string

const (
	APIError Kind = "error"    // one attempt answers 500 InternalServerError; the SDK retries
	Throttle Kind = "throttle" // one attempt answers a throttling error; the SDK retries
	Conn     Kind = "conn"     // one attempt cannot connect (nothing sent); the SDK retries
	Final    Kind = "final"    // every attempt answers 500: the caller sees it after the retries
	Timeout  Kind = "timeout"  // the call takes effect, then its whole-call deadline passes
	Partial  Kind = "partial"  // some SendMessageBatch entries fail, the rest are sent
	Race     Kind = "race"     // a twin of a conditional write runs at the same time
	Crash    Kind = "crash"    // the process exits on the spot at a crash point
)

// Crash points: where a process dies with CrashExitCode.
const (
	// IngestAfterClaim: ingest has written its ledger claims and is about to
	// fan out (the first SendMessageBatch call).
	IngestAfterClaim = "ingest-after-claim"
	// WorkerAfterState: a worker has applied a batch (its state writes took
	// effect; the ledger gets no outcome) and is about to acknowledge it (the
	// DeleteMessageBatch call): SQS delivers the batch again, a no-op.
	WorkerAfterState = "worker-after-state"
)

// CrashExitCode is the exit code of a process killed at a crash point.
const CrashExitCode = 86

// Config is what to inject. Rates are probabilities per HTTP attempt for
// error, throttle and conn, and per SDK call for the others.
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
	for _, k := range rateKinds {
		if r := c.Rates[k]; r > 0 {
			parts = append(parts, fmt.Sprintf("%s=%g", k, r))
		}
	}
	if c.CrashPoint != "" {
		parts = append(parts, fmt.Sprintf("%s=%s@%d", Crash, c.CrashPoint, c.CrashAfter))
	}
	return strings.Join(parts, ",")
}

// rateKinds are the kinds injected at a rate, in String's order.
var rateKinds = []Kind{APIError, Throttle, Conn, Final, Timeout, Partial, Race}

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
		case APIError, Throttle, Conn, Final, Timeout, Partial, Race:
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
	cfg    Config
	record func(Kind) // called before a fault takes effect
	exit   func(code int)
	draw   func(Kind) bool

	// twin makes the racing twin of a conditional write, on clients without
	// faults (a stack runs one call at a time, so the twin needs its own).
	twin *dynamodb.Client

	mu      sync.Mutex
	rng     *rand.Rand
	seed    uint64
	reached int // times the crash point was reached
}

// Options configure an Injector.
type Options struct {
	// Record is told each fault as it is injected (nil: not recorded).
	Record func(Kind)
	// Seed makes the choices repeatable; 0 picks one at random (see Seed).
	Seed uint64
	// Exit ends the process at a crash point (default os.Exit).
	Exit func(code int)
	// Draw, when set, decides instead of the seeded draws whether a fault of
	// a kind is injected at this point (tests script faults with it).
	Draw func(Kind) bool
}

// New returns an Injector.
func New(cfg Config, opts Options) *Injector {
	seed := opts.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	in := &Injector{cfg: cfg, record: opts.Record, exit: opts.Exit, draw: opts.Draw,
		seed: seed, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
	if in.record == nil {
		in.record = func(Kind) {}
	}
	if in.exit == nil {
		in.exit = os.Exit
	}
	return in
}

// Seed is the seed of the injector's draws, to replay them.
func (in *Injector) Seed() uint64 { return in.seed }

// FromEnv builds an Injector from UPVEST_FAULTS, UPVEST_FAULTS_SEED and
// UPVEST_FAULTS_LOG; nil when UPVEST_FAULTS is unset or injects nothing.
// close releases the log file.
func FromEnv(getenv func(string) string) (in *Injector, close func() error, err error) {
	cfg, err := Parse(getenv(EnvFaults))
	if err != nil || !cfg.Enabled() {
		return nil, func() error { return nil }, err
	}
	var opts Options
	if v := getenv(EnvFaultsSeed); v != "" {
		if opts.Seed, err = strconv.ParseUint(v, 10, 64); err != nil {
			return nil, nil, fmt.Errorf("%s=%q: not a decimal seed", EnvFaultsSeed, v)
		}
	}
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
	base := cfg.HTTPClient
	if base == nil {
		base = awshttp.NewBuildableClient()
	}
	// Per attempt, below the SDK's retry middleware: what it draws, the
	// retryer sees as an answer (or a failure to connect) from AWS.
	cfg.HTTPClient = &transport{in: in, next: base}
	cfg.APIOptions = append(slices.Clone(cfg.APIOptions), func(stack *middleware.Stack) error {
		// Last of the initialize step, above the retry loop: the service and
		// operation are known, and what this skips or repeats is the whole call.
		return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("InjectFaults", in.handle), middleware.After)
	})
}

func (in *Injector) chance(k Kind) bool {
	if in.draw != nil {
		return in.draw(k)
	}
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
	switch params.(type) {
	case *sqs.SendMessageBatchInput:
		here = in.cfg.CrashPoint == IngestAfterClaim
	case *sqs.DeleteMessageBatchInput:
		here = in.cfg.CrashPoint == WorkerAfterState
	}
	if !here {
		return false
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	in.reached++
	return in.reached == in.cfg.CrashAfter
}

// injected reports whether the call is one faults are injected into.
func injected(ctx context.Context) bool {
	service := awsmiddleware.GetServiceID(ctx)
	return (service == dynamodb.ServiceID || service == sqs.ServiceID) && dataPlane[awsmiddleware.GetOperationName(ctx)]
}

// finalKey marks the context of a call whose every attempt fails.
type finalKey struct{}

func (in *Injector) handle(ctx context.Context, args middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
	if !injected(ctx) {
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
	if in.chance(Final) {
		in.record(Final)
		return next.HandleInitialize(context.WithValue(ctx, finalKey{}, true), args)
	}
	if in.chance(Timeout) {
		in.record(Timeout)
		_, _, _ = next.HandleInitialize(ctx, args) // it happened; the caller never hears
		return middleware.InitializeOutput{}, middleware.Metadata{}, fmt.Errorf("injected: answer lost: %w", ErrInjectedTimeout)
	}
	return next.HandleInitialize(ctx, args)
}

// transport is the HTTP client of the SDK's calls: each attempt may draw an
// error, a throttle or a failure to connect, as the retryer would meet them.
type transport struct {
	in   *Injector
	next aws.HTTPClient
}

func (t *transport) Do(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	if !injected(ctx) {
		return t.next.Do(req)
	}
	service := awsmiddleware.GetServiceID(ctx)
	switch {
	case ctx.Value(finalKey{}) != nil: // recorded once, as final, above the retries
		return errorResponse(req, http.StatusInternalServerError, serverErrorCode(service), "injected: internal server error, on every attempt"), nil
	case t.in.chance(Throttle):
		t.in.record(Throttle)
		return errorResponse(req, http.StatusBadRequest, throttleCode(service), "injected: rate exceeded"), nil
	case t.in.chance(APIError):
		t.in.record(APIError)
		return errorResponse(req, http.StatusInternalServerError, serverErrorCode(service), "injected: internal server error"), nil
	case t.in.chance(Conn):
		t.in.record(Conn)
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: &os.SyscallError{Syscall: "connect", Err: syscall.ECONNREFUSED}}
	}
	return t.next.Do(req)
}

// errorResponse is an error answer in the AWS JSON 1.0 protocol both
// DynamoDB and SQS speak, deserialized by the SDK like a real one.
func errorResponse(req *http.Request, status int, code, msg string) *http.Response {
	if req.Body != nil {
		_, _ = io.Copy(io.Discard, req.Body)
		_ = req.Body.Close()
	}
	body := fmt.Sprintf(`{"__type":%q,"message":%q}`, code, msg)
	return &http.Response{
		Status: fmt.Sprintf("%d %s", status, http.StatusText(status)), StatusCode: status,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{"Content-Type": {"application/x-amz-json-1.0"}, "X-Amzn-Errortype": {code}},
		Body:   io.NopCloser(strings.NewReader(body)), ContentLength: int64(len(body)), Request: req,
	}
}

func serverErrorCode(service string) string {
	if service == dynamodb.ServiceID {
		return "InternalServerError"
	}
	return "InternalError"
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
	return "RequestThrottled"
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
