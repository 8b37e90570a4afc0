package state

import (
	"testing"

	"github.com/upvest-webhooks/upvest-webhooks/events"
)

func TestJudge(t *testing.T) {
	latest := events.Route{Model: events.LatestWins, Position: "p5"}
	appendOnly := events.Route{Model: events.AppendOnly, Position: "p5"}
	tests := []struct {
		name string
		row  *Row
		r    events.Route
		want Standing
	}{
		{"no row", nil, latest, Pending},
		{"row made by a view only", &Row{EventID: "", Position: ""}, latest, Pending},
		{"row holds the event", &Row{EventID: "e", Position: "p5"}, latest, Holds},
		{"row holds a newer event", &Row{EventID: "n", Position: "p9"}, latest, Superseded},
		{"row holds an older event", &Row{EventID: "o", Position: "p1"}, latest, Pending},
		{"append-only row holds the event", &Row{EventID: "e", Position: "p5"}, appendOnly, Holds},
		{"append-only row holds another, older event", &Row{EventID: "o", Position: "p1"}, appendOnly, Superseded},
		{"append-only without a row", nil, appendOnly, Pending},
	}
	for _, tt := range tests {
		if got := Judge(tt.row, "e", tt.r); got != tt.want {
			t.Errorf("%s: %s, want %s", tt.name, got, tt.want)
		}
	}
}

func TestJudgeView(t *testing.T) {
	r := events.Route{Model: events.LatestWins, Position: "p5", Parent: &events.ParentRef{Attribute: "executions_view", EntryID: "x"}}
	parent := func(id, pos string) *Row {
		return &Row{Views: map[string]map[string]ViewEntry{"executions_view": {"x": {EventID: id, Position: pos}}}}
	}
	tests := []struct {
		name   string
		parent *Row
		want   Standing
	}{
		{"no parent row", nil, Pending},
		{"no entry", &Row{}, Pending},
		{"entry holds the event", parent("e", "p5"), Holds},
		{"entry holds a newer event", parent("n", "p9"), Superseded},
		{"entry holds an older event", parent("o", "p1"), Pending},
	}
	for _, tt := range tests {
		if got := JudgeView(tt.parent, "e", r); got != tt.want {
			t.Errorf("%s: %s, want %s", tt.name, got, tt.want)
		}
	}
	if JudgeView(nil, "e", events.Route{}) != Holds {
		t.Error("an event without a parent has nothing to wait for in a view")
	}
	if Done(Holds, Pending) != Pending || Done(Superseded, Holds) != Superseded || Done(Pending, Holds) != Pending {
		t.Error("Done: pending when either is")
	}
}
