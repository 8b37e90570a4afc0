package rebuild_test

import (
	"slices"
	"testing"

	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/rebuild"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/state"
)

// A live row written before the store compacted objects holds Upvest's
// indentation; its rebuilt twin holds the same JSON compacted. Whitespace is
// no difference; anything else in the object, or in a view entry's, is.
func TestCompareIgnoresOnlyWhitespaceBetweenJSONTokens(t *testing.T) {
	row := func(object, entryObject string) state.Row {
		return state.Row{PK: "ORDER#o", Category: "ORDER", Status: "NEW", Object: object, EventID: "e", Position: "p",
			Views: map[string]map[string]state.ViewEntry{"executions_view": {"x": {Position: "q", EventID: "f", EventType: "EXECUTION.FILLED", Object: entryObject}}}}
	}
	compact := row(`{"id":"o","status":"NEW","note":"a  b"}`, `{"id":"x"}`)
	cases := []struct {
		name string
		live state.Row
		want []string
	}{
		{"indented object and entry", row("{\n  \"id\": \"o\",\n  \"status\": \"NEW\",\n  \"note\": \"a  b\"\n}", "{ \"id\" : \"x\" }"), nil},
		{"a value differs", row(`{"id":"o","status":"NEW","note":"a b"}`, `{"id":"x"}`), []string{"object"}},
		{"key order differs", row(`{"status":"NEW","id":"o","note":"a  b"}`, `{"id":"x"}`), []string{"object"}},
		{"an entry's object differs", row(`{"id":"o","status":"NEW","note":"a  b"}`, `{"id":"y"}`), []string{"executions_view"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := rebuild.Compare(c.live, compact); !slices.Equal(got, c.want) {
				t.Errorf("Compare = %v, want %v", got, c.want)
			}
		})
	}
}
