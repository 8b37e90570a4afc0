package rehearsal

import (
	"encoding/base64"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	streamtypes "github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// The events below are built as plain JSON in the shapes AWS documents and
// sends, not with aws-lambda-go's types, so that the binaries' decoding is
// what gets tested.

// apiGatewayV2Event is an HTTP API (payload format 2.0) request: header
// names lower case, repeated headers joined with commas, the body as text
// (API Gateway sends JSON bodies unencoded).
func apiGatewayV2Event(t testing.TB, routeKey string, headers map[string]string, body []byte, sourceIP string) []byte {
	t.Helper()
	method, path, ok := strings.Cut(routeKey, " ")
	if !ok {
		t.Fatalf("route key %q is not \"METHOD /path\"", routeKey)
	}
	now := time.Now().UTC()
	host := "a1b2c3d4e5.execute-api.eu-central-1.amazonaws.com"
	h := map[string]string{
		"content-length":    strconv.Itoa(len(body)),
		"host":              host,
		"user-agent":        "Upvest-Webhooks/1.0",
		"x-amzn-trace-id":   "Root=1-" + strconv.FormatInt(now.Unix(), 16) + "-0123456789abcdef01234567",
		"x-forwarded-for":   sourceIP,
		"x-forwarded-port":  "443",
		"x-forwarded-proto": "https",
	}
	for k, v := range headers {
		h[strings.ToLower(k)] = v
	}
	return mustJSON(t, map[string]any{
		"version":        "2.0",
		"routeKey":       routeKey,
		"rawPath":        path,
		"rawQueryString": "",
		"headers":        h,
		"requestContext": map[string]any{
			"accountId": "123456789012", "apiId": "a1b2c3d4e5", "domainName": host, "domainPrefix": "a1b2c3d4e5",
			"http": map[string]any{
				"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": sourceIP, "userAgent": h["user-agent"],
			},
			"requestId": "JKJaXmPLvHcESHA=", "routeKey": routeKey, "stage": "$default",
			"time": now.Format("02/Jan/2006:15:04:05 -0700"), "timeEpoch": now.UnixMilli(),
		},
		"body":            string(body),
		"isBase64Encoded": false,
	})
}

// sqsEvent is what the SQS event source mapping hands a function: the
// received messages as records, attribute values in camelCase.
func sqsEvent(t testing.TB, msgs []sqstypes.Message, queueARN, region string) []byte {
	t.Helper()
	records := make([]map[string]any, len(msgs))
	for i, m := range msgs {
		attrs := map[string]any{}
		for name, v := range m.MessageAttributes {
			a := map[string]any{"dataType": aws.ToString(v.DataType), "stringListValues": []string{}, "binaryListValues": []string{}}
			if v.StringValue != nil {
				a["stringValue"] = *v.StringValue
			}
			if v.BinaryValue != nil {
				a["binaryValue"] = base64.StdEncoding.EncodeToString(v.BinaryValue)
			}
			attrs[name] = a
		}
		rec := map[string]any{
			"messageId":         aws.ToString(m.MessageId),
			"receiptHandle":     aws.ToString(m.ReceiptHandle),
			"body":              aws.ToString(m.Body),
			"attributes":        m.Attributes, // the system attributes: ApproximateReceiveCount, SentTimestamp, ...
			"messageAttributes": attrs,
			"md5OfBody":         aws.ToString(m.MD5OfBody),
			"eventSource":       "aws:sqs",
			"eventSourceARN":    queueARN,
			"awsRegion":         region,
		}
		if m.MD5OfMessageAttributes != nil {
			rec["md5OfMessageAttributes"] = *m.MD5OfMessageAttributes
		}
		records[i] = rec
	}
	return mustJSON(t, map[string]any{"Records": records})
}

// dynamoDBEvent is what a DynamoDB stream event source mapping hands a
// function: stream records with attribute values in DynamoDB JSON.
func dynamoDBEvent(t testing.TB, records []streamtypes.Record, streamARN, region string) []byte {
	t.Helper()
	out := make([]map[string]any, len(records))
	for i, r := range records {
		d := r.Dynamodb
		ddb := map[string]any{
			"Keys":           attributeMap(t, d.Keys),
			"SequenceNumber": aws.ToString(d.SequenceNumber),
			"SizeBytes":      aws.ToInt64(d.SizeBytes),
			"StreamViewType": string(d.StreamViewType),
		}
		if d.ApproximateCreationDateTime != nil {
			ddb["ApproximateCreationDateTime"] = d.ApproximateCreationDateTime.Unix()
		}
		if d.NewImage != nil {
			ddb["NewImage"] = attributeMap(t, d.NewImage)
		}
		if d.OldImage != nil {
			ddb["OldImage"] = attributeMap(t, d.OldImage)
		}
		out[i] = map[string]any{
			"eventID":        aws.ToString(r.EventID),
			"eventName":      string(r.EventName),
			"eventVersion":   aws.ToString(r.EventVersion),
			"eventSource":    "aws:dynamodb",
			"awsRegion":      region,
			"dynamodb":       ddb,
			"eventSourceARN": streamARN,
		}
	}
	return mustJSON(t, map[string]any{"Records": out})
}

func attributeMap(t testing.TB, m map[string]streamtypes.AttributeValue) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = attributeValue(t, v)
	}
	return out
}

// attributeValue is DynamoDB JSON: {"S": "x"}, {"N": "1"}, {"M": {...}}, ...
func attributeValue(t testing.TB, v streamtypes.AttributeValue) map[string]any {
	switch v := v.(type) {
	case *streamtypes.AttributeValueMemberS:
		return map[string]any{"S": v.Value}
	case *streamtypes.AttributeValueMemberN:
		return map[string]any{"N": v.Value}
	case *streamtypes.AttributeValueMemberB:
		return map[string]any{"B": base64.StdEncoding.EncodeToString(v.Value)}
	case *streamtypes.AttributeValueMemberBOOL:
		return map[string]any{"BOOL": v.Value}
	case *streamtypes.AttributeValueMemberNULL:
		return map[string]any{"NULL": v.Value}
	case *streamtypes.AttributeValueMemberSS:
		return map[string]any{"SS": v.Value}
	case *streamtypes.AttributeValueMemberNS:
		return map[string]any{"NS": v.Value}
	case *streamtypes.AttributeValueMemberBS:
		bs := make([]string, len(v.Value))
		for i, b := range v.Value {
			bs[i] = base64.StdEncoding.EncodeToString(b)
		}
		return map[string]any{"BS": bs}
	case *streamtypes.AttributeValueMemberL:
		l := make([]any, len(v.Value))
		for i, e := range v.Value {
			l[i] = attributeValue(t, e)
		}
		return map[string]any{"L": l}
	case *streamtypes.AttributeValueMemberM:
		return map[string]any{"M": attributeMap(t, v.Value)}
	default:
		t.Fatalf("stream record attribute of unknown type %T", v)
		return nil
	}
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("encode event: %v", err)
	}
	return b
}
