package perf_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	upvest "github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/shared/local/apigwhttp"
	"github.com/upvest-webhooks/upvest-webhooks/shared/local/localaws/awstest"
	"github.com/upvest-webhooks/upvest-webhooks/shared/local/sqspoller"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/app/workerapp"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/config"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/cost"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/fanout"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/ingest"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/ledger"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/observability"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/schema"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/signature"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/worker"
	"github.com/upvest-webhooks/upvest-webhooks/shared/testkit/awscount"
)

// Memory of the deployed functions (infra/stack), for GB-seconds.
const (
	ingestMemoryGB = 0.5
	workerMemoryGB = 0.25
)

// pipeline is the whole local pipeline of `make run`: the ingest handler
// behind a real HTTP endpoint, a poller and worker per domain, with every
// AWS call, log byte and handler run of ingest and of the workers counted
// apart.
type pipeline struct {
	url    string
	signer signer
	client *http.Client

	ingestCalls, workerCalls *awscount.Counter
	ingestLogs, workerLogs   countingWriter
	ingestRuns, workerRuns   latencies // handler durations (Lambda duration)
	requests                 latencies // round trips as the sender sees them
	processed                atomic.Int64
	redeliveries             atomic.Int64 // requests sent again after a 5xx

	queues         *sqs.Client
	queueURLs      map[upvest.Domain]string
	handling       atomic.Int64 // batches inside a worker right now
	failedReceives lineCounter  // the pollers' failed receives: what they took is back only after the visibility timeout

	stop func()
}

// Give each pipeline queues of its own: stopping one cancels its pollers'
// long polls, and fauxqs may still hand a cancelled poll a message, which
// then stays invisible until its visibility timeout and would stall the next
// pipeline on the same queues for that long.
func startPipeline(b *testing.B, env awstest.Environment, s signer) *pipeline {
	b.Helper()
	p := &pipeline{signer: s, queues: env.SQS, queueURLs: env.QueueURLs, ingestCalls: awscount.New(), workerCalls: awscount.New(),
		client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
	ingestCfg, workerCfg := p.ingestCalls.Attach(env.Config), p.workerCalls.Attach(env.Config)

	service := ingest.New(signature.NewVerifier(s.keys(), signature.Options{}), nil,
		ledger.NewDynamo(dynamodb.NewFromConfig(ingestCfg), env.LedgerTable, ledger.WithRetention(400*24*time.Hour)),
		fanout.NewSQS(sqs.NewFromConfig(ingestCfg), env.QueueURLs),
		observability.NewLogger(&p.ingestLogs, observability.ServiceIngest),
		observability.NewMetrics(&p.ingestLogs, observability.ServiceIngest),
		ingest.Options{PublicPath: "/webhooks"})
	timed := func(ctx context.Context, req lambdaevents.APIGatewayV2HTTPRequest) (lambdaevents.APIGatewayV2HTTPResponse, error) {
		start := time.Now()
		defer func() { p.ingestRuns.add(time.Since(start)) }()
		return service.Handle(ctx, req)
	}
	server := httptest.NewServer(apigwhttp.Handler(timed, apigwhttp.WithRouteKey("POST /webhooks")))
	p.url = server.URL + "/webhooks"

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	queues := sqs.NewFromConfig(workerCfg)
	for _, d := range upvest.Domains() {
		w := workerapp.New(config.Worker{Domain: d, StateTable: env.StateTables[d], LedgerTable: env.LedgerTable}, workerCfg, &p.workerLogs)
		poller := &sqspoller.Poller{Client: queues, QueueURL: env.QueueURLs[d], BatchWindow: schema.DefaultBatchWindow,
			Logger: observability.NewLogger(&p.failedReceives, "poller-"+string(d)),
			Handler: func(ctx context.Context, batch lambdaevents.SQSEvent) (lambdaevents.SQSEventResponse, error) {
				start := time.Now()
				p.handling.Add(1)
				resp, err := w.Handle(ctx, batch)
				p.handling.Add(-1)
				p.workerRuns.add(time.Since(start))
				if err == nil {
					p.processed.Add(int64(len(batch.Records) - len(resp.BatchItemFailures)))
				}
				return resp, err
			}}
		wg.Go(func() {
			if err := poller.Run(ctx); err != nil {
				b.Errorf("poller %s: %v", d, err)
			}
		})
	}
	p.stop = func() {
		cancel()
		wg.Wait()
		server.Close()
	}
	b.Cleanup(p.stop)
	return p
}

// post sends one request the way Upvest does: a 5xx answer (a dependency
// that timed out on the loaded emulators) is redelivered, a few times, and so
// is a 401 for a signature that aged in the queue of a loaded machine.
// A redelivery is signed afresh.
func (p *pipeline) post(r signedRequest) error {
	var err error
	for attempt := range 5 {
		if attempt > 0 {
			p.redeliveries.Add(1)
			time.Sleep(time.Duration(attempt) * 200 * time.Millisecond)
			if r, err = p.sign(r.body); err != nil {
				return err
			}
		}
		var status int
		// A 5xx is a dependency that timed out; a 401 here is a signature
		// that aged past its limit while a loaded machine queued the request
		// (they are signed before the clock starts): both are sent again,
		// signed afresh, as Upvest would.
		if status, err = p.postOnce(r); err == nil || (status < 500 && status != http.StatusUnauthorized) {
			return err
		}
	}
	return err
}

// signedRequest is a request body with the headers Upvest would send it with.
type signedRequest struct {
	body   []byte
	header http.Header
}

// sign signs a body as Upvest does, now.
func (p *pipeline) sign(body []byte) (signedRequest, error) { return p.signer.sign(body) }

// sign signs a body as Upvest does, now.
func (s signer) sign(body []byte) (signedRequest, error) {
	header := http.Header{"Content-Type": {"application/json"}}
	signed, err := signature.Sign(signatureRequest(signedRequest{body: body, header: header}), s.key, s.kid, time.Now(), "")
	if err != nil {
		return signedRequest{}, err
	}
	for name, values := range signed {
		header[name] = values
	}
	return signedRequest{body: body, header: header}, nil
}

// signatureRequest is r as the signature package (and so ingest's verifier) sees it.
func signatureRequest(r signedRequest) signature.Request {
	return signature.Request{Method: http.MethodPost, Path: "/webhooks", Header: r.header, Body: r.body}
}

// postOnce sends one signed request, and records its round trip.
func (p *pipeline) postOnce(r signedRequest) (int, error) {
	req, err := http.NewRequest(http.MethodPost, p.url, bytes.NewReader(r.body))
	if err != nil {
		return 0, err
	}
	req.Header = r.header.Clone()
	start := time.Now()
	resp, err := p.client.Do(req)
	if err != nil {
		return 0, err
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	p.requests.add(time.Since(start))
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, fmt.Errorf("ingest answered %d: %s", resp.StatusCode, answer)
	}
	return resp.StatusCode, nil
}

// run sends the events in requests of perRequest, inFlight at a time, and
// waits until the workers have applied them all; it returns the wall time
// from the first request to the last event applied. The requests are signed
// before the clock starts, as Upvest signs them on its own machines: the
// sender's signing would otherwise take CPU from the emulators, which the
// ceiling's loop does not.
func (p *pipeline) run(evs []event, perRequest, inFlight int) (time.Duration, error) {
	requests, err := p.signAll(evs, perRequest)
	if err != nil {
		return 0, err
	}
	return p.send(requests, len(evs), inFlight)
}

// signAll signs the events as requests of perRequest each.
func (p *pipeline) signAll(evs []event, perRequest int) ([]signedRequest, error) {
	var requests []signedRequest
	for _, c := range chunks(evs, perRequest) {
		r, err := p.sign(envelope(c))
		if err != nil {
			return nil, err
		}
		requests = append(requests, r)
	}
	return requests, nil
}

// send posts signed requests holding events events in all, inFlight at a
// time, and returns once the workers have applied them all.
func (p *pipeline) send(requests []signedRequest, events, inFlight int) (time.Duration, error) {
	start, before := time.Now(), p.processed.Load()
	if _, err := runConcurrently(requests, inFlight, p.post); err != nil {
		return 0, err
	}
	deadline := time.Now().Add(3 * time.Minute)
	lastCount, lastProgress, reported := p.processed.Load(), time.Now(), false
	for p.processed.Load()-before < int64(events) {
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("workers applied %d of %d events within 3 minutes", p.processed.Load()-before, events)
		}
		if n := p.processed.Load(); n != lastCount {
			lastCount, lastProgress, reported = n, time.Now(), false
		} else if time.Since(lastProgress) > 3*time.Second && !reported {
			reported = true
			fmt.Printf("pipeline: no event applied for 3 s, %d of %d to go; %d batches in a worker; %d failed receives so far; queues: %s\n",
				int64(events)-(n-before), events, p.handling.Load(), p.failedReceives.n.Load(), p.queueDepths())
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Since(start), nil
}

// queueDepths lists the queues holding messages, visible and in flight: why
// the workers wait, when they do.
func (p *pipeline) queueDepths() string {
	var out []string
	for d, url := range p.queueURLs {
		a, err := p.queues.GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url),
			AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages, sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible}})
		if err != nil {
			return err.Error()
		}
		visible, inFlight := a.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessages)], a.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible)]
		if visible != "0" || inFlight != "0" {
			out = append(out, fmt.Sprintf("%s %s visible %s in flight", d, visible, inFlight))
		}
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}

func chunks[T any](items []T, n int) [][]T {
	var out [][]T
	for len(items) > n {
		out = append(out, items[:n])
		items = items[n:]
	}
	return append(out, items)
}

// CPU figures for the Lambda duration model: the signature check (the
// signature package's BenchmarkVerify), ingest's work per event
// (BenchmarkIngestCPUPerEvent, rounded up) and a worker's per message.
const (
	signatureCPU       = 3500 * time.Microsecond
	ingestCPUPerEvent  = 50 * time.Microsecond
	workerCPUPerRecord = 100 * time.Microsecond
	ingestConcurrency  = 16 // ingest's default INGEST_CONCURRENCY and fan-out batches in flight
)

// usage is what ingest and the workers spent per event in a run. Lambda
// GB-seconds are modelled from the counted calls with cost.AWSLatency;
// measured is what the local handlers took (an upper bound).
func (p *pipeline) usage(events, requests int) (ingestUse, workerUse cost.Usage, ingestCalls, workerCalls awscount.Snapshot, measuredGBs float64) {
	n := float64(events)
	ingestCalls, workerCalls = p.ingestCalls.Snapshot(), p.workerCalls.Snapshot()
	measuredGBs = (billedSeconds(&p.ingestRuns)*ingestMemoryGB + billedSeconds(&p.workerRuns)*workerMemoryGB) / n

	perRequest := n / float64(requests)
	ingestRun := cost.AWSLatency.Invocation(signatureCPU+time.Duration(perRequest)*ingestCPUPerEvent,
		cost.Rounds(float64(ingestCalls.Requests("DynamoDB"))/float64(requests), ingestConcurrency),
		cost.Rounds(float64(ingestCalls.Requests("SQS"))/float64(requests), ingestConcurrency))
	batches := float64(max(len(p.workerRuns.all), 1))
	perBatch := n / batches
	workerRun := cost.AWSLatency.Invocation(time.Duration(perBatch)*workerCPUPerRecord,
		cost.Rounds(perBatch, worker.Concurrency)*math.Ceil(float64(workerCalls.Requests("DynamoDB"))/n), 0)

	ingestUse = cost.Usage{
		HTTPRequests:      float64(requests) / n,
		LambdaInvocations: float64(requests) / n,
		LambdaGBSeconds:   billed(ingestRun) * ingestMemoryGB / perRequest,
		SQSRequests:       float64(ingestCalls.Requests("SQS")) / n,
		WriteUnits:        ingestCalls.WriteUnits() / n,
		ReadUnits:         ingestCalls.ReadUnits() / n,
		LogBytes:          float64(p.ingestLogs.n.Load())/n + float64(requests)/n*cost.LambdaPlatformLogBytes,
	}
	workerUse = cost.Usage{
		LambdaInvocations: batches / n,
		LambdaGBSeconds:   billed(workerRun) * workerMemoryGB / perBatch,
		SQSRequests:       float64(workerCalls.Requests("SQS")) / n,
		WriteUnits:        workerCalls.WriteUnits() / n,
		ReadUnits:         workerCalls.ReadUnits() / n,
		LogBytes:          float64(p.workerLogs.n.Load())/n + batches/n*cost.LambdaPlatformLogBytes,
	}
	return
}

// billed is a duration in seconds rounded up to the millisecond, as Lambda bills.
func billed(d time.Duration) float64 {
	return math.Ceil(float64(d)/float64(time.Millisecond)) / 1000
}

// billedSeconds sums durations rounded up to the millisecond, as Lambda bills.
func billedSeconds(l *latencies) float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	total := 0.0
	for _, d := range l.all {
		total += math.Ceil(float64(d)/float64(time.Millisecond)) / 1000
	}
	return total
}

// ceiling drives the same emulators with the least work per event: one
// conditional put, a tenth of a SendMessageBatch, of a ReceiveMessage and of
// a DeleteMessageBatch, and one conditional update. Groups of ten go
// inFlight at a time, each group's puts and updates concurrently. It uses the
// dead-letter queues, which no worker polls.
// Its calls are counted by calls, as the pipeline's are (the counter's
// middleware asks DynamoDB for consumed capacity, so both sides pay for that).
// Its state row is the event's entity's (so a day's events update rows, as
// the pipeline's do) and carries the same index keys as the pipeline's: DynamoDB Local
// writes index entries synchronously and slowly (AWS does it apart from the
// write), so a ceiling without them would measure DynamoDB Local's index cost,
// not the pipeline's overhead.
// Each group first has its request's signature checked, as any receiver of
// Upvest's feed must (signature.Verifier, as ingest): the check's CPU, a P-521
// verification per request, comes out of what DynamoDB Local gets on a
// machine that runs both, so a ceiling without it would measure that, not the
// pipeline's overhead (on AWS, Lambda's CPU is not DynamoDB's).
func ceiling(ctx context.Context, env awstest.Environment, verifier *signature.Verifier, calls *awscount.Counter, requests []ceilingRequest, inFlight int) (time.Duration, error) {
	cfg := calls.Attach(env.Config)
	// On a machine loaded past its cores, DynamoDB Local times out waiting for
	// a lock now and then; the pipeline's sender redelivers such a request, so
	// the ceiling retries too, without the client-side retry quota.
	cfg.Retryer = func() aws.Retryer {
		return retry.NewStandard(func(o *retry.StandardOptions) { o.MaxAttempts, o.RateLimiter = 8, ratelimit.None })
	}
	db, queues := dynamodb.NewFromConfig(cfg), sqs.NewFromConfig(cfg)
	domains := upvest.Domains()
	var group atomic.Int64
	return runConcurrently(requests, inFlight, func(r ceilingRequest) error {
		if err := verifier.Verify(ctx, signatureRequest(r.signed)); err != nil {
			return fmt.Errorf("ceiling signature check: %w", err)
		}
		c := r.events
		d := domains[int(group.Add(1))%len(domains)]
		queue := env.DLQURLs[d]
		if err := each(c, func(e event) error { return ceilingPut(ctx, db, env.LedgerTable, e) }); err != nil {
			return fmt.Errorf("ceiling put: %w", err)
		}
		entries := make([]sqstypes.SendMessageBatchRequestEntry, len(c))
		for i, e := range c {
			entries[i] = sqstypes.SendMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), MessageBody: aws.String(string(e.Raw))}
		}
		if _, err := queues.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(queue), Entries: entries}); err != nil {
			return fmt.Errorf("ceiling send: %w", err)
		}
		got, err := queues.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(queue), MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
		if err != nil {
			return fmt.Errorf("ceiling receive: %w", err)
		}
		if len(got.Messages) > 0 {
			del := make([]sqstypes.DeleteMessageBatchRequestEntry, len(got.Messages))
			for i, m := range got.Messages {
				del[i] = sqstypes.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: m.ReceiptHandle}
			}
			if _, err := queues.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(queue), Entries: del}); err != nil {
				return fmt.Errorf("ceiling delete: %w", err)
			}
		}
		if err := each(c, func(e event) error { return ceilingUpdate(ctx, db, env.StateTables, e) }); err != nil {
			return fmt.Errorf("ceiling update: %w", err)
		}
		return nil
	})
}

// ceilingRequest is a group of ten events for the ceiling, in the request
// Upvest would send them in, signed before the clock starts (as the
// pipeline's requests are).
type ceilingRequest struct {
	signed signedRequest
	events []event
}

// signForCeiling groups events by ten and signs each group's request.
func signForCeiling(s signer, evs []event) ([]ceilingRequest, error) {
	var out []ceilingRequest
	for _, c := range chunks(evs, 10) {
		r, err := s.sign(envelope(c))
		if err != nil {
			return nil, err
		}
		out = append(out, ceilingRequest{signed: r, events: c})
	}
	return out, nil
}

// ceilingPut is the ceiling's ledger write: one conditional put of the event's bytes.
func ceilingPut(ctx context.Context, db *dynamodb.Client, table string, e event) error {
	_, err := db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(table),
		Item: map[string]ddbtypes.AttributeValue{
			schema.LedgerPK: &ddbtypes.AttributeValueMemberS{Value: "ceiling:" + e.ID},
			"body":          &ddbtypes.AttributeValueMemberB{Value: e.Raw},
		},
		ConditionExpression:      aws.String("attribute_not_exists(#id)"),
		ExpressionAttributeNames: map[string]string{"#id": schema.LedgerPK},
	})
	return err
}

// ceilingUpdate is the ceiling's state write: one only-if-newer update of the
// entity's row with the event's position and object and the row's index keys.
// It stores the event compacted, as the pipeline stores objects, so that the
// two sides write rows of like size.
func ceilingUpdate(ctx context.Context, db *dynamodb.Client, tables map[upvest.Domain]string, e event) error {
	route, keys, err := rowOf(e.Raw)
	if err != nil {
		return err
	}
	set := "SET #position = :position, #object = :object"
	names := map[string]string{"#position": schema.StatePosition, "#object": schema.StateObject}
	values := map[string]ddbtypes.AttributeValue{
		":position": &ddbtypes.AttributeValueMemberS{Value: route.Position},
		":object":   &ddbtypes.AttributeValueMemberS{Value: upvest.CompactJSON(e.Raw)},
	}
	for attr, v := range keys {
		set += fmt.Sprintf(", #%s = :%s", attr, attr)
		names["#"+attr], values[":"+attr] = attr, &ddbtypes.AttributeValueMemberS{Value: v}
	}
	_, err = db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(tables[route.Domain]),
		Key:                       map[string]ddbtypes.AttributeValue{schema.StatePK: &ddbtypes.AttributeValueMemberS{Value: "ceiling#" + route.EntityKey}},
		UpdateExpression:          aws.String(set),
		ConditionExpression:       aws.String("attribute_not_exists(#position) OR #position < :position"),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
	})
	var stale *ddbtypes.ConditionalCheckFailedException
	if errors.As(err, &stale) {
		return nil // an older event of the entity: as the pipeline's workers, change nothing
	}
	return err
}

// rowOf is the event's route (domain, entity key, position) and the index
// keys its state row carries (user_id, account_id, account_group_id).
func rowOf(raw []byte) (upvest.Route, map[string]string, error) {
	_, r, err := upvest.ClassifyRaw(raw)
	if err != nil {
		return r, nil, err
	}
	keys := map[string]string{}
	for attr, v := range map[string]string{schema.StateUserID: r.UserID, schema.StateAccountID: r.AccountID, schema.StateAccountGroupID: r.AccountGroupID} {
		if v != "" {
			keys[attr] = v
		}
	}
	return r, keys, nil
}

// each runs fn for every item concurrently and returns the errors joined.
func each[T any](items []T, fn func(T) error) error {
	errs := make([]error, len(items))
	var wg sync.WaitGroup
	for i, it := range items {
		wg.Go(func() { errs[i] = fn(it) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// lineCounter counts the log records that report a failed receive.
type lineCounter struct{ n atomic.Int64 }

func (c *lineCounter) Write(p []byte) (int, error) {
	if bytes.Contains(p, []byte("receive failed")) {
		c.n.Add(1)
	}
	return len(p), nil
}
