package stack

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/upvest-webhooks/upvest-webhooks/infra/lambdabuild"
)

// BuildLambdas compiles ./functions/<name> of the module at repoRoot for
// Lambda (linux/arm64) into outDir/<name>/bootstrap for each name, replacing
// whatever was there, so the assets the stack packs are always the checkout's
// code. It returns outDir.
func BuildLambdas(ctx context.Context, repoRoot, outDir string, names []string) (string, error) {
	outDir, err := filepath.Abs(outDir)
	if err != nil {
		return "", fmt.Errorf("build lambdas: %w", err)
	}
	pkgs := make([]string, len(names))
	for i, name := range names {
		pkgs[i] = "./functions/" + name
	}
	if _, err := lambdabuild.Build(ctx, repoRoot, outDir, lambdabuild.Lambda, pkgs...); err != nil {
		return "", err
	}
	fmt.Fprintf(os.Stderr, "built %v for %s in %s\n", names, lambdabuild.Lambda, outDir)
	return outDir, nil
}

// RepoRoot is the directory of the main module's go.mod (the CLI runs the app in infra/).
func RepoRoot(ctx context.Context) (string, error) { return lambdabuild.RepoRoot(ctx) }
