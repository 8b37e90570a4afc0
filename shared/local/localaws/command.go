package localaws

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
)

// commandStopGrace is how long a command has to exit after its interrupt
// before it is killed.
const commandStopGrace = 15 * time.Second

// RunCommand runs argv with stdio passed through and the environment pointed
// at the servers (see CommandEnv), and returns its exit code. When ctx ends
// (Ctrl-C, SIGTERM) the command is interrupted, then killed if it has not
// exited after a grace period. err reports only failures to run it at all.
func (s *Servers) RunCommand(ctx context.Context, argv []string) (exitCode int, err error) {
	if len(argv) == 0 {
		return 0, errors.New("no command to run")
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = CommandEnv(os.Environ(), s.DynamoDBEndpoint, s.SQSEndpoint)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = commandStopGrace
	err = cmd.Run()
	var exitErr *exec.ExitError
	switch {
	case err == nil:
		return 0, nil
	case errors.As(err, &exitErr):
		if code := exitErr.ExitCode(); code >= 0 {
			return code, nil
		}
		return 1, nil // ended by a signal
	default:
		return 1, fmt.Errorf("run %s: %w", argv[0], err)
	}
}

// CommandEnv is base with the local servers' variables (EnvVars) added, and
// the variables that would send the SDK elsewhere (a profile, a session token,
// a global endpoint) removed.
func CommandEnv(base []string, dynamoEndpoint, sqsEndpoint string) []string {
	drop := map[string]bool{
		"AWS_PROFILE": true, "AWS_DEFAULT_PROFILE": true, "AWS_SESSION_TOKEN": true,
		"AWS_ENDPOINT_URL": true, "AWS_DEFAULT_REGION": true,
	}
	out := make([]string, 0, len(base)+6)
	for _, kv := range base {
		if k, _, _ := strings.Cut(kv, "="); !drop[k] {
			out = append(out, kv)
		}
	}
	return append(out, EnvVars(dynamoEndpoint, sqsEndpoint)...) // later entries win
}
