package stack

import (
	"bytes"
	"context"
	"debug/buildinfo"
	"debug/elf"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// checkLambdaBinary asserts that path is a Go linux/arm64 executable of
// ./functions/<name> of this module, built with the flags the app uses.
func checkLambdaBinary(t *testing.T, path, name string) {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatalf("%s is not an ELF file: %v", path, err)
	}
	defer f.Close()
	if f.Machine != elf.EM_AARCH64 || f.Class != elf.ELFCLASS64 || f.Type != elf.ET_EXEC {
		t.Errorf("%s: machine %v, class %v, type %v; want an aarch64 64-bit executable", path, f.Machine, f.Class, f.Type)
	}
	if f.Section(".interp") != nil {
		t.Errorf("%s is dynamically linked; provided.al2023 needs CGO_ENABLED=0", path)
	}
	info, err := buildinfo.ReadFile(path)
	if err != nil {
		t.Fatalf("%s: no Go build info: %v", path, err)
	}
	if want := "github.com/upvest-webhooks/upvest-webhooks/functions/" + name; info.Path != want || info.Main.Path != "github.com/upvest-webhooks/upvest-webhooks" {
		t.Errorf("%s was built from %s (module %s), want %s of this module", path, info.Path, info.Main.Path, want)
	}
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	for k, want := range map[string]string{"GOOS": "linux", "GOARCH": "arm64", "CGO_ENABLED": "0", "-trimpath": "true", "-tags": "lambda.norpc"} {
		if settings[k] != want {
			t.Errorf("%s built with %s=%q, want %q", path, k, settings[k], want)
		}
	}
	if _, stamped := settings["vcs.revision"]; stamped {
		t.Errorf("%s carries a VCS stamp: every commit would change the asset and redeploy every function", path)
	}
}

func TestBuildLambdasReplacesStaleBinaries(t *testing.T) {
	root, err := RepoRoot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	stale := filepath.Join(out, AssetIngest, "bootstrap")
	os.MkdirAll(filepath.Dir(stale), 0o755)
	os.WriteFile(stale, []byte("an old build"), 0o755)
	leftover := filepath.Join(out, AssetIngest, "leftover")
	os.WriteFile(leftover, []byte("x"), 0o644)

	dir, err := BuildLambdas(context.Background(), root, out, []string{AssetIngest})
	if err != nil {
		t.Fatal(err)
	}
	if dir != out {
		t.Errorf("returned %s, want %s", dir, out)
	}
	checkLambdaBinary(t, stale, AssetIngest)
	// The asset directory is zipped whole: nothing but the binary may be in it.
	if _, err := os.Stat(leftover); !os.IsNotExist(err) {
		t.Errorf("an old file survived in the asset directory: %v", err)
	}
}

func TestBuildLambdasFailsWithoutLeavingABinary(t *testing.T) {
	root, err := RepoRoot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	old := filepath.Join(out, "nosuchfunction", "bootstrap")
	os.MkdirAll(filepath.Dir(old), 0o755)
	os.WriteFile(old, []byte("an old build"), 0o755)
	_, err = BuildLambdas(context.Background(), root, out, []string{"nosuchfunction"})
	if err == nil || !strings.Contains(err.Error(), "build lambda nosuchfunction") || !strings.Contains(err.Error(), "functions/nosuchfunction") {
		t.Fatalf("error %v, want one naming the function and the go build output", err)
	}
	if _, err := os.Stat(old); !os.IsNotExist(err) {
		t.Errorf("the old binary is still there to be packed: %v", err)
	}
}

// TestAssetsAreTheFreshBuild: every function's code asset, as staged in the
// cloud assembly and referenced by the template, is the binary built for it.
func TestAssetsAreTheFreshBuild(t *testing.T) {
	eachEnv(t, func(t *testing.T, s *synthesized) {
		w := wire(t, s)
		fns := map[string]string{w.ingest: AssetIngest}
		for _, id := range w.worker {
			fns[id] = AssetWorker
		}
		if s.cfg.ExampleStreamConsumer {
			fn, _ := consumerIDs(t, s.tp)
			fns[fn] = AssetStreamConsumer
		}
		for id, name := range fns {
			key, _ := dig(s.tp.Resources[id].Properties, "Code", "S3Key").(string)
			hash, ok := strings.CutSuffix(key, ".zip")
			if !ok {
				t.Fatalf("%s: code S3Key %v is not an asset zip", id, key)
			}
			staged := filepath.Join(s.outdir, "asset."+hash)
			entries, err := os.ReadDir(staged)
			if err != nil {
				t.Fatalf("%s: asset %s not staged: %v", id, hash, err)
			}
			if len(entries) != 1 || entries[0].Name() != "bootstrap" {
				t.Errorf("%s: asset holds %v, want only bootstrap", id, entries)
			}
			checkLambdaBinary(t, filepath.Join(staged, "bootstrap"), name)
			got, _ := os.ReadFile(filepath.Join(staged, "bootstrap"))
			built, _ := os.ReadFile(filepath.Join(s.cfg.AssetsDir, name, "bootstrap"))
			if !bytes.Equal(got, built) {
				t.Errorf("%s: the staged bootstrap is not the one just built for %s", id, name)
			}
		}
	})
}
