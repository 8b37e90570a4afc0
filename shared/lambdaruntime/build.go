package lambdaruntime

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
)

// Build compiles the main packages pkgs (module paths relative to dir, such
// as ./functions/ingest) for this machine, the way `make build` compiles them
// for Lambda except for GOOS/GOARCH: -tags lambda.norpc, CGO off, -trimpath.
// Each lands in outDir/<last path element>/bootstrap, the layout of the CDK
// assets; the returned map is keyed by that element.
func Build(ctx context.Context, dir, outDir string, pkgs ...string) (map[string]string, error) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		return nil, fmt.Errorf("build Lambda binaries: the go command is not on PATH: %w", err)
	}
	out := map[string]string{}
	for _, pkg := range pkgs {
		name := filepath.Base(pkg)
		bin := filepath.Join(outDir, name, "bootstrap")
		cmd := exec.CommandContext(ctx, goTool, "build", "-tags", "lambda.norpc", "-trimpath", "-o", bin, pkg)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+runtime.GOOS, "GOARCH="+runtime.GOARCH, "GOFLAGS=")
		if msg, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("go build %s: %w\n%s", pkg, err, msg)
		}
		out[name] = bin
	}
	return out, nil
}

// RepoRoot is the nearest directory at or above the working directory with a go.mod.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("repository root: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("repository root: no go.mod above the working directory")
		}
		dir = parent
	}
}

// ReservedEnv is the part of the environment the Lambda service itself sets
// for a function (the reserved variables a Go runtime may read), for a
// function of this name and memory size in region.
func ReservedEnv(name string, memoryMB int, region string) []string {
	return []string{
		"AWS_LAMBDA_FUNCTION_NAME=" + name,
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=" + strconv.Itoa(memoryMB),
		"AWS_LAMBDA_FUNCTION_VERSION=$LATEST",
		"AWS_LAMBDA_LOG_GROUP_NAME=/aws/lambda/" + name,
		"AWS_LAMBDA_LOG_STREAM_NAME=" + "2025/01/01/[$LATEST]rehearsal",
		"AWS_REGION=" + region,
		"AWS_DEFAULT_REGION=" + region,
		"_HANDLER=bootstrap",
		"TZ=:UTC",
		"LANG=en_US.UTF-8",
		"PATH=/usr/local/bin:/usr/bin/:/bin:/opt/bin",
	}
}
