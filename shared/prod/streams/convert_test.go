package streams

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"
)

// A record read through the Streams API must read exactly as the record
// Lambda delivers for it, so that Decode sees the same input in both places.
func TestStreamsRecordReadsAsLambdaRecord(t *testing.T) {
	arn := "arn:aws:dynamodb:eu-central-1:123456789012:table/upvest-state-orders/stream/2026-01-01T00:00:00.000"
	in := types.Record{
		AwsRegion:    aws.String("eu-central-1"),
		EventID:      aws.String("c4ca4238a0b923820dcc509a6f75849b"),
		EventName:    types.OperationTypeModify,
		EventSource:  aws.String("aws:dynamodb"),
		EventVersion: aws.String("1.1"),
		UserIdentity: &types.Identity{Type: aws.String("Service"), PrincipalId: aws.String("dynamodb.amazonaws.com")},
		Dynamodb: &types.StreamRecord{
			ApproximateCreationDateTime: aws.Time(time.Unix(1772356801, 0)),
			Keys:                        map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "ORDER#1"}},
			OldImage:                    map[string]types.AttributeValue{"version": &types.AttributeValueMemberN{Value: "1"}},
			NewImage: map[string]types.AttributeValue{
				"s":       &types.AttributeValueMemberS{Value: "x"},
				"version": &types.AttributeValueMemberN{Value: "2"},
				"b":       &types.AttributeValueMemberB{Value: []byte("hi")},
				"bool":    &types.AttributeValueMemberBOOL{Value: true},
				"null":    &types.AttributeValueMemberNULL{Value: true},
				"ss":      &types.AttributeValueMemberSS{Value: []string{"a", "b"}},
				"ns":      &types.AttributeValueMemberNS{Value: []string{"1", "2"}},
				"bs":      &types.AttributeValueMemberBS{Value: [][]byte{[]byte("a")}},
				"l":       &types.AttributeValueMemberL{Value: []types.AttributeValue{&types.AttributeValueMemberS{Value: "i"}}},
				"m": &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{
					"inner": &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{"status": &types.AttributeValueMemberS{Value: "FILLED"}}},
				}},
			},
			SequenceNumber: aws.String("4421584600000000017450439092"),
			SizeBytes:      aws.Int64(321),
			StreamViewType: types.StreamViewTypeNewAndOldImages,
		},
	}
	// The same record as Lambda's DynamoDB event source delivers it.
	lambdaJSON := `{
	  "eventID": "c4ca4238a0b923820dcc509a6f75849b", "eventName": "MODIFY", "eventVersion": "1.1",
	  "eventSource": "aws:dynamodb", "awsRegion": "eu-central-1", "eventSourceARN": "` + arn + `",
	  "userIdentity": {"type": "Service", "principalId": "dynamodb.amazonaws.com"},
	  "dynamodb": {
	    "ApproximateCreationDateTime": 1772356801,
	    "Keys": {"pk": {"S": "ORDER#1"}},
	    "OldImage": {"version": {"N": "1"}},
	    "NewImage": {
	      "s": {"S": "x"}, "version": {"N": "2"}, "b": {"B": "aGk="}, "bool": {"BOOL": true}, "null": {"NULL": true},
	      "ss": {"SS": ["a", "b"]}, "ns": {"NS": ["1", "2"]}, "bs": {"BS": ["YQ=="]}, "l": {"L": [{"S": "i"}]},
	      "m": {"M": {"inner": {"M": {"status": {"S": "FILLED"}}}}}
	    },
	    "SequenceNumber": "4421584600000000017450439092", "SizeBytes": 321, "StreamViewType": "NEW_AND_OLD_IMAGES"
	  }
	}`
	var delivered events.DynamoDBEventRecord
	if err := json.Unmarshal([]byte(lambdaJSON), &delivered); err != nil {
		t.Fatal(err)
	}
	want, err := fromLambda(delivered)
	if err != nil {
		t.Fatal(err)
	}
	got, err := fromStreams(arn, in)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Streams API record reads\n%#v\nLambda's reads\n%#v", got, want)
	}
	c, err := decode(got)
	if err != nil {
		t.Fatal(err)
	}
	if c.Key != "ORDER#1" || c.OldVersion != 1 || c.NewVersion != 2 || !c.At.Equal(time.Unix(1772356801, 0)) || c.Table != "upvest-state-orders" {
		t.Errorf("decoded %+v", c)
	}
}

func TestFromStreamsRejectsUnknownAttributeType(t *testing.T) {
	in := types.Record{Dynamodb: &types.StreamRecord{SequenceNumber: aws.String("7"), NewImage: map[string]types.AttributeValue{
		"future": &types.UnknownUnionMember{Tag: "VECTOR"},
	}}}
	r, err := fromStreams("arn", in)
	if err == nil || !strings.Contains(err.Error(), "new image") {
		t.Errorf("error = %v, want it to name the image", err)
	}
	if r.SequenceNumber != "7" {
		t.Errorf("sequence number %q: a record that cannot be read must still be reportable", r.SequenceNumber)
	}
}
