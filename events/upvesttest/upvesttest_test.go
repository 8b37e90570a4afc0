package upvesttest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

func TestFindsTheMaterialFromAPackageFolder(t *testing.T) {
	samples := Samples(t)
	if len(samples) < 29 {
		t.Fatalf("%d samples, expected the 29 official ones", len(samples))
	}
	for _, s := range samples {
		var e struct {
			ID   string `json:"id"`
			Type string `json:"type"`
		}
		if err := json.Unmarshal(s.Raw, &e); err != nil || e.ID == "" || e.Type == "" {
			t.Errorf("%s: not an event (%v)", s.Name, err)
		}
	}
	schemas, err := filepath.Glob(filepath.Join(SchemasDir(t), "*.schema.json"))
	if err != nil || len(schemas) < 24 {
		t.Fatalf("%d schemas (%v), expected the 24 of OpenAPI 1.9.0", len(schemas), err)
	}
	if _, err := os.Stat(filepath.Join(Dir(t), "SOURCE.md")); err != nil {
		t.Errorf("the source note is missing: %v", err)
	}
}

func TestReadSample(t *testing.T) {
	if raw := ReadSample(t, "ORDER.NEW"); len(raw) == 0 {
		t.Fatal("empty ORDER.NEW sample")
	}
}
