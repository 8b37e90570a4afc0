//go:build !unix

package perf

import "time"

// ProcessCPU is unknown off unix.
func ProcessCPU() (time.Duration, bool) { return 0, false }
