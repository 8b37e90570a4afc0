package lambdabuild_test

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"
)

// The three neighbourhoods of shared/ import downhill only: production code
// (shared/prod) imports neither a stand-in (shared/local) nor the test kit
// (shared/testkit), and a stand-in imports no test kit. A test helper package
// (a name ending in "test", as statetest) is test code and may import the
// stand-ins. Test files are not checked: a test may use anything.
var neighbourhoodRank = map[string]int{"prod": 0, "local": 1, "testkit": 2}

// uphillImports are the known exceptions, each with its reason.
var uphillImports = map[string]string{
	"shared/prod/ops -> shared/local/localaws": "the ops tool's -local mode reaches the local run's servers, and " +
		"`rebuild -into` creates its table from the definitions the local servers use",
}

func TestNeighbourhoodsImportDownhill(t *testing.T) {
	cmd := exec.Command("go", "list", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", "./shared/...")
	cmd.Dir = repoRoot(t)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	used := map[string]bool{}
	for line := range strings.SplitSeq(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		from, ok := strings.CutPrefix(fields[0], module+"/")
		if !ok {
			continue
		}
		fromHood, fromRank := hood(t, from)
		if strings.HasSuffix(from, "test") {
			fromRank = neighbourhoodRank["testkit"]
		}
		for _, imp := range fields[1:] {
			to, ok := strings.CutPrefix(imp, module+"/shared/")
			if !ok {
				continue
			}
			toHood, toRank := hood(t, "shared/"+to)
			edge := from + " -> shared/" + to
			if _, known := uphillImports[edge]; known {
				used[edge] = true
				continue
			}
			if toRank > fromRank {
				t.Errorf("%s: %s imports from %s, uphill; move the code, or name the exception in uphillImports", edge, fromHood, toHood)
			}
		}
	}
	for edge := range uphillImports {
		if !used[edge] {
			t.Errorf("uphillImports names %s, which no longer exists: drop it", edge)
		}
	}
}

// hood names the neighbourhood of a package under shared/ and its rank.
func hood(t *testing.T, pkg string) (string, int) {
	t.Helper()
	rest, ok := strings.CutPrefix(pkg, "shared/")
	if !ok {
		t.Fatalf("%s is not under shared/", pkg)
	}
	name, _, _ := strings.Cut(rest, "/")
	rank, ok := neighbourhoodRank[name]
	if !ok {
		t.Fatalf("shared/%s is in no neighbourhood: shared/ holds only prod, local and testkit", name)
	}
	return name, rank
}
