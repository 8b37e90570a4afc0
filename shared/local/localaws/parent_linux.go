//go:build linux

package localaws

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// StopWithParent has Linux send this process SIGTERM when the process that
// started it dies, as make does when it is killed with -9: `make run`'s
// pipeline and `make emulators` then stop the servers they started, where they
// would otherwise run on, orphans holding the ports, and make the next run fail.
// The caller must stop on SIGTERM.
func StopWithParent() error {
	parent := os.Getppid()
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, syscall.PR_SET_PDEATHSIG, uintptr(syscall.SIGTERM), 0); errno != 0 {
		return fmt.Errorf("prctl(PR_SET_PDEATHSIG): %w", errno)
	}
	if os.Getppid() != parent {
		return errors.New("the process that started this one is gone")
	}
	return nil
}
