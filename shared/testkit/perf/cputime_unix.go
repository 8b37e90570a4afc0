//go:build unix

package perf

import "syscall"

import "time"

// ProcessCPU is the CPU time (user and system) the process has used so far:
// unlike wall time, it does not grow when other programs share the cores.
func ProcessCPU() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
