package localrun_test

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/upvest-webhooks/upvest-webhooks/shared/local/localrun"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/keysync"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/ops"
)

// The fake Upvest of `make run` is what `ops webhooks -local` reaches, through
// the file it writes; stopping it removes the file.
func TestFakeUpvestServesTheOpsToolLocally(t *testing.T) {
	dir := t.TempDir()
	keys, err := localrun.EnsureDevKeys(dir)
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	fake, err := localrun.StartFakeUpvest(dir, "127.0.0.1:0", keys, func(f string, a ...any) { logs.WriteString(f + "\n") })
	if err != nil {
		t.Fatal(err)
	}
	defer fake.Stop()
	env := map[string]string{"LOCAL_DIR": dir, "LOCAL_ADDR": "127.0.0.1:18099"}
	opsRun := func(args ...string) string {
		t.Helper()
		var out bytes.Buffer
		c := &ops.CLI{Getenv: func(k string) string { return env[k] }, Stdout: &out, Stderr: &out}
		if err := c.Run(context.Background(), args); err != nil {
			t.Fatalf("ops %v: %v\n%s", args, err, out.String())
		}
		return out.String()
	}
	out := opsRun("webhooks", "create", "-local", "-title", "local")
	if !strings.Contains(out, "http://127.0.0.1:18099/webhooks") || !strings.Contains(out, "enabled           true") {
		t.Fatalf("create -local: %s", out)
	}
	if out := opsRun("webhooks", "list", "-local"); !strings.Contains(out, "1 of 1") {
		t.Fatalf("list -local: %s", out)
	}
	if _, _, err := keysync.ReadLocalAPI(dir); err != nil {
		t.Fatal(err)
	}
	fake.Stop()
	if _, err := os.Stat(fake.FilePath); !os.IsNotExist(err) {
		t.Errorf("%s left behind: %v", fake.FilePath, err)
	}
}
