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
// batching window, an SQS call) rather than on writes.
type IdleMeter struct {
	next aws.HTTPClient
	now  func() time.Time

	mu          sync.Mutex
	outstanding int
	since       time.Time     // the last change of outstanding
	idle        time.Duration // with nothing outstanding, up to since
}

// NewIdleMeter measures the DynamoDB requests sent through next.
func NewIdleMeter(next aws.HTTPClient) *IdleMeter {
	return &IdleMeter{next: next, now: time.Now, since: time.Now()}
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

// advance adds the time since the last change to idle when nothing was outstanding.
func (m *IdleMeter) advance() {
	now := m.now()
	if m.outstanding == 0 {
		m.idle += now.Sub(m.since)
	}
	m.since = now
}

// Idle is the idle time so far; the difference of two readings is the idle
// time between them.
func (m *IdleMeter) Idle() time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.advance()
	return m.idle
}
