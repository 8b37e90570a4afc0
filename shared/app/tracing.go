package app

import "github.com/upvest-webhooks/upvest-webhooks/shared/tracing"

// Option adjusts how a function is assembled.
type Option func(*options)

type options struct {
	tracing *tracing.Provider
}

// WithTracing instruments the function and its AWS clients with p
// (shared/tracing); without it, nothing is traced.
func WithTracing(p *tracing.Provider) Option {
	return func(o *options) { o.tracing = p }
}

func collect(opts []Option) options {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	return o
}
