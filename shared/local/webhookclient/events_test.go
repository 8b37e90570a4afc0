package webhookclient

import (
	"encoding/json"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/upvest-webhooks/upvest-webhooks/events"
)

func eventTypes(t *testing.T, evs []json.RawMessage) []string {
	t.Helper()
	types := make([]string, len(evs))
	for i, raw := range evs {
		ev, err := events.ParseEvent(raw)
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		types[i] = ev.Type
	}
	return types
}

func TestLoadEvents(t *testing.T) {
	tests := []struct {
		name  string
		paths []string
		want  []string
	}{
		{"one event", []string{"testdata/folder/a_order_new.json"}, []string{"ORDER.NEW"}},
		{"envelope", []string{"testdata/envelope.json"}, []string{"ORDER.NEW", "POSITION.UPDATED", "CASH_BALANCE.UPDATED"}},
		{"array", []string{"testdata/array.json"}, []string{"POSITION.UPDATED", "CASH_BALANCE.UPDATED"}},
		{"folder in name order, *.json only", []string{"testdata/folder"}, []string{"ORDER.NEW", "EXECUTION.FILLED"}},
		{"several paths in order", []string{"testdata/array.json", "testdata/folder/b_execution_filled.json"},
			[]string{"POSITION.UPDATED", "CASH_BALANCE.UPDATED", "EXECUTION.FILLED"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evs, err := LoadEvents(tt.paths...)
			if err != nil {
				t.Fatalf("LoadEvents: %v", err)
			}
			if got := eventTypes(t, evs); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("types = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestLoadEventsRejects(t *testing.T) {
	for _, path := range []string{"testdata/missing.json", "testdata/empty", "testdata/bad.json", "testdata/empty_envelope.json", "testdata/folder/ignored.txt"} {
		if evs, err := LoadEvents(path); err == nil {
			t.Errorf("LoadEvents(%s) = %d events, want an error", path, len(evs))
		}
	}
}

func TestWithFreshIDs(t *testing.T) {
	evs, err := LoadEvents(filepath.Join("testdata", "folder"))
	if err != nil {
		t.Fatal(err)
	}
	fresh, err := WithFreshIDs(append(evs, evs...)) // the samples already share one id
	if err != nil {
		t.Fatalf("WithFreshIDs: %v", err)
	}
	seen := map[string]bool{}
	for i, raw := range fresh {
		var before, after map[string]any
		if err := json.Unmarshal(evs[i%len(evs)], &before); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(raw, &after); err != nil {
			t.Fatal(err)
		}
		id, _ := after["id"].(string)
		if !events.IsUUID(id) || seen[id] || id == before["id"] {
			t.Fatalf("event %d: id %q is not a fresh unique uuid", i, id)
		}
		seen[id] = true
		delete(before, "id")
		delete(after, "id")
		if !reflect.DeepEqual(before, after) {
			t.Fatalf("event %d: fields other than id changed", i)
		}
	}
}

func TestBatches(t *testing.T) {
	evs := make([]json.RawMessage, 5)
	for i := range evs {
		evs[i] = json.RawMessage{byte('0' + i)}
	}
	tests := []struct {
		size int
		want []int
	}{
		{1, []int{1, 1, 1, 1, 1}},
		{2, []int{2, 2, 1}},
		{5, []int{5}},
		{100, []int{5}},
		{0, []int{1, 1, 1, 1, 1}},
	}
	for _, tt := range tests {
		batches := Batches(evs, tt.size)
		var sizes []int
		var order []byte
		for _, b := range batches {
			sizes = append(sizes, len(b))
			for _, ev := range b {
				order = append(order, ev[0])
			}
		}
		if !reflect.DeepEqual(sizes, tt.want) || string(order) != "01234" {
			t.Errorf("Batches(5, %d) sizes %v order %s, want %v in order", tt.size, sizes, order, tt.want)
		}
	}
}

// Generated lifecycles are valid Upvest events that the pipeline classifies:
// per order NEW, PROCESSING, EXECUTION.FILLED, FILLED with positions rising.
func TestGenerateOrderLifecycles(t *testing.T) {
	start := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	evs, err := GenerateOrderLifecycles(3, start)
	if err != nil {
		t.Fatalf("GenerateOrderLifecycles: %v", err)
	}
	if len(evs) != 12 {
		t.Fatalf("%d events, want 12", len(evs))
	}
	ids := map[string]bool{}
	lastPosition := map[string]string{}
	orderKey := map[int]string{} // lifecycle -> the order's entity key
	for i, raw := range evs {
		ev, err := events.ParseEvent(raw)
		if err != nil {
			t.Fatal(err)
		}
		wantType := []string{"ORDER.NEW", "ORDER.PROCESSING", "EXECUTION.FILLED", "ORDER.FILLED"}[i%4]
		if ev.Type != wantType {
			t.Fatalf("event %d type %s, want %s", i, ev.Type, wantType)
		}
		if ids[ev.ID] {
			t.Fatalf("event id %s repeats", ev.ID)
		}
		ids[ev.ID] = true
		route, err := events.Classify(ev)
		if err != nil {
			t.Fatalf("event %d (%s) does not classify: %v", i, ev.Type, err)
		}
		if !route.Known {
			t.Fatalf("event %d (%s) is not routed", i, ev.Type)
		}
		key := route.EntityKey
		if ev.Category() == "EXECUTION" {
			if route.Parent == nil || route.Parent.EntityKey != orderKey[i/4] {
				t.Fatalf("execution %d: parent %+v, want its order %s", i, route.Parent, orderKey[i/4])
			}
			continue
		}
		orderKey[i/4] = key
		if prev, ok := lastPosition[key]; ok && route.Position <= prev {
			t.Fatalf("event %d (%s): position %s not after %s", i, ev.Type, route.Position, prev)
		}
		lastPosition[key] = route.Position
	}
	if len(lastPosition) != 3 {
		t.Fatalf("%d distinct orders, want 3", len(lastPosition))
	}
}
