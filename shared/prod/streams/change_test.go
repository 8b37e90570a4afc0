package streams

import (
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
)

type image = map[string]events.DynamoDBAttributeValue

var (
	s = events.NewStringAttribute
	n = events.NewNumberAttribute
	m = events.NewMapAttribute
)

func lambdaRecord(kind string, oldImg, newImg image) events.DynamoDBEventRecord {
	return events.DynamoDBEventRecord{
		EventName:      kind,
		EventSourceArn: "arn:aws:dynamodb:eu-central-1:123456789012:table/upvest-state-orders/stream/2026-01-01T00:00:00.000",
		Change: events.DynamoDBStreamRecord{
			Keys:           image{"pk": s("ORDER#1")},
			OldImage:       oldImg,
			NewImage:       newImg,
			SequenceNumber: "100",
		},
	}
}

func TestDecodeRejects(t *testing.T) {
	tests := []struct {
		name string
		rec  events.DynamoDBEventRecord
		want string
	}{
		{"unknown event name", lambdaRecord("TRUNCATE", nil, image{"pk": s("ORDER#1")}), "event name"},
		{"no key anywhere", func() events.DynamoDBEventRecord {
			r := lambdaRecord("INSERT", nil, image{"status": s("NEW")})
			r.Change.Keys = nil
			return r
		}(), `no "pk" key`},
		{"version not a number", lambdaRecord("INSERT", nil, image{"version": s("three")}), `new image: state row: attribute "version"`},
		{"version not whole", lambdaRecord("MODIFY", image{"version": n("1.5")}, image{"version": n("2")}), `old image: state row: attribute "version"`},
		// The images decode into state.Row: an attribute of another type than
		// the store writes is a broken record, reported like any other.
		{"view not a map", lambdaRecord("INSERT", nil, image{"executions_view": s("oops")}), `attribute "executions_view"`},
		{"view entry not a map", lambdaRecord("INSERT", nil, image{"executions_view": m(image{"x2": s(`{"status":"FILLED"}`)})}), `attribute "executions_view"`},
		{"status not a string", lambdaRecord("INSERT", nil, image{"status": events.NewBooleanAttribute(true)}), `attribute "status"`},
		{"object not JSON", lambdaRecord("INSERT", nil, image{"object": s("{not json")}), `"object" is not valid JSON`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode(tt.rec)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want it to mention %q", err, tt.want)
			}
		})
	}
	if _, err := Decode(lambdaRecord("TRUNCATE", nil, nil)); !errors.Is(err, ErrNotStateRecord) {
		t.Errorf("unknown event name: error %v is not ErrNotStateRecord", err)
	}
}

func TestDecodeFields(t *testing.T) {
	execEntry := func(eventID, status string) events.DynamoDBAttributeValue {
		return m(image{"event_id": s(eventID), "event_type": s("EXECUTION." + status), "status": s(status)})
	}
	tests := []struct {
		name  string
		rec   events.DynamoDBEventRecord
		check func(t *testing.T, c Change)
	}{
		{
			name: "key falls back to the image when Keys is missing",
			rec: func() events.DynamoDBEventRecord {
				r := lambdaRecord("INSERT", nil, image{"pk": s("ORDER#2")})
				r.Change.Keys = nil
				return r
			}(),
			check: func(t *testing.T, c Change) { eq(t, "key", c.Key, "ORDER#2") },
		},
		{
			name: "table name comes from the stream ARN",
			rec:  lambdaRecord("INSERT", nil, image{"category": s("ORDER")}),
			check: func(t *testing.T, c Change) {
				eq(t, "table", c.Table, "upvest-state-orders")
				eq(t, "domain", string(c.Domain), "orders")
			},
		},
		{
			name:  "unknown category goes to the unrouted domain",
			rec:   lambdaRecord("INSERT", nil, image{"category": s("SPACESHIP")}),
			check: func(t *testing.T, c Change) { eq(t, "domain", string(c.Domain), "unrouted") },
		},
		{
			name: "the row's own event wins when it changed",
			rec: lambdaRecord("MODIFY",
				image{"event_id": s("e1"), "event_type": s("ORDER.NEW"), "executions_view": m(image{"x1": execEntry("e0", "FILLED")})},
				image{"event_id": s("e2"), "event_type": s("ORDER.FILLED"), "executions_view": m(image{"x1": execEntry("e0", "FILLED")})}),
			check: func(t *testing.T, c Change) { eq(t, "event", c.EventID+" "+c.EventType, "e2 ORDER.FILLED") },
		},
		{
			name: "a view-only change is caused by the changed entry",
			rec: lambdaRecord("MODIFY",
				image{"event_id": s("e1"), "event_type": s("ORDER.NEW"), "executions_view": m(image{"x1": execEntry("e3", "FILLED")})},
				image{"event_id": s("e1"), "event_type": s("ORDER.NEW"), "executions_view": m(image{"x1": execEntry("e4", "SETTLED"), "x2": execEntry("e3b", "FILLED")})}),
			check: func(t *testing.T, c Change) {
				eq(t, "event", c.EventID+" "+c.EventType, "e4 EXECUTION.SETTLED")
				want := ViewSummary{Count: 2, ByStatus: map[string]int{"FILLED": 1, "SETTLED": 1}}
				if !reflect.DeepEqual(c.Views["executions_view"], want) {
					t.Errorf("view = %+v, want %+v", c.Views["executions_view"], want)
				}
			},
		},
		{
			name: "view entries without a status field are read from their object",
			rec: lambdaRecord("INSERT", nil, image{"executions_view": m(image{
				"x1": m(image{"object": s(`{"id":"x1","status":"CANCELLED"}`)}),
				"x3": m(image{"object": s("not json")}),
			})}),
			check: func(t *testing.T, c Change) {
				want := ViewSummary{Count: 2, ByStatus: map[string]int{"CANCELLED": 1}}
				if !reflect.DeepEqual(c.Views["executions_view"], want) {
					t.Errorf("view = %+v, want %+v", c.Views["executions_view"], want)
				}
			},
		},
		{
			name: "a REMOVE describes the row as it was",
			rec:  lambdaRecord("REMOVE", image{"status": s("FILLED"), "version": n("7"), "event_type": s("ORDER.FILLED"), "object": s(`{"a":1}`)}, nil),
			check: func(t *testing.T, c Change) {
				eq(t, "status", c.OldStatus+"|"+c.NewStatus, "FILLED|")
				eq(t, "versions", strings.Join([]string{itoa(c.OldVersion), itoa(c.NewVersion)}, "|"), "7|0")
				eq(t, "event type", c.EventType, "ORDER.FILLED")
				eq(t, "object", string(c.Object), `{"a":1}`)
			},
		},
		{
			name: "a NULL version reads as none",
			rec:  lambdaRecord("INSERT", nil, image{"version": events.NewNullAttribute()}),
			check: func(t *testing.T, c Change) {
				if c.NewVersion != 0 {
					t.Errorf("version %d, want 0", c.NewVersion)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Decode(tt.rec)
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}

func eq(t *testing.T, what, got, want string) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %q, want %q", what, got, want)
	}
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }
