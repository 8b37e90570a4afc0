package chaos

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/upvest-webhooks/upvest-webhooks/events"
)

func TestPlanCoversCategoriesPoisonAndShufflesLifecycles(t *testing.T) {
	p, err := NewPlan(PlanOptions{Events: 2000, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Events) < 2000 {
		t.Fatalf("%d events", len(p.Events))
	}
	categories := map[string]int{}
	poison := map[PoisonKind]int{}
	for _, e := range p.Events {
		if e.Route.EntityKey != "" {
			categories[e.Route.Category]++
		}
		poison[e.Poison]++
	}
	for _, c := range []string{"ORDER", "EXECUTION", "ACCOUNT", "POSITION", "CASH_BALANCE", "REPORT"} {
		if categories[c] == 0 {
			t.Errorf("no %s events", c)
		}
	}
	for _, k := range []PoisonKind{BadEvent, NoID, InvalidUTF8, Noncharacter, Oversize, HugeValid} {
		if poison[k] == 0 {
			t.Errorf("no %s poison", k)
		}
	}
	if len(p.Bodies) == 0 {
		t.Error("no bodies that are not envelopes")
	}

	// Every event is in exactly one request, and each envelope's bytes are its events' bytes.
	seen := map[*Event]int{}
	outOfOrder := 0
	for _, r := range p.Requests {
		if r.Key != "" {
			if _, err := events.DecodeEnvelope(r.Body); err == nil {
				t.Errorf("body %q is an envelope", r.Body)
			}
			continue
		}
		env, err := events.DecodeEnvelope(r.Body)
		if err != nil || len(env.Payload) != len(r.Events) {
			t.Fatalf("request does not decode to its %d events: %v", len(r.Events), err)
		}
		for i, e := range r.Events {
			seen[e]++
			if string(env.Payload[i]) != string(e.Raw) {
				t.Fatalf("event %s changed in its envelope", e.LedgerKey)
			}
		}
	}
	for _, e := range p.Events {
		if seen[e] != 1 {
			t.Fatalf("event %s in %d requests", e.LedgerKey, seen[e])
		}
	}
	// Lifecycles arrive shuffled: some newer events come before older ones of the same entity.
	sentAt := map[*Event]int{}
	for i, r := range p.Requests {
		for _, e := range r.Events {
			sentAt[e] = i
		}
	}
	last := map[string]*Event{}
	for _, e := range p.Events {
		k := e.Route.EntityKey
		if k == "" {
			continue
		}
		if prev := last[k]; prev != nil && prev.Route.Position < e.Route.Position && sentAt[prev] > sentAt[e] {
			outOfOrder++
		}
		last[k] = e
	}
	if outOfOrder == 0 {
		t.Error("no lifecycle arrives out of order")
	}
}

func TestNewestIsTheHighestPositionPerEntityAndView(t *testing.T) {
	p, err := NewPlan(PlanOptions{Events: 300, Seed: 2})
	if err != nil {
		t.Fatal(err)
	}
	want := newest(p)
	views := 0
	for _, e := range p.Events {
		r := e.Route
		if r.EntityKey == "" {
			continue
		}
		ent := want[r.EntityKey]
		if ent == nil || ent.rowPos < r.Position {
			t.Fatalf("entity %s: newest %+v misses %s", r.EntityKey, ent, r.Position)
		}
		if r.Parent != nil {
			views++
			parent := want[r.Parent.EntityKey]
			if parent.viewAttr != r.Parent.Attribute || parent.viewPos[r.Parent.EntryID] < r.Position {
				t.Fatalf("view of %s misses %s", r.Parent.EntityKey, r.Position)
			}
		}
	}
	if views == 0 {
		t.Fatal("no parent views in the plan")
	}
}

func TestBackoffIsUpvestsScheduleCapped(t *testing.T) {
	var got []int
	for i := range 7 {
		got = append(got, int(Backoff(i, 1, 20)))
	}
	want := []int{1, 2, 3, 5, 8, 13, 20}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("Backoff = %v, want %v", got, want)
		}
	}
}

func TestPoisonIsWhatItClaims(t *testing.T) {
	p, err := NewPlan(PlanOptions{Events: 10, PoisonRate: 0.9, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range p.Events {
		ev, _, classifyErr := events.ClassifyRaw(e.Raw)
		switch e.Poison {
		case InvalidUTF8:
			if !errors.Is(classifyErr, events.ErrNotUTF8) || ev.ID != e.ID {
				t.Errorf("invalid-utf8 event: id %q, %v", ev.ID, classifyErr)
			}
		case Noncharacter:
			if !utf8.Valid(e.Raw) || !strings.Contains(string(e.Raw), "\uFFFE") {
				t.Errorf("noncharacter event %q", e.Raw)
			}
		case BadEvent:
			if classifyErr == nil || ev.ID != e.ID {
				t.Errorf("bad event classifies: %v", classifyErr)
			}
		case NoID:
			if classifyErr == nil || ev.ID != "" {
				t.Errorf("event without id: id %q, %v", ev.ID, classifyErr)
			}
		case Oversize, HugeValid:
			if classifyErr != nil || len(e.Raw) < 300*1024 {
				t.Errorf("%s event: %d bytes, %v", e.Poison, len(e.Raw), classifyErr)
			}
		}
	}
}
