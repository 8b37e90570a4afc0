package streams

import (
	"fmt"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	streamtypes "github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"
)

// record is one stream record as Decode reads it, whichever way it came:
// from Lambda (fromLambda) or from the DynamoDB Streams API (fromStreams).
// Its images are the SDK's DynamoDB attribute values, so that attributevalue
// decodes them into state.Row.
type record struct {
	EventID        string
	EventName      string
	SourceARN      string
	SequenceNumber string
	At             time.Time
	Keys           map[string]types.AttributeValue
	OldImage       map[string]types.AttributeValue
	NewImage       map[string]types.AttributeValue
}

// fromLambda reads a record Lambda delivered. Its identity (event id,
// sequence number) is filled in even when an image cannot be converted, so
// that the failure can still be reported for this record.
func fromLambda(r events.DynamoDBEventRecord) (record, error) {
	out := record{
		EventID: r.EventID, EventName: r.EventName, SourceARN: r.EventSourceArn,
		SequenceNumber: r.Change.SequenceNumber, At: r.Change.ApproximateCreationDateTime.UTC(),
	}
	var err error
	if out.Keys, err = sdkImage(r.Change.Keys); err != nil {
		return out, fmt.Errorf("record %s keys: %w", out.SequenceNumber, err)
	}
	if out.OldImage, err = sdkImage(r.Change.OldImage); err != nil {
		return out, fmt.Errorf("record %s old image: %w", out.SequenceNumber, err)
	}
	if out.NewImage, err = sdkImage(r.Change.NewImage); err != nil {
		return out, fmt.Errorf("record %s new image: %w", out.SequenceNumber, err)
	}
	return out, nil
}

// fromStreams reads a record of the DynamoDB Streams API; the SDK converts
// its stream attribute values to DynamoDB ones.
func fromStreams(streamARN string, r streamtypes.Record) (record, error) {
	out := record{EventID: aws.ToString(r.EventID), EventName: string(r.EventName), SourceARN: streamARN}
	sr := r.Dynamodb
	if sr == nil {
		return out, nil
	}
	out.SequenceNumber = aws.ToString(sr.SequenceNumber)
	if sr.ApproximateCreationDateTime != nil {
		// Lambda delivers it in whole seconds; so does the Streams API, as a time.
		out.At = sr.ApproximateCreationDateTime.UTC()
	}
	var err error
	if out.Keys, err = attributevalue.FromDynamoDBStreamsMap(sr.Keys); err != nil {
		return out, fmt.Errorf("record %s keys: %w", out.SequenceNumber, err)
	}
	if out.OldImage, err = attributevalue.FromDynamoDBStreamsMap(sr.OldImage); err != nil {
		return out, fmt.Errorf("record %s old image: %w", out.SequenceNumber, err)
	}
	if out.NewImage, err = attributevalue.FromDynamoDBStreamsMap(sr.NewImage); err != nil {
		return out, fmt.Errorf("record %s new image: %w", out.SequenceNumber, err)
	}
	return out, nil
}

// sdkImage converts an image as Lambda delivers it to the SDK's attribute
// values: the one place that knows aws-lambda-go's attribute type.
func sdkImage(img map[string]events.DynamoDBAttributeValue) (map[string]types.AttributeValue, error) {
	if img == nil {
		return nil, nil
	}
	out := make(map[string]types.AttributeValue, len(img))
	for name, v := range img {
		av, err := sdkValue(v)
		if err != nil {
			return nil, fmt.Errorf("attribute %q: %w", name, err)
		}
		out[name] = av
	}
	return out, nil
}

func sdkValue(v events.DynamoDBAttributeValue) (types.AttributeValue, error) {
	switch v.DataType() {
	case events.DataTypeString:
		return &types.AttributeValueMemberS{Value: v.String()}, nil
	case events.DataTypeNumber:
		return &types.AttributeValueMemberN{Value: v.Number()}, nil
	case events.DataTypeBinary:
		return &types.AttributeValueMemberB{Value: v.Binary()}, nil
	case events.DataTypeBoolean:
		return &types.AttributeValueMemberBOOL{Value: v.Boolean()}, nil
	case events.DataTypeNull:
		return &types.AttributeValueMemberNULL{Value: true}, nil
	case events.DataTypeStringSet:
		return &types.AttributeValueMemberSS{Value: v.StringSet()}, nil
	case events.DataTypeNumberSet:
		return &types.AttributeValueMemberNS{Value: v.NumberSet()}, nil
	case events.DataTypeBinarySet:
		return &types.AttributeValueMemberBS{Value: v.BinarySet()}, nil
	case events.DataTypeList:
		list := make([]types.AttributeValue, len(v.List()))
		for i, item := range v.List() {
			av, err := sdkValue(item)
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			list[i] = av
		}
		return &types.AttributeValueMemberL{Value: list}, nil
	case events.DataTypeMap:
		m, err := sdkImage(v.Map())
		if err != nil {
			return nil, err
		}
		return &types.AttributeValueMemberM{Value: m}, nil
	default:
		return nil, fmt.Errorf("unsupported attribute type %v", v.DataType())
	}
}
