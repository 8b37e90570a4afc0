package localrun

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/observability"
)

func TestConsoleLogsShowsOnlyWarningsAndErrors(t *testing.T) {
	var console, file bytes.Buffer
	w := ConsoleLogs(&console, &file)
	logger := slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
	logger.Info("event applied")
	logger.Warn("event parked")
	logger.Error("ledger write failed")
	m := observability.NewMetrics(w, "ingest")
	m.Add(observability.MetricReceived, 3)
	if err := m.Flush(); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("not json\n")); err != nil {
		t.Fatal(err)
	}

	for _, want := range []string{"event applied", "event parked", "ledger write failed", observability.MetricReceived, "not json"} {
		if !strings.Contains(file.String(), want) {
			t.Errorf("log file lacks %q:\n%s", want, file.String())
		}
	}
	got := console.String()
	for _, want := range []string{"event parked", "ledger write failed", "not json"} {
		if !strings.Contains(got, want) {
			t.Errorf("console lacks %q:\n%s", want, got)
		}
	}
	for _, hidden := range []string{"event applied", observability.MetricReceived} {
		if strings.Contains(got, hidden) {
			t.Errorf("console shows %q:\n%s", hidden, got)
		}
	}
}
