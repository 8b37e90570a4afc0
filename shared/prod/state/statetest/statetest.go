// Package statetest builds Upvest events for tests of the state store and the
// workers: Upvest's official samples (events/testdata/upvest) or minimal
// objects for any category, always with fresh ids.
package statetest

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/events/upvesttest"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/uuid"
)

// UUID returns a random version-4 UUID.
func UUID() string {
	return uuid.New()
}

// Sample returns the object of an official sample event ("ORDER.NEW"), as a
// fresh copy the caller may change.
func Sample(t testing.TB, name string) map[string]any {
	t.Helper()
	raw := upvesttest.ReadSample(t, name)
	var e struct {
		Object map[string]any `json:"object"`
	}
	if err := json.Unmarshal(raw, &e); err != nil {
		t.Fatalf("sample %s: %v", name, err)
	}
	return e.Object
}

// Event returns a valid event of type typ with a fresh id, as ingest would
// receive it: Raw holds the encoded event and Object the exact object bytes.
func Event(t testing.TB, typ string, createdAt time.Time, object map[string]any) events.Event {
	t.Helper()
	raw, err := json.Marshal(map[string]any{
		"id":         UUID(),
		"created_at": createdAt.UTC().Format(time.RFC3339Nano),
		"type":       typ,
		"object":     object,
		"webhook_id": UUID(),
	})
	if err != nil {
		t.Fatalf("encode %s event: %v", typ, err)
	}
	e, err := events.ParseEvent(raw)
	if err != nil {
		t.Fatalf("parse %s event: %v", typ, err)
	}
	return e
}

// Time formats t as Upvest does (RFC 3339, UTC).
func Time(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// Object returns a minimal object of category c for one entity: every field
// its key needs (the first alternative of "a|b"), the parent field of a view,
// user and account ids, a status and updated_at. Calls with the same ids
// describe the same entity.
func Object(c events.Category, ids map[string]string, status string, updatedAt time.Time) map[string]any {
	o := map[string]any{
		"user_id":    ids["user_id"],
		"account_id": ids["account_id"],
		"status":     status,
		"updated_at": Time(updatedAt),
	}
	fields := append([]string(nil), c.Key...)
	if c.View != nil {
		fields = append(fields, c.View.KeyField)
	}
	for _, field := range fields {
		path, _, _ := strings.Cut(field, "|")
		setPath(o, path, ids[path])
	}
	return o
}

// IDs returns fresh values for every field Object may need.
func IDs() map[string]string {
	return map[string]string{
		"id": UUID(), "user_id": UUID(), "account_id": UUID(), "account_group_id": UUID(),
		"order_id": UUID(), "instrument.uuid": UUID(), "currency": "EUR", "date": "2024-05-01",
	}
}

func setPath(o map[string]any, path, value string) {
	head, rest, nested := strings.Cut(path, ".")
	if !nested {
		o[head] = value
		return
	}
	inner, ok := o[head].(map[string]any)
	if !ok {
		inner = map[string]any{}
		o[head] = inner
	}
	setPath(inner, rest, value)
}
