package events

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/upvest-webhooks/upvest-webhooks/events/upvesttest"
	"github.com/upvest-webhooks/upvest-webhooks/shared/testkit/golden"
)

// TestSamplesGolden routes every official sample and compares the result with
// testdata/routes/<sample>: category, domain, entity key, ordering, model.
func TestSamplesGolden(t *testing.T) {
	for _, sample := range upvesttest.Samples(t) {
		name, raw := sample.Name+".json", sample.Raw
		t.Run(name, func(t *testing.T) {
			e, err := ParseEvent(raw)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(e.Raw, raw) {
				t.Error("Raw does not keep the exact bytes")
			}
			route, err := Classify(e)
			if err != nil {
				t.Fatalf("official sample not routable: %v", err)
			}
			if !route.Known {
				t.Errorf("category %s of an official sample is not in the routing table", route.Category)
			}
			golden.AssertJSON(t, filepath.Join("testdata", "routes", name), route)
		})
	}
}

// schemaDoc is the part of an Upvest JSON schema the catalogue is checked against.
type schemaDoc struct {
	Properties struct {
		Type struct {
			Enum []string `json:"enum"`
		} `json:"type"`
		Object struct {
			Required []string `json:"required"`
		} `json:"object"`
	} `json:"properties"`
	Required []string `json:"required"`
}

// TestSchemasAgreeWithCatalogue checks every official schema: each event type
// it lists is in the catalogue, the envelope fields it requires are the ones
// Validate requires, and the object fields our keys need are required by it.
func TestSchemasAgreeWithCatalogue(t *testing.T) {
	schemas, err := filepath.Glob(filepath.Join(upvesttest.SchemasDir(t), "*.schema.json"))
	if err != nil || len(schemas) == 0 {
		t.Fatalf("no schemas found: %v", err)
	}
	for _, path := range schemas {
		t.Run(filepath.Base(path), func(t *testing.T) {
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			var doc schemaDoc
			if err := json.Unmarshal(raw, &doc); err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(sorted(doc.Required), ","); got != "created_at,id,object,type,webhook_id" {
				t.Errorf("envelope fields required by the schema: %s", got)
			}
			if len(doc.Properties.Type.Enum) == 0 {
				t.Fatal("schema lists no event types")
			}
			required := map[string]bool{}
			for _, f := range doc.Properties.Object.Required {
				required[f] = true
			}
			for _, typ := range doc.Properties.Type.Enum {
				e := Event{Type: typ}
				c, known := Lookup(e.Category())
				if !known {
					t.Errorf("%s: category not in the routing table", typ)
					continue
				}
				if c.Rank(e.Action()) == 0 {
					t.Errorf("%s: action not in the catalogue", typ)
				}
				if len(required) == 0 {
					continue // schemas with oneOf objects list no top-level required fields
				}
				spec := c.Key
				if override, ok := c.TypeKeys[e.Action()]; ok {
					spec = override
				}
				for _, field := range spec {
					top, _, _ := strings.Cut(strings.Split(field, "|")[0], ".")
					if !required[top] {
						t.Errorf("%s: key field %s is not required by the schema", typ, top)
					}
				}
			}
		})
	}
}

// TestContractCategoriesAreRouted checks testdata/contract_categories.txt, the
// categories and types Upvest documents: every one is in the catalogue.
func TestContractCategoriesAreRouted(t *testing.T) {
	list, err := os.ReadFile(filepath.Join("testdata", "contract_categories.txt"))
	if err != nil {
		t.Fatal(err)
	}
	rows := 0
	for _, line := range strings.Split(string(list), "\n") {
		name, types, _ := strings.Cut(strings.TrimSpace(line), " ")
		if name == "" || strings.HasPrefix(name, "#") {
			continue
		}
		rows++
		c, known := Lookup(name)
		if !known {
			t.Errorf("documented category %s is not in the routing table", name)
			continue
		}
		for _, action := range strings.Split(types, ",") {
			if c.Rank(action) == 0 {
				t.Errorf("documented type %s.%s is not in the catalogue", name, action)
			}
		}
	}
	if rows < 39 { // Upvest documents 39 categories today
		t.Errorf("read %d categories from the list, expected at least 39", rows)
	}
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}
