package ops_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/ops"
)

type fakeSyncer struct {
	jwks    []byte
	changed bool
	err     error
}

func (f fakeSyncer) Fetch(context.Context) ([]byte, error) { return f.jwks, f.err }
func (f fakeSyncer) Sync(context.Context) (bool, error)    { return f.changed, f.err }

func run(syncer ops.KeySyncer, getenv func(string) string, args ...string) (string, error) {
	var out bytes.Buffer
	c := &ops.CLI{Getenv: getenv, Stdout: &out, Stderr: &out, Keys: syncer,
		AWS: func(context.Context) (aws.Config, error) { return aws.Config{}, errors.New("no AWS in this test") }}
	err := c.Run(context.Background(), args)
	return out.String(), err
}

func noEnv(string) string { return "" }

func TestKeysSaysNotConfiguredWithoutASyncer(t *testing.T) {
	for _, sub := range []string{"fetch", "sync"} {
		if _, err := run(nil, noEnv, "keys", sub); !errors.Is(err, ops.ErrKeysNotConfigured) {
			t.Errorf("keys %s: %v, want ErrKeysNotConfigured", sub, err)
		}
	}
}

func TestKeysCallsTheSyncer(t *testing.T) {
	s := fakeSyncer{jwks: []byte(`{"keys":[]}`), changed: true}
	if out, err := run(s, noEnv, "keys", "fetch"); err != nil || out != "{\"keys\":[]}\n" {
		t.Errorf("fetch: %q, %v", out, err)
	}
	if out, err := run(s, noEnv, "keys", "sync"); err != nil || !strings.Contains(out, "SSM parameter updated") {
		t.Errorf("sync: %q, %v", out, err)
	}
	s.changed = false
	if out, err := run(s, noEnv, "keys", "sync"); err != nil || !strings.Contains(out, "unchanged") {
		t.Errorf("sync, unchanged: %q, %v", out, err)
	}
	s.err = errors.New("upvest said 401")
	if _, err := run(s, noEnv, "keys", "sync"); err == nil || !strings.Contains(err.Error(), "upvest said 401") {
		t.Errorf("sync failure: %v", err)
	}
	if _, err := run(s, noEnv, "keys", "rotate"); err == nil {
		t.Error("keys rotate: no error")
	}
}

func TestBadCommandLinesAreUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{}, {"frobnicate"}, {"inspect"}, {"inspect", "a", "b"}, {"inspect", "-nope", "a"},
		{"parked", "a", "b"}, {"redrive"}, {"redrive", "nowhere"}, {"redrive", "-max", "-1", "orders"}, {"keys"},
		{"keys", "bogus"}, {"keys", "fetch", "sync"},
		{"inspect", ""}, {"inspect", "  "}, {"inspect", " some-id"}, {"inspect", strings.Repeat("a", 2000)},
		{"replay", ""}, {"replay", "some-id", " "},
	} {
		if _, err := run(nil, noEnv, args...); !errors.Is(err, ops.ErrUsage) {
			t.Errorf("%q: %v, want a usage error", args, err)
		}
	}
}

// Deployed, the resource names come from the stack outputs as environment
// variables; each subcommand names every one it misses before touching AWS.
func TestDeployedModeNamesMissingVariables(t *testing.T) {
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"inspect", "some-id"}, []string{"LEDGER_TABLE is required", "STATE_TABLE_ORDERS is required", "QUEUE_URL_ORDERS is required", "DLQ_URL_ORDERS is required"}},
		{[]string{"parked"}, []string{"LEDGER_TABLE is required"}},
		{[]string{"replay", "some-id"}, []string{"LEDGER_TABLE is required", "QUEUE_URL_PAYMENTS is required"}},
		{[]string{"redrive", "orders"}, []string{"QUEUE_URL_ORDERS is required", "DLQ_URL_ORDERS is required"}},
	}
	for _, tt := range tests {
		_, err := run(nil, noEnv, tt.args...)
		for _, w := range tt.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%v: error %v does not say %q", tt.args, err, w)
			}
		}
	}
	// With the variables set, the AWS configuration is loaded next.
	env := map[string]string{"QUEUE_URL_ORDERS": "https://q", "DLQ_URL_ORDERS": "https://d"}
	if _, err := run(nil, func(k string) string { return env[k] }, "redrive", "orders"); err == nil || !strings.Contains(err.Error(), "no AWS in this test") {
		t.Errorf("redrive with its variables: %v, want the AWS configuration loaded", err)
	}
	if _, err := run(nil, noEnv, "redrive", "orders"); err != nil && strings.Contains(err.Error(), "LEDGER_TABLE") {
		t.Errorf("redrive needs no ledger: %v", err)
	}
}

var subcommands = []string{"inspect", "parked", "replay", "rebuild", "redrive", "keys", "webhooks", "golive"}

// -h is a request, not a mistake: it prints help to stdout and succeeds
// (exit 0), for the tool and for each subcommand.
func TestHelpListsEverySubcommandAndEachHelpSucceeds(t *testing.T) {
	out, err := run(nil, noEnv, "-h")
	if err != nil {
		t.Fatalf("-h: %v", err)
	}
	for _, sub := range subcommands {
		if !strings.Contains(out, "\n  "+sub+" ") {
			t.Errorf("-h does not list %s:\n%s", sub, out)
		}
		for _, args := range [][]string{{sub, "-h"}, {"help", sub}} {
			help, err := run(nil, noEnv, args...)
			if err != nil || !strings.Contains(help, sub) {
				t.Errorf("%v: %v, want its help\n%s", args, err, help)
			}
			if strings.Contains(help, "make run` ") || strings.Contains(help, "-local make run") || strings.Contains(help, "help requested") {
				t.Errorf("%v: flag help garbled:\n%s", args, help)
			}
		}
	}
	if help, err := run(nil, noEnv, "inspect", "-h"); err != nil || !strings.Contains(help, "-peek") || !strings.Contains(help, "-local\n") {
		t.Errorf("inspect -h: %v, want its flags\n%s", err, help)
	}
	if help, err := run(nil, noEnv, "webhooks", "update", "-h"); err != nil || !strings.Contains(help, "-title") {
		t.Errorf("webhooks update -h: %v, want its flags\n%s", err, help)
	}
}

// After a bad command line the tool prints the help of the subcommand at fault.
func TestHelpForABadCommandLineIsTheSubcommands(t *testing.T) {
	for _, sub := range subcommands {
		if help := ops.HelpFor([]string{sub, "-nope"}); !strings.Contains(help, "  "+sub) && !strings.Contains(help, "ops "+sub) {
			t.Errorf("HelpFor(%s -nope) does not name it:\n%s", sub, help)
		}
	}
	if help := ops.HelpFor([]string{"webhooks", "update", "x"}); !strings.Contains(help, "update  <id>") {
		t.Errorf("HelpFor(webhooks update) is not webhooks' help:\n%s", help)
	}
	if ops.HelpFor([]string{"frobnicate"}) != ops.Usage || ops.HelpFor(nil) != ops.Usage {
		t.Error("no or an unknown subcommand: want the whole help")
	}
}
