package longrun

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// Progress shows a long run's progress: a bar redrawn in place on a
// terminal, plain lines at an interval otherwise (logs, CI), both with
// events/s and an ETA. Work is counted in ledger items read (or Items),
// against the ledger's approximate item count.
type Progress struct {
	W        io.Writer
	Terminal bool          // redraw one line in place
	Every    time.Duration // between plain lines; 0: 10 s (terminal: 200 ms)
	Clock    Clock         // nil: wall clock
	Label    string
	Items    string // what is counted; "": "ledger items read"

	mu       sync.Mutex
	start    time.Time
	last     time.Time
	total    int64 // approximate items to read; 0: unknown
	read     int64 // items read
	events   int64 // events handled (matching the selection)
	startRd  int64 // items already read when the run resumed
	finished bool
}

// IsTerminal reports whether w is a terminal (a character device).
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// Start begins the clock; read is what a resumed run had already read.
func (p *Progress) Start(total, read int64) {
	if p == nil {
		return
	}
	if p.Clock == nil {
		p.Clock = WallClock{}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.start, p.last = p.Clock.Now(), p.Clock.Now()
	p.total, p.read, p.startRd = total, read, read
}

// Add counts items read and events handled, and shows progress when due.
func (p *Progress) Add(read, events int) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.read += int64(read)
	p.events += int64(events)
	every := p.Every
	if every == 0 {
		every = 10 * time.Second
		if p.Terminal {
			every = 200 * time.Millisecond
		}
	}
	if now := p.Clock.Now(); now.Sub(p.last) >= every {
		p.last = now
		p.show(now)
	}
}

// Done shows the final state (and ends the terminal's line).
func (p *Progress) Done() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.finished {
		return
	}
	p.finished = true
	p.show(p.Clock.Now())
	if p.Terminal {
		fmt.Fprintln(p.W)
	}
}

// Line is the progress text at now (without a bar).
func (p *Progress) line(now time.Time) (string, float64) {
	elapsed := now.Sub(p.start).Seconds()
	var evRate, itemRate float64
	if elapsed > 0 {
		evRate = float64(p.events) / elapsed
		itemRate = float64(p.read-p.startRd) / elapsed
	}
	frac := -1.0
	eta := "unknown"
	if p.total > 0 {
		frac = min(float64(p.read)/float64(p.total), 1)
		if itemRate > 0 {
			left := max(float64(p.total-p.read), 0) / itemRate
			eta = (time.Duration(left) * time.Second).Round(time.Second).String()
		}
	}
	total := "?"
	if p.total > 0 {
		total = fmt.Sprintf("~%d", p.total)
	}
	items := p.Items
	if items == "" {
		items = "ledger items read"
	}
	return fmt.Sprintf("%s: %d/%s %s, %d events, %.0f events/s, ETA %s",
		p.Label, p.read, total, items, p.events, evRate, eta), frac
}

func (p *Progress) show(now time.Time) {
	text, frac := p.line(now)
	if !p.Terminal {
		fmt.Fprintln(p.W, text)
		return
	}
	const width = 30
	bar := ""
	if frac >= 0 {
		n := int(frac * width)
		bar = "[" + strings.Repeat("#", n) + strings.Repeat("-", width-n) + fmt.Sprintf("] %3.0f%% ", frac*100)
	}
	fmt.Fprintf(p.W, "\r\033[K%s%s", bar, text)
}
