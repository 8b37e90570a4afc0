// Package perf holds the side-by-side benchmarks of `make bench` in its
// tests: the ingest dedupe stage against a bare conditional PutItem loop, the
// whole local pipeline against a bare SDK loop on the same emulators, the
// ingest handler's CPU per event, and a 1 MiB request. It prices what they
// count with shared/prod/cost.
package perf
