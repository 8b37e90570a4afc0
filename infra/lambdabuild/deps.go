package lambdabuild

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
)

// Deps lists the packages a Lambda binary links: `go list -deps` of pkg
// (relative to repoRoot, such as ./functions/ingest), built as Build builds it
// for target (same tags, same GOOS/GOARCH), sorted.
func Deps(ctx context.Context, repoRoot string, target Target, pkg string) ([]string, error) {
	cmd := exec.CommandContext(ctx, goTool(), "list", "-deps", "-tags=lambda.norpc", "-f", "{{.ImportPath}}", pkg)
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(), target.env()...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("list the packages %s links (%s): %w\n%s", pkg, strings.Join(cmd.Args, " "), err, stderr.String())
	}
	deps := strings.Fields(string(out))
	slices.Sort(deps)
	return deps, nil
}

// Allowed is what one Lambda binary may link. A package of this module must
// be named in Own; any other package must be in the standard library or
// under one of ThirdParty's prefixes. Whatever its origin, a package that
// looks like test code (a path element "testing", "testdata", or ending in
// "test", as awstest or httptest) is refused unless KnownTestPackages names
// it with the reason it is linked.
type Allowed struct {
	Module            string            // this module's path
	Own               []string          // allowed packages of this module, relative to Module ("shared/prod/ledger"; "" is the root)
	ThirdParty        []string          // allowed import path prefixes outside the standard library and Module
	KnownTestPackages map[string]string // import path → why a library links it
}

// Violations returns one line per package of deps that the Lambda may not
// link, saying why; none means the set is allowed.
func (a Allowed) Violations(deps []string) []string {
	var bad []string
	for _, p := range deps {
		if why := a.refuse(p); why != "" {
			bad = append(bad, p+": "+why)
		}
	}
	return bad
}

func (a Allowed) refuse(p string) string {
	if _, ok := a.KnownTestPackages[p]; !ok && looksLikeTest(p) {
		return "test code (a test helper, fake or fixture) must never reach a Lambda binary"
	}
	if rel, ok := a.own(p); ok {
		if !slices.Contains(a.Own, rel) {
			return "not on this Lambda's list of the module's packages (a local stand-in, test helper, or another function's code?)"
		}
		return ""
	}
	if standard(p) {
		return ""
	}
	for _, prefix := range a.ThirdParty {
		if p == prefix || strings.HasPrefix(p, prefix+"/") {
			return ""
		}
	}
	return "third-party package outside this Lambda's allowed modules"
}

func (a Allowed) own(p string) (string, bool) {
	if p == a.Module {
		return "", true
	}
	rel, ok := strings.CutPrefix(p, a.Module+"/")
	return rel, ok
}

// standard reports whether p is in the standard library: its first element
// has no dot. The runtime's own internal test hooks (internal/testlog,
// internal/synctest) are linked by package os and the like, and are fine.
func standard(p string) bool {
	first, _, _ := strings.Cut(p, "/")
	return !strings.Contains(first, ".")
}

func looksLikeTest(p string) bool {
	if standard(p) && strings.HasPrefix(p, "internal/") {
		return false
	}
	for elem := range strings.SplitSeq(p, "/") {
		if elem == "testing" || elem == "testdata" || strings.HasSuffix(elem, "test") || strings.HasSuffix(elem, "testutil") {
			return true
		}
	}
	return false
}
