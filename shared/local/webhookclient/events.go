// Package webhookclient sends webhook requests the way Upvest does: events
// wrapped in {"payload": [...]}, signed with an Upvest-style v6 signature,
// POSTed as JSON. It is the send tool's engine and a test driver.
package webhookclient

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/uuid"
)

// LoadEvents reads events from files and folders. A file holds one event, an
// envelope {"payload": [...]}, or a JSON array of events; a folder stands for
// every *.json file in it, in name order.
func LoadEvents(paths ...string) ([]json.RawMessage, error) {
	var all []json.RawMessage
	for _, path := range paths {
		files, err := jsonFiles(path)
		if err != nil {
			return nil, err
		}
		for _, file := range files {
			evs, err := loadFile(file)
			if err != nil {
				return nil, err
			}
			all = append(all, evs...)
		}
	}
	return all, nil
}

func jsonFiles(path string) ([]string, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("load events: %w", err)
	}
	if !info.IsDir() {
		return []string{path}, nil
	}
	files, err := filepath.Glob(filepath.Join(path, "*.json"))
	if err != nil {
		return nil, fmt.Errorf("load events from %s: %w", path, err)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("load events: no *.json file in %s", path)
	}
	sort.Strings(files)
	return files, nil
}

func loadFile(file string) ([]json.RawMessage, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("load events: %w", err)
	}
	data = bytes.TrimSpace(data)
	var evs []json.RawMessage
	switch {
	case len(data) > 0 && data[0] == '[':
		if err := json.Unmarshal(data, &evs); err != nil {
			return nil, fmt.Errorf("load events from %s: %w", file, err)
		}
	case isEnvelope(data):
		env, err := events.DecodeEnvelope(data)
		if err != nil {
			return nil, fmt.Errorf("load events from %s: %w", file, err)
		}
		evs = env.Payload
	default:
		if !json.Valid(data) || data[0] != '{' {
			return nil, fmt.Errorf("load events from %s: not a JSON event, envelope or array", file)
		}
		evs = []json.RawMessage{data}
	}
	if len(evs) == 0 {
		return nil, fmt.Errorf("load events from %s: no events", file)
	}
	return evs, nil
}

// isEnvelope: a top-level object with a "payload" member (an event has none).
func isEnvelope(data []byte) bool {
	var probe map[string]json.RawMessage
	if json.Unmarshal(data, &probe) != nil {
		return false
	}
	_, ok := probe["payload"]
	return ok
}

// WithFreshIDs gives every event a new random id (Upvest's samples share
// ids, and the pipeline deduplicates on them). Other fields are kept; their
// order is not.
func WithFreshIDs(evs []json.RawMessage) ([]json.RawMessage, error) {
	out := make([]json.RawMessage, len(evs))
	for i, ev := range evs {
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(ev, &fields); err != nil {
			return nil, fmt.Errorf("fresh id for event %d: %w", i, err)
		}
		fields["id"], _ = json.Marshal(uuid.New()) // a string always marshals
		var err error
		if out[i], err = json.Marshal(fields); err != nil {
			return nil, fmt.Errorf("fresh id for event %d: %w", i, err)
		}
	}
	return out, nil
}

// Batches splits events into requests of at most size events, in order.
func Batches(evs []json.RawMessage, size int) [][]json.RawMessage {
	if size < 1 {
		size = 1
	}
	var out [][]json.RawMessage
	for len(evs) > 0 {
		n := min(size, len(evs))
		out = append(out, evs[:n:n])
		evs = evs[n:]
	}
	return out
}

// Envelope wraps events the way Upvest sends them.
func Envelope(evs []json.RawMessage) ([]byte, error) {
	if len(evs) == 0 {
		return nil, errors.New("envelope: no events")
	}
	body, err := json.Marshal(events.Envelope{Payload: evs})
	if err != nil {
		return nil, fmt.Errorf("envelope: %w", err)
	}
	return body, nil
}

// timestampLayout is how Upvest writes timestamps (microseconds, UTC).
const timestampLayout = "2006-01-02T15:04:05.000000Z"

// GenerateOrderLifecycles makes n synthetic orders, each as four events:
// ORDER.NEW, ORDER.PROCESSING, EXECUTION.FILLED, ORDER.FILLED, one second
// apart from start (order i starts i seconds after order i-1's start) with
// created_at and updated_at increasing. All ids are fresh UUIDs.
func GenerateOrderLifecycles(n int, start time.Time) ([]json.RawMessage, error) {
	webhookID := uuid.New()
	var out []json.RawMessage
	for i := range n {
		orderID, userID, accountID, executionID := uuid.New(), uuid.New(), uuid.New(), uuid.New()
		t0 := start.UTC().Add(time.Duration(i) * 4 * time.Second)
		at := func(step int) string { return t0.Add(time.Duration(step) * time.Second).Format(timestampLayout) }

		execution := map[string]any{
			"id": executionID, "order_id": orderID, "status": "FILLED", "side": "BUY",
			"price": "85.22", "share_quantity": "0.5", "cash_amount": "42.61", "currency": "EUR",
			"transaction_time": at(2), "taxes": []map[string]string{{"type": "TOTAL", "amount": "0"}},
		}
		order := func(status string, step int, executions []any) map[string]any {
			return map[string]any{
				"id": orderID, "created_at": at(0), "updated_at": at(step),
				"user_id": userID, "account_id": accountID,
				"cash_amount": "42.61", "currency": "EUR", "side": "BUY",
				"instrument_id": "US0378331005", "instrument_id_type": "ISIN",
				"order_type": "MARKET", "quantity": "0.5", "limit_price": "", "stop_price": "",
				"status": status, "fee": "0.5", "executions": executions,
				"client_reference": fmt.Sprintf("synthetic-%d", i+1), "initiation_flow": "API",
			}
		}
		steps := []struct {
			kind   string
			object map[string]any
		}{
			{"ORDER.NEW", order("NEW", 0, []any{})},
			{"ORDER.PROCESSING", order("PROCESSING", 1, []any{})},
			{"EXECUTION.FILLED", execution},
			{"ORDER.FILLED", order("FILLED", 3, []any{execution})},
		}
		for step, s := range steps {
			ev, err := json.Marshal(map[string]any{
				"id": uuid.New(), "created_at": at(step), "type": s.kind, "object": s.object, "webhook_id": webhookID,
			})
			if err != nil {
				return nil, fmt.Errorf("generate %s: %w", s.kind, err)
			}
			out = append(out, ev)
		}
	}
	return out, nil
}
