package localaws

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestLimitedClientBoundsRequestsToItsHostOnly(t *testing.T) {
	var now, peak atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := now.Add(1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		// The first requests wait for the limit's worth to be inside at once,
		// however slowly the machine dials them in; a limit below 3 never
		// gets there and ends the wait at the guard. Then each stays a moment,
		// so that a client without a limit would have more than 3 inside.
		for guard := time.Now().Add(10 * time.Second); peak.Load() < 3 && time.Now().Before(guard); {
			time.Sleep(time.Millisecond)
		}
		time.Sleep(20 * time.Millisecond)
		now.Add(-1)
	}))
	defer srv.Close()
	other := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer other.Close()

	c := newLimitedClient(srv.URL, 3)
	var wg sync.WaitGroup
	for range 12 {
		wg.Go(func() {
			req, _ := http.NewRequest(http.MethodPost, srv.URL, nil)
			resp, err := c.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
		})
	}
	wg.Wait()
	if p := peak.Load(); p != 3 {
		t.Errorf("peak %d requests in flight, want the limit 3", p)
	}
	// Another host (the SQS server, with its long polls) is not held back.
	req, _ := http.NewRequest(http.MethodGet, other.URL, nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
}
