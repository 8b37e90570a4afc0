package capacity

import (
	"fmt"
	"strings"
	"time"
)

// Markdown renders the rows and batches as the README's tables.
func Markdown(s Settings, rows []Row, batches []Batch) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Settings: %d subscription(s); ingest %d MB; workers %d MB, batches of %d, at most %d per domain",
		s.Subscriptions, s.IngestMemoryMB, s.WorkerMemoryMB, s.WorkerBatchSize, s.WorkerMaxConcurrency)
	if s.HotDomainMaxConcurrency > 0 {
		fmt.Fprintf(&b, " (%d in the hot domain)", s.HotDomainMaxConcurrency)
	}
	fmt.Fprintf(&b, "; on-demand tables start at %d writes/s. Traffic: the %s mix (%s %.0f %%).\n\n",
		max(Measured.NewTableWriteUnits, s.WarmWriteUnits), NightlyMix.Name, NightlyMix.HotDomain, 100*NightlyMix.HotShare)
	b.WriteString("| events/s | events per request, time to answer | ingest invocations/s, concurrency | API requests/s (stage 1,000, account 10,000) | hot-domain workers needed / max | queue lag | ledger writes/s | hot state table writes/s | Lambda concurrency (account 1,000) | cost per hour | first limit to bind (use) | what moves it | also over their limit |\n")
	b.WriteString("|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---|---|---|\n")
	for _, r := range rows {
		lag := "keeps up (≈ 1 s batching window)"
		if r.QueueLagGrowth > 0 {
			lag = fmt.Sprintf("backlog +%s events/s: the oldest message ages %s more each minute", thousands(r.QueueLagGrowth),
				duration(time.Duration(r.QueueLagGrowth/r.HotDomainCapacity*60*float64(time.Second))))
		}
		l := r.Binding()
		var also []string
		for _, a := range r.AlsoBinding() {
			also = append(also, fmt.Sprintf("%s (%.0f %%)", a.Name, 100*a.Use))
		}
		if len(also) == 0 {
			also = []string{"–"}
		}
		fmt.Fprintf(&b, "| %s | %.0f, %s | %.1f, %.2f | %.1f | %.1f / %d | %s | %s | %s | %.1f | $%.2f | %s (%.0f %%) | %s | %s |\n",
			thousands(r.Rate), r.EventsPerRequest, r.IngestTime.Round(time.Millisecond), r.IngestInvocations, r.IngestConcurrency,
			r.APIRequests, r.HotDomainConcurrency, r.HotDomainMax, lag, thousands(r.LedgerWriteUnits), thousands(r.HotStateWriteUnits),
			r.LambdaConcurrency, r.CostPerHour, l.Name, 100*l.Use, l.Moves, strings.Join(also, "; "))
	}
	if len(batches) > 0 {
		b.WriteString("\n| nightly batch | feed | feed events/s | feed time | hot-domain workers apply, events/s | last event applied after its arrival | ORDER.FILLED sent halfway waits |\n")
		b.WriteString("|---:|---|---:|---:|---:|---:|---:|\n")
		for _, bt := range batches {
			feed := "one subscription"
			if bt.Lanes {
				feed = "two lanes (batch categories apart)"
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s |\n", thousands(float64(bt.Events)), feed, thousands(bt.FeedRate),
				duration(bt.FeedTime), thousands(bt.DrainRate), duration(bt.LastEventLag), duration(bt.OrderFillWait))
		}
	}
	return b.String()
}

func duration(d time.Duration) string {
	switch {
	case d >= time.Minute:
		return d.Round(time.Second).String()
	case d >= time.Second:
		return d.Round(100 * time.Millisecond).String()
	default:
		return d.Round(time.Millisecond).String()
	}
}

// thousands formats n rounded, with thousands separators.
func thousands(n float64) string {
	s := fmt.Sprintf("%.0f", n)
	var out []byte
	for i, c := range []byte(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, c)
	}
	return string(out)
}
