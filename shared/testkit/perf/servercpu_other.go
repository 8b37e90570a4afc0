//go:build !linux

package perf

import (
	"errors"
	"time"
)

// ServerCPU needs Linux's /proc.
func ServerCPU(string) (func() (time.Duration, error), error) {
	return nil, errors.New("server CPU: only measured on Linux")
}
