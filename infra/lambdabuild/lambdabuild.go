// Package lambdabuild compiles the Lambda functions: the one place that knows
// how a bootstrap is built. The CDK app builds them for Lambda (linux/arm64)
// before it packs the assets; the deploy rehearsal builds the same way for
// the machine it runs on.
package lambdabuild

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
)

// Flags are the `go build` flags of every Lambda binary: no local paths, no
// symbol tables, no RPC mode (provided.al2023 speaks the runtime API), and no
// VCS stamp, so that the same source gives the same bytes and an asset changes
// (and a function is redeployed) only when its code does.
var Flags = []string{"-trimpath", "-buildvcs=false", "-ldflags=-s -w", "-tags=lambda.norpc"}

// Target is what the binaries run on.
type Target struct{ GOOS, GOARCH string }

// Lambda is the deployed functions' target: arm64 (Graviton).
var Lambda = Target{GOOS: "linux", GOARCH: "arm64"}

// Host is this machine, for running the binaries here.
func Host() Target { return Target{GOOS: runtime.GOOS, GOARCH: runtime.GOARCH} }

func (t Target) String() string { return t.GOOS + "/" + t.GOARCH }

func (t Target) env() []string {
	return []string{"GOOS=" + t.GOOS, "GOARCH=" + t.GOARCH, "CGO_ENABLED=0", "GOFLAGS="}
}

// Build compiles each main package pkg (relative to repoRoot, such as
// ./functions/ingest) into outDir/<last element>/bootstrap, the layout of the
// CDK assets, replacing whatever was there: a failed build leaves no old
// binary behind. It returns the binaries keyed by that last element.
func Build(ctx context.Context, repoRoot, outDir string, target Target, pkgs ...string) (map[string]string, error) {
	outDir, err := filepath.Abs(outDir)
	if err != nil {
		return nil, fmt.Errorf("build lambdas: %w", err)
	}
	bins := map[string]string{}
	for _, pkg := range pkgs {
		name := filepath.Base(pkg)
		dir := filepath.Join(outDir, name)
		if err := os.RemoveAll(dir); err != nil {
			return nil, fmt.Errorf("build lambda %s: clear %s: %w", name, dir, err)
		}
		bin := filepath.Join(dir, "bootstrap")
		args := append(append([]string{"build"}, Flags...), "-o", bin, pkg)
		cmd := exec.CommandContext(ctx, goTool(), args...)
		cmd.Dir = repoRoot
		cmd.Env = append(os.Environ(), target.env()...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			return nil, fmt.Errorf("build lambda %s for %s (%s in %s): %w\n%s",
				name, target, strings.Join(cmd.Args, " "), repoRoot, err, out.String())
		}
		bins[name] = bin
	}
	return bins, nil
}

// RepoRoot is the directory of the main module's go.mod, as the go command
// finds it from the working directory.
func RepoRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, goTool(), "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("find the repository root (go env GOMOD): %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("find the repository root: not inside a Go module; run from the repository or its infra/ directory")
	}
	return filepath.Dir(gomod), nil
}

// goTool is the go command: $GO (as in the Makefile) or go from PATH.
func goTool() string {
	if g := os.Getenv("GO"); g != "" {
		return g
	}
	return "go"
}
