package main

import (
	"errors"
	"flag"
	"strings"
	"testing"

	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/config"
)

// Every setting is checked before a server or the pipeline starts: a bad one
// would otherwise panic (a negative -kills) or fail minutes later (a
// -visibility SQS refuses, at each of the pipeline's restarts).
func TestSettingsAreCheckedAtStart(t *testing.T) {
	local := config.Local{Addr: "127.0.0.1:0", Dir: t.TempDir()}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{}, "-pipeline is required"},
		{[]string{"-pipeline", "p", "-kills", "-1"}, "-kills"},
		{[]string{"-pipeline", "p", "-visibility", "1500ms"}, "-visibility"},
		{[]string{"-pipeline", "p", "-visibility", "0s"}, "-visibility"},
		{[]string{"-pipeline", "p", "-events", "0"}, "-events"},
		{[]string{"-pipeline", "p", "-concurrency", "0"}, "-concurrency"},
		{[]string{"-pipeline", "p", "-crash-after", "-3"}, "-crash-after"},
		{[]string{"-pipeline", "p", "-max-backoff", "0s"}, "-max-backoff"},
		{[]string{"-pipeline", "p", "-faults", "crash=ingest-after-claim"}, "-faults"},
		{[]string{"-pipeline", "p", "extra"}, "no arguments"},
	} {
		if _, _, err := parseSettings(tt.args, local, 1); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: %v, want an error naming %s", tt.args, err, tt.want)
		}
	}
	s, _, err := parseSettings([]string{"-pipeline", "p", "-events", "1000", "-visibility", "2s"}, local, 7)
	if err != nil || s.crashAfter != 20 || s.seed != 7 || s.visibility.Seconds() != 2 {
		t.Errorf("good settings: %+v, %v", s, err)
	}
	if _, _, err := parseSettings([]string{"-h"}, local, 1); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: %v, want help (exit 0)", err)
	}
}
