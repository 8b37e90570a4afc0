//go:build linux

package localaws

import "syscall"

// setParentDeathSignal kills a server if our process dies without calling Stop
// (SIGKILL, crash), so no emulator outlives the run that started it.
func setParentDeathSignal(attr *syscall.SysProcAttr) { attr.Pdeathsig = syscall.SIGKILL }
