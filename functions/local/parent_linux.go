//go:build linux

package main

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// stopWithParent has Linux send this process SIGTERM when the process that
// started it dies, as make does when it is killed with -9: the pipeline then
// stops the servers it started, where it would otherwise run on, an orphan
// holding their ports, and make the next `make run` fail.
func stopWithParent() error {
	parent := os.Getppid()
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, syscall.PR_SET_PDEATHSIG, uintptr(syscall.SIGTERM), 0); errno != 0 {
		return fmt.Errorf("prctl(PR_SET_PDEATHSIG): %w", errno)
	}
	if os.Getppid() != parent {
		return errors.New("the process that started this one is gone")
	}
	return nil
}
