package events

import "testing"

// The state model of a category is chosen on its routing-table line (latest
// or appendOnly); these tests check that each choice fits the category.

// An append-only entity is written by its first event only, so its category
// must be a single one-shot event; a lifecycle added to it later must move it
// to LatestWins.
func TestAppendOnlyCategoriesAreOneShot(t *testing.T) {
	for _, c := range Categories() {
		if c.Model == AppendOnly && len(c.Types) != 1 {
			t.Errorf("%s is AppendOnly but has %d types %v; its later events would be dropped", c.Name, len(c.Types), c.Types)
		}
	}
}

// A parent view keeps the newest entry per child, which only makes sense
// for children that themselves change: LatestWins.
func TestViewsBelongToLatestWinsCategories(t *testing.T) {
	for _, c := range Categories() {
		if c.View == nil {
			continue
		}
		if c.Model != LatestWins {
			t.Errorf("%s keeps a view on %s but is %s", c.Name, c.View.Category, c.Model)
		}
		if parent, ok := Lookup(c.View.Category); !ok || parent.Domain != c.Domain {
			t.Errorf("%s's parent %s must be a known category of the same domain (one state table)", c.Name, c.View.Category)
		}
	}
}

func TestUnroutedIsLatestWins(t *testing.T) {
	if c, known := Lookup("SOMETHING_NEW"); known || c.Model != LatestWins || c.Domain != Unrouted {
		t.Errorf("unknown category = %+v (known %v), want LatestWins in %s", c, known, Unrouted)
	}
}
