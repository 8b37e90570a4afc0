//go:build unix && !linux

package localaws

import "syscall"

// setParentDeathSignal: only Linux has a parent-death signal; elsewhere Stop
// must run (the emulators CLI calls it on every exit path it controls).
func setParentDeathSignal(*syscall.SysProcAttr) {}
