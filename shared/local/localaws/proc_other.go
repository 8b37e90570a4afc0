//go:build !unix

package localaws

import (
	"errors"
	"os/exec"
)

type signal int

const (
	terminate signal = iota
	kill
)

func ownProcessGroup(*exec.Cmd) {}

// signalGroup: process groups are a Unix notion; on other systems the server
// process itself is killed (its children, if any, may survive).
func signalGroup(cmd *exec.Cmd, _ signal) error {
	if cmd.Process == nil {
		return errors.New("process not started")
	}
	return cmd.Process.Kill()
}
