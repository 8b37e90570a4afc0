// Package config parses and validates each function's environment once, at
// start, and reports every problem in one clear message.
package config

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// reader collects problems while reading variables, so that one error lists them all.
type reader struct {
	getenv   func(string) string
	problems []string
}

func (r *reader) required(name string) string {
	v := strings.TrimSpace(r.getenv(name))
	if v == "" {
		r.problems = append(r.problems, name+" is required")
	}
	return v
}

func (r *reader) optional(name, def string) string {
	if v := strings.TrimSpace(r.getenv(name)); v != "" {
		return v
	}
	return def
}

func (r *reader) duration(name string, def time.Duration) time.Duration {
	v := strings.TrimSpace(r.getenv(name))
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		// Zero is refused too: the verifier and the key cache read it as "use the default".
		r.problems = append(r.problems, fmt.Sprintf("%s=%q is not a positive duration such as 60s or 5m", name, v))
		return def
	}
	return d
}

func (r *reader) positiveInt(name string, def int64) int64 {
	v := strings.TrimSpace(r.getenv(name))
	if v == "" {
		return def
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 {
		r.problems = append(r.problems, fmt.Sprintf("%s=%q is not a positive whole number", name, v))
		return def
	}
	return n
}

func (r *reader) err(what string) error {
	if len(r.problems) == 0 {
		return nil
	}
	return errors.New(what + " configuration: " + strings.Join(r.problems, "; "))
}
