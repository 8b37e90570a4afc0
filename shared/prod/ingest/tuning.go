package ingest

// Concurrency for a serial feed, chosen from BenchmarkLatencyModelledIngest
// (shared/testkit/perf): Upvest sends a subscription's next request only once this
// one is answered, so a request's calls are the subscription's throughput.
const (
	// MaxClaimsInFlight is the most ledger writes one request keeps in flight:
	// a 1 MiB package (about 1,400 events) then takes about eleven rounds
	// of DynamoDB latency, and more in flight only lets the CPU, not the
	// calls, bind (one vCPU reads, classifies and encodes about 14,000 events/s).
	MaxClaimsInFlight = 128
	// MinClaimsInFlight keeps a small package's few writes all in flight.
	MinClaimsInFlight = 16
)

// ClaimsInFlight is how many ledger writes one request of n events keeps in
// flight: all of them up to MaxClaimsInFlight. Writes are conditional puts of
// distinct keys, so their number in flight costs nothing but open
// connections (the SDK client's pool is sized for it: shared/prod/app).
func ClaimsInFlight(n int) int { return min(max(n, MinClaimsInFlight), MaxClaimsInFlight) }

// claimsInFlight is the configured bound, or ClaimsInFlight.
func (s *Service) claimsInFlight(n int) int {
	if s.parallel > 0 {
		return s.parallel
	}
	return ClaimsInFlight(n)
}
