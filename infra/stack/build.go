package stack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// LambdaBuildFlags are the `go build` flags of every Lambda binary: no local
// paths, no symbol tables, no RPC mode (provided.al2023 speaks the runtime API),
// and no VCS stamp, so that the same source gives the same bytes and an asset
// changes (and a function is redeployed) only when its code does.
var LambdaBuildFlags = []string{"-trimpath", "-buildvcs=false", "-ldflags=-s -w", "-tags=lambda.norpc"}

// LambdaBuildEnv is the target the functions run on: arm64 (Graviton), static.
var LambdaBuildEnv = []string{"GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=0"}

// BuildLambdas compiles ./functions/<name> of the module at repoRoot into
// outDir/<name>/bootstrap for each name, replacing whatever was there, so the
// assets the stack packs are always the checkout's code. It returns outDir.
func BuildLambdas(ctx context.Context, repoRoot, outDir string, names []string) (string, error) {
	outDir, err := filepath.Abs(outDir)
	if err != nil {
		return "", fmt.Errorf("build lambdas: %w", err)
	}
	for _, name := range names {
		dir := filepath.Join(outDir, name)
		// A failed build must not leave an old binary behind to be packed.
		if err := os.RemoveAll(dir); err != nil {
			return "", fmt.Errorf("build lambda %s: clear %s: %w", name, dir, err)
		}
		args := append([]string{"build"}, LambdaBuildFlags...)
		args = append(args, "-o", filepath.Join(dir, "bootstrap"), "./functions/"+name)
		cmd := exec.CommandContext(ctx, goTool(), args...)
		cmd.Dir = repoRoot
		cmd.Env = append(os.Environ(), LambdaBuildEnv...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		start := time.Now()
		if err := cmd.Run(); err != nil {
			return "", fmt.Errorf("build lambda %s (%s %s in %s): %w\n%s",
				name, strings.Join(LambdaBuildEnv, " "), strings.Join(cmd.Args, " "), repoRoot, err, out.String())
		}
		fmt.Fprintf(os.Stderr, "built %s/bootstrap (linux/arm64) in %s\n", dir, time.Since(start).Round(time.Millisecond))
	}
	return outDir, nil
}

// RepoRoot is the directory of the main module's go.mod, as the go command
// finds it from the working directory (the CLI runs the app in infra/).
func RepoRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, goTool(), "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("find the repository root (go env GOMOD): %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("find the repository root: not inside a Go module; run the CDK app from the repository's infra/ directory")
	}
	return filepath.Dir(gomod), nil
}

// goTool is the go command that builds the functions: $GO (as in the
// Makefile) or go from PATH.
func goTool() string {
	if g := os.Getenv("GO"); g != "" {
		return g
	}
	return "go"
}
