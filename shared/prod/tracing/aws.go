package tracing

import (
	"context"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// The AWS SDK spans are made by this small middleware rather than by the
// contrib otelaws module: that module is deprecated, and its successor
// (smithy-go's smithyoteltracing) is not served by the Go module proxy.

// Span attribute keys (OpenTelemetry semantic conventions).
const (
	attrRPCSystem      = "rpc.system"
	attrRPCService     = "rpc.service"
	attrRPCMethod      = "rpc.method"
	attrCloudRegion    = "cloud.region"
	attrRequestID      = "aws.request_id"
	attrHTTPStatus     = "http.response.status_code"
	attrTableNames     = "aws.dynamodb.table_names"
	attrMessagingSys   = "messaging.system"
	attrDestination    = "messaging.destination.name"
	attrBatchSize      = "messaging.batch.message_count"
	messagingSystemSQS = "aws_sqs"
)

// InstrumentAWS returns cfg with a span around every AWS API call made by
// clients built from it. Off, cfg is returned unchanged.
func (p *Provider) InstrumentAWS(cfg aws.Config) aws.Config {
	if !p.Enabled() {
		return cfg
	}
	// Clip: never append into a slice another config shares.
	cfg.APIOptions = append(slices.Clip(cfg.APIOptions), AWSMiddleware(p.TracerProvider()))
	return cfg
}

// AWSMiddleware adds to a client's stack a span per API call (retries
// included), named "<Service>.<Operation>" as X-Ray names AWS calls.
func AWSMiddleware(tp trace.TracerProvider) func(*middleware.Stack) error {
	tracer := tp.Tracer(instrumentationName)
	return func(stack *middleware.Stack) error {
		// After: the service metadata (service id, operation, region) is
		// set by the operation's own initialize middleware.
		return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("UpvestOTelSpan",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				service, operation := awsmiddleware.GetServiceID(ctx), awsmiddleware.GetOperationName(ctx)
				attrs := append([]attribute.KeyValue{
					attribute.String(attrRPCSystem, "aws-api"),
					attribute.String(attrRPCService, service),
					attribute.String(attrRPCMethod, operation),
					attribute.String(attrCloudRegion, awsmiddleware.GetRegion(ctx)),
				}, inputAttributes(in.Parameters)...)
				ctx, span := tracer.Start(ctx, service+"."+operation,
					trace.WithSpanKind(spanKind(service, operation)), trace.WithAttributes(attrs...))
				defer span.End()

				out, md, err := next.HandleInitialize(ctx, in)
				if id, ok := awsmiddleware.GetRequestIDMetadata(md); ok {
					span.SetAttributes(attribute.String(attrRequestID, id))
				}
				if resp, ok := awsmiddleware.GetRawResponse(md).(*smithyhttp.Response); ok && resp != nil {
					span.SetAttributes(attribute.Int(attrHTTPStatus, resp.StatusCode))
				}
				if err != nil {
					span.RecordError(err)
					span.SetStatus(codes.Error, err.Error())
				}
				return out, md, err
			}), middleware.After)
	}
}

// spanKind: sending to a queue is a producer; every other call a client.
func spanKind(service, operation string) trace.SpanKind {
	if service == "SQS" && (operation == "SendMessage" || operation == "SendMessageBatch") {
		return trace.SpanKindProducer
	}
	return trace.SpanKindClient
}

// inputAttributes names the table or queue of the calls this project makes.
func inputAttributes(params any) []attribute.KeyValue {
	table := func(name *string) []attribute.KeyValue {
		return []attribute.KeyValue{attribute.StringSlice(attrTableNames, []string{aws.ToString(name)})}
	}
	queue := func(url *string, extra ...attribute.KeyValue) []attribute.KeyValue {
		return append([]attribute.KeyValue{
			attribute.String(attrMessagingSys, messagingSystemSQS), attribute.String(attrDestination, aws.ToString(url)),
		}, extra...)
	}
	switch in := params.(type) {
	case *dynamodb.PutItemInput:
		return table(in.TableName)
	case *dynamodb.GetItemInput:
		return table(in.TableName)
	case *dynamodb.UpdateItemInput:
		return table(in.TableName)
	case *dynamodb.DeleteItemInput:
		return table(in.TableName)
	case *dynamodb.QueryInput:
		return table(in.TableName)
	case *dynamodb.ScanInput:
		return table(in.TableName)
	case *sqs.SendMessageInput:
		return queue(in.QueueUrl)
	case *sqs.SendMessageBatchInput:
		return queue(in.QueueUrl, attribute.Int(attrBatchSize, len(in.Entries)))
	case *sqs.ReceiveMessageInput:
		return queue(in.QueueUrl)
	case *sqs.DeleteMessageBatchInput:
		return queue(in.QueueUrl, attribute.Int(attrBatchSize, len(in.Entries)))
	}
	return nil
}
