package maketest

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// fakeGo stands in for the go command under `make fuzz`: `go test -list`
// prints the targets, and each fuzz run of a target does what the next line
// of its script says: pass, race (Go's fuzztime deadline race: a bare
// "context deadline exceeded", no input) or fail (a failing input).
const fakeGo = `#!/bin/sh
dir=$FAKE_GO_DIR
if [ "$2" = "-list" ]; then cat "$dir/targets"; echo "ok  	x	0.01s"; exit 0; fi
while [ $# -gt 0 ]; do
	if [ "$1" = "-fuzz" ]; then t=$(printf '%s' "$2" | tr -d '^$'); fi
	shift
done
n=$(( $(cat "$dir/$t.runs" 2>/dev/null || echo 0) + 1 ))
echo $n > "$dir/$t.runs"
case $(sed -n "${n}p" "$dir/$t") in
pass) echo PASS; echo "ok  	x	1s"; exit 0 ;;
race) printf -- '--- FAIL: %s (4.08s)\n    context deadline exceeded\nFAIL\nexit status 1\nFAIL\tx\t4.1s\n' "$t"; exit 1 ;;
fail) printf -- '--- FAIL: %s (0.20s)\n    x_test.go:9: broken\n    Failing input written to testdata/fuzz/%s/0a1b\nFAIL\nexit status 1\nFAIL\tx\t0.3s\n' "$t" "$t"; exit 1 ;;
*) echo "fake go: no script line $n for $t" >&2; exit 3 ;;
esac
`

func TestMakeFuzzPassesOnlyWhenEveryTargetPasses(t *testing.T) {
	cases := []struct {
		name    string
		scripts map[string][]string // per target, in order, what each run does
		pass    bool
		runs    map[string]int
	}{
		{"every target passes", map[string][]string{"FuzzA": {"pass"}, "FuzzB": {"pass"}}, true, map[string]int{"FuzzA": 1, "FuzzB": 1}},
		{"a later target's failing input fails", map[string][]string{"FuzzA": {"pass"}, "FuzzB": {"fail"}}, false, map[string]int{"FuzzA": 1, "FuzzB": 1}},
		{"a first target's failing input fails", map[string][]string{"FuzzA": {"fail"}, "FuzzB": {"pass"}}, false, map[string]int{"FuzzA": 1, "FuzzB": 0}},
		{"Go's deadline race is run once more", map[string][]string{"FuzzA": {"pass"}, "FuzzB": {"race", "pass"}}, true, map[string]int{"FuzzA": 1, "FuzzB": 2}},
		{"the deadline race twice fails", map[string][]string{"FuzzA": {"pass"}, "FuzzB": {"race", "race"}}, false, map[string]int{"FuzzA": 1, "FuzzB": 2}},
		{"a failing input after the race fails", map[string][]string{"FuzzA": {"race", "fail"}, "FuzzB": {"pass"}}, false, map[string]int{"FuzzA": 2, "FuzzB": 0}},
	}
	root := repoRoot(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			goBin := filepath.Join(dir, "go")
			write(t, goBin, fakeGo, 0o755)
			write(t, filepath.Join(dir, "targets"), "FuzzA\nFuzzB\n", 0o644)
			for target, lines := range c.scripts {
				write(t, filepath.Join(dir, target), strings.Join(lines, "\n")+"\n", 0o644)
			}
			cmd := exec.Command("make", "-s", "-C", root, "fuzz", "GO="+goBin, "FUZZ_PACKAGES=./x", "FUZZTIME=1s")
			cmd.Env = append(outsideMake(os.Environ()), "FAKE_GO_DIR="+dir)
			out, err := cmd.CombinedOutput()
			if passed := err == nil; passed != c.pass {
				t.Fatalf("make fuzz passed = %v, want %v (%v); output:\n%s", passed, c.pass, err, out)
			}
			for target, want := range c.runs {
				if got := runs(t, dir, target); got != want {
					t.Errorf("%s ran %d times, want %d; output:\n%s", target, got, want, out)
				}
			}
		})
	}
}

// outsideMake drops what a make running this test passes down (its flags and
// jobserver), so the make under test starts as a fresh one.
func outsideMake(env []string) []string {
	var out []string
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		if name != "MAKEFLAGS" && name != "MFLAGS" && name != "MAKELEVEL" {
			out = append(out, kv)
		}
	}
	return out
}

func runs(t *testing.T, dir, target string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, target+".runs"))
	if os.IsNotExist(err) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("runs of %s: %v", target, err)
	}
	return n
}

func write(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
}

// repoRoot is the directory holding go.mod and the Makefile.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "Makefile")); err == nil {
			if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
				return dir
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no directory with go.mod and a Makefile above the test")
		}
		dir = parent
	}
}

// make test fuzzes each target for a count of inputs, not a time: a count sets
// no deadline, so Go 1.26's fuzztime deadline race (golang/go#75804) cannot
// fail the gate by chance.
func TestMakeTestFuzzesACountNotATime(t *testing.T) {
	cmd := exec.Command("make", "-s", "-C", repoRoot(t), "--eval=print-fuzztime-short: ; @echo $(FUZZTIME_SHORT)", "print-fuzztime-short")
	for _, kv := range outsideMake(os.Environ()) {
		if !strings.HasPrefix(kv, "FUZZTIME_SHORT=") { // the Makefile's own value, not a caller's
			cmd.Env = append(cmd.Env, kv)
		}
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make: %v\n%s", err, out)
	}
	if got := strings.TrimSpace(string(out)); !regexp.MustCompile(`^[1-9][0-9]*x$`).MatchString(got) {
		t.Fatalf("FUZZTIME_SHORT = %q; want a count such as 50000x (a duration can hit Go's fuzztime deadline race)", got)
	}
}
