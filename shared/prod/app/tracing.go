// Package app holds what assembling every function shares: the options a
// Lambda entry point or the local runner passes. Each function's assembly is
// a package of its own (ingestapp, workerapp), so that a binary links only the
// function it runs.
package app

import "github.com/upvest-webhooks/upvest-webhooks/shared/prod/tracing"

// Option adjusts how a function is assembled.
type Option func(*Options)

// Options are the collected Options; an assembly package reads them.
type Options struct {
	// Tracing instruments the function and its AWS clients; nil traces nothing.
	Tracing *tracing.Provider
}

// WithTracing instruments the function and its AWS clients with p
// (shared/prod/tracing); without it, nothing is traced.
func WithTracing(p *tracing.Provider) Option {
	return func(o *Options) { o.Tracing = p }
}

// Collect applies opts in order.
func Collect(opts []Option) Options {
	var o Options
	for _, opt := range opts {
		opt(&o)
	}
	return o
}
