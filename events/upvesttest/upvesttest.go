// Package upvesttest finds Upvest's official example events and webhook schemas,
// kept in the repository under events/testdata/upvest (see SOURCE.md there), from
// the test of any package.
package upvesttest

import (
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// RepoRelDir is where the material lives, relative to the repository root.
const RepoRelDir = "events/testdata/upvest"

// Dir returns the absolute path of events/testdata/upvest. It walks up from the
// working directory (go test runs each package in its own folder) to go.mod.
func Dir(t testing.TB) string {
	t.Helper()
	dir, err := Find()
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// Find is Dir for callers without a testing.TB.
func Find() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, filepath.FromSlash(RepoRelDir)), nil
		}
		if filepath.Dir(dir) == dir {
			return "", errors.New("upvesttest: no go.mod above " + wd)
		}
	}
}

// SamplesDir holds one official example event per file (not wrapped in "payload";
// ids repeat across files).
func SamplesDir(t testing.TB) string { return filepath.Join(Dir(t), "samples") }

// SchemasDir holds the official JSON schema of each webhook category.
func SchemasDir(t testing.TB) string { return filepath.Join(Dir(t), "schemas") }

// Sample is one official example event: Name is its file name without ".json".
type Sample struct {
	Name string
	Raw  []byte
}

// Samples returns every official example event, sorted by name.
func Samples(t testing.TB) []Sample {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(SamplesDir(t), "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no Upvest samples under %s: %v", SamplesDir(t), err)
	}
	sort.Strings(files)
	out := make([]Sample, 0, len(files))
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, Sample{Name: strings.TrimSuffix(filepath.Base(f), ".json"), Raw: raw})
	}
	return out
}

// ReadSample returns the official example event in samples/<name>.json.
func ReadSample(t testing.TB, name string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(SamplesDir(t), name+".json"))
	if err != nil {
		t.Fatalf("Upvest sample %s: %v", name, err)
	}
	return raw
}
