package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"strings"
	"testing"
)

// -h is help (exit 0) and a bad command line is a usage error (exit 2), both
// before any connection.
func TestCommandLine(t *testing.T) {
	var out, errs bytes.Buffer
	if err := run(context.Background(), []string{"-h"}, &out, &errs); !errors.Is(err, flag.ErrHelp) || !strings.Contains(errs.String(), "-domain") {
		t.Errorf("-h: %v, want the help\n%s", err, errs.String())
	}
	for _, args := range [][]string{{"-domain", "bogus"}, {"-nope"}, {"-poll", "0s"}, {"extra"}} {
		if err := run(context.Background(), args, &out, &errs); !errors.Is(err, errUsage) {
			t.Errorf("%v: %v, want a usage error", args, err)
		}
	}
}
