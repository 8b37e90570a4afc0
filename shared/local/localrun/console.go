package localrun

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"sync"
)

// ConsoleLogs returns the writer for the local run's JSON log lines: every line
// goes to file, and only warnings and errors also go to console, so that the
// terminal shows state changes and problems while info lines and metric (EMF)
// lines stay in the log file. Safe for concurrent use; each Write holds whole
// lines, as slog's and the metrics' writers produce them.
func ConsoleLogs(console, file io.Writer) io.Writer {
	return &consoleLogs{console: console, file: file}
}

type consoleLogs struct {
	mu            sync.Mutex
	console, file io.Writer
}

func (c *consoleLogs) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, err := c.file.Write(p); err != nil {
		return 0, err
	}
	for _, line := range bytes.SplitAfter(p, []byte("\n")) {
		if len(bytes.TrimSpace(line)) > 0 && forConsole(line) {
			if _, err := c.console.Write(line); err != nil {
				return 0, err
			}
		}
	}
	return len(p), nil
}

// forConsole is true for warning and error lines, and for lines that are not
// JSON (a panic's trace, say): those are never hidden.
func forConsole(line []byte) bool {
	var rec struct {
		Level string          `json:"level"`
		EMF   json.RawMessage `json:"_aws"`
	}
	if err := json.Unmarshal(line, &rec); err != nil {
		return true
	}
	if rec.EMF != nil {
		return false
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(rec.Level)); err != nil {
		return true
	}
	return level >= slog.LevelWarn
}
