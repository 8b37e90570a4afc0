package streams

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"

	upvest "github.com/upvest-webhooks/upvest-webhooks/events"
)

// FormatChange renders a change as one human-readable line, e.g.
//
//	orders ORDER#eb5ba93f… NEW→FILLED v3 ORDER.FILLED
//
// Ids are shortened to their first 8 characters; "∅" marks a row that did not
// exist before (INSERT) or no longer exists (REMOVE). Rows without a status
// show "created", "changed" or "removed" instead.
func FormatChange(c Change) string {
	var b strings.Builder
	where := string(c.Domain)
	if where == "" {
		where = c.Table
	}
	if where == "" {
		where = "?"
	}
	b.WriteString(where)
	b.WriteString(" ")
	b.WriteString(shortKey(c.Key))
	b.WriteString(" ")
	b.WriteString(statusTransition(c))
	version := c.NewVersion
	if c.Kind == Remove {
		version = c.OldVersion
	}
	fmt.Fprintf(&b, " v%d", version)
	if c.EventType != "" {
		b.WriteString(" ")
		b.WriteString(c.EventType)
	}
	attrs := make([]string, 0, len(c.Views))
	for a := range c.Views {
		attrs = append(attrs, a)
	}
	sort.Strings(attrs)
	for _, a := range attrs {
		b.WriteString(" ")
		b.WriteString(viewText(a, c.Views[a]))
	}
	return b.String()
}

func statusTransition(c Change) string {
	if c.OldStatus == "" && c.NewStatus == "" { // objects without a status (POSITION, CASH_BALANCE, ...)
		return map[Kind]string{Insert: "created", Modify: "changed", Remove: "removed"}[c.Kind]
	}
	show := func(s string) string {
		if s == "" {
			return "-"
		}
		return s
	}
	switch c.Kind {
	case Insert:
		return "∅→" + show(c.NewStatus)
	case Remove:
		return show(c.OldStatus) + "→∅"
	}
	if c.OldStatus == c.NewStatus {
		return show(c.NewStatus)
	}
	return show(c.OldStatus) + "→" + show(c.NewStatus)
}

// viewText renders "executions=3(FILLED:2,SETTLED:1)".
func viewText(attr string, v ViewSummary) string {
	name := strings.TrimSuffix(attr, "_view")
	if len(v.ByStatus) == 0 {
		return fmt.Sprintf("%s=%d", name, v.Count)
	}
	statuses := make([]string, 0, len(v.ByStatus))
	for s := range v.ByStatus {
		statuses = append(statuses, s)
	}
	sort.Strings(statuses)
	parts := make([]string, len(statuses))
	for i, s := range statuses {
		parts[i] = fmt.Sprintf("%s:%d", s, v.ByStatus[s])
	}
	return fmt.Sprintf("%s=%d(%s)", name, v.Count, strings.Join(parts, ","))
}

// shortKey shortens the UUIDs inside an entity key ("ORDER#eb5ba93f-…" → "ORDER#eb5ba93f…")
// and leaves other parts (ISINs, currencies, dates) as they are.
func shortKey(key string) string {
	parts := strings.Split(key, "#")
	for i, p := range parts {
		if upvest.IsUUID(p) {
			parts[i] = p[:8] + "…"
		}
	}
	return strings.Join(parts, "#")
}

// FormatLines returns a sink that writes each change as FormatChange's line.
func FormatLines(w io.Writer) Sink {
	return func(_ context.Context, c Change) error {
		if _, err := fmt.Fprintln(w, FormatChange(c)); err != nil {
			return fmt.Errorf("write change %s: %w", c.Key, err)
		}
		return nil
	}
}
