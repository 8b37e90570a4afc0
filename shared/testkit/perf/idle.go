package perf

import (
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// IdleMeter wraps an SDK HTTP client and keeps the time during which no
// DynamoDB request was outstanding: the time DynamoDB Local had nothing to do.
// Side by side with the ceiling, which keeps it busy throughout, it shows how
// much of a pipeline round is spent waiting on something else (a queue's
// batching window, an SQS call) rather than on writes. It also keeps the
// requests at DynamoDB over time (each counted up to the slots a process may
// have in flight, localaws.DynamoDBLocalInFlight): how full the side kept
// those slots while it was busy.
type IdleMeter struct {
	next  aws.HTTPClient
	now   func() time.Time
	slots int

	mu          sync.Mutex
	outstanding int
	since       time.Time     // the last change of outstanding
	idle        time.Duration // with nothing outstanding, up to since
	inFlight    time.Duration // the sum over time of min(outstanding, slots), up to since
}

// NewIdleMeter measures the DynamoDB requests sent through next, of which at
// most slots are in flight at once (more wait for a slot).
func NewIdleMeter(next aws.HTTPClient, slots int) *IdleMeter {
	return &IdleMeter{next: next, now: time.Now, since: time.Now(), slots: slots}
}

// Reading is what a meter has measured so far; the difference of two readings
// is what happened between them.
type Reading struct {
	Idle     time.Duration // no DynamoDB request outstanding
	InFlight time.Duration // requests in flight × time: divided by the busy time, the mean in flight while busy
}

// Sub is the measure between an earlier reading and r.
func (r Reading) Sub(earlier Reading) Reading {
	return Reading{Idle: r.Idle - earlier.Idle, InFlight: r.InFlight - earlier.InFlight}
}

// Add is the measure of two spans together.
func (r Reading) Add(other Reading) Reading {
	return Reading{Idle: r.Idle + other.Idle, InFlight: r.InFlight + other.InFlight}
}

// MeanInFlight is the mean number of requests in flight over the busy part of
// total, the wall time the reading spans (0 when it was never busy).
func (r Reading) MeanInFlight(total time.Duration) float64 {
	busy := total - r.Idle
	if busy <= 0 {
		return 0
	}
	return r.InFlight.Seconds() / busy.Seconds()
}

var _ aws.HTTPClient = (*IdleMeter)(nil)

// Do implements aws.HTTPClient.
func (m *IdleMeter) Do(req *http.Request) (*http.Response, error) {
	if !strings.HasPrefix(req.Header.Get("X-Amz-Target"), "DynamoDB_") {
		return m.next.Do(req)
	}
	m.change(+1)
	defer m.change(-1)
	return m.next.Do(req)
}

func (m *IdleMeter) change(delta int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.advance()
	m.outstanding += delta
}

// advance adds the time since the last change to idle when nothing was
// outstanding, and to inFlight once for each request in flight.
func (m *IdleMeter) advance() {
	now := m.now()
	elapsed := now.Sub(m.since)
	if m.outstanding == 0 {
		m.idle += elapsed
	}
	m.inFlight += elapsed * time.Duration(min(m.outstanding, m.slots))
	m.since = now
}

// Read is what the meter has measured so far.
func (m *IdleMeter) Read() Reading {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.advance()
	return Reading{Idle: m.idle, InFlight: m.inFlight}
}
