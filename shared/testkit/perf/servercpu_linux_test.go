package perf

import (
	"net"
	"strings"
	"testing"
	"time"
)

func TestStatCPU(t *testing.T) {
	tests := []struct {
		name, line string
		want       time.Duration
		wantErr    string
	}{
		{name: "plain command", line: "4242 (java) S 1 4242 4242 0 -1 4194560 1 0 0 0 250 75 0 0 20 0 40 0 1 1 1",
			want: 3250 * time.Millisecond},
		{name: "command with spaces and parentheses", line: "7 (a (b) c) R 1 7 7 0 -1 0 0 0 0 0 3 4 0 0",
			want: 70 * time.Millisecond},
		{name: "no command", line: "7 java R 1", wantErr: "without a command"},
		{name: "cut short", line: "7 (java) R 1 7 7", wantErr: "at least 13"},
		{name: "not a number", line: "7 (java) R 1 7 7 0 -1 0 0 0 0 0 x 4", wantErr: `stat field "x"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := statCPU(tc.line)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("statCPU = %v, %v; want an error with %q", got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("statCPU = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

// The listener is this test's own process: ServerCPU finds it by its port, and
// its reading grows with the CPU the process spends.
func TestServerCPUReadsTheListenersCPU(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	read, err := ServerCPU("http://" + l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	before, err := read()
	if err != nil {
		t.Fatal(err)
	}
	own, _ := ProcessCPU()
	deadline := time.Now().Add(30 * time.Second)
	for {
		now, err := read()
		if err != nil {
			t.Fatal(err)
		}
		if now > before {
			break // the reading counts this process's CPU, in /proc's ticks
		}
		if time.Now().After(deadline) {
			spent, _ := ProcessCPU()
			t.Fatalf("the listener's CPU stayed at %v while this process spent %v", before, spent-own)
		}
		spin(5 * time.Millisecond)
	}
}

// spin keeps the CPU busy for about d of CPU time.
func spin(d time.Duration) {
	start, _ := ProcessCPU()
	for x := 0; ; x++ {
		if x%1000 == 0 {
			if now, _ := ProcessCPU(); now-start >= d {
				return
			}
		}
	}
}

func TestServerCPUSaysWhatIsMissing(t *testing.T) {
	for endpoint, want := range map[string]string{
		"http://127.0.0.1:1":   "nothing listens on port", // tcpmux: privileged, and served nowhere nowadays
		"http://127.0.0.1":     "has no port",
		"http://[::1:bad:port": "endpoint",
	} {
		if _, err := ServerCPU(endpoint); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ServerCPU(%q) = %v; want an error with %q", endpoint, err, want)
		}
	}
}
