package perf_test

import (
	"testing"

	upvest "github.com/upvest-webhooks/upvest-webhooks/events"
)

// The day mix has issue 20's shape: ORDER lifecycles with their EXECUTIONs,
// ACCOUNT lifecycles, POSITION and CASH_BALANCE snapshots over rows that exist
// (yesterday's row is written once per entity, before its first event), and
// transactions and REPORTs, which append: each filled order booked by one
// CASH_TRANSACTION and one SECURITY_TRANSACTION.
func TestDayOfTrafficHasTheIssuesShape(t *testing.T) {
	yesterdays := map[string]int{}
	day := newDayOfTraffic(t, newEventSource(t), func(e event) error {
		_, route, err := upvest.ClassifyRaw(e.Raw)
		if err != nil {
			return err
		}
		yesterdays[route.EntityKey]++
		return nil
	})
	types := map[string]int{}
	snapshotEntities := map[string]bool{}
	evs := day.Events(3000)
	for i, e := range evs {
		ev, route, err := upvest.ClassifyRaw(e.Raw)
		if err != nil {
			t.Fatalf("event %d does not classify: %v", i, err)
		}
		types[route.Category]++
		if restated[route.Category] {
			snapshotEntities[route.EntityKey] = true
		}
		if ev.Type == "ORDER.FILLED" && i+2 < len(evs) {
			_, next, _ := upvest.ClassifyRaw(evs[i+1].Raw)
			_, after, _ := upvest.ClassifyRaw(evs[i+2].Raw)
			if next.Category != "CASH_TRANSACTION" || after.Category != "SECURITY_TRANSACTION" {
				t.Errorf("ORDER.FILLED at %d is followed by %s and %s, want its CASH_TRANSACTION and SECURITY_TRANSACTION", i, next.Category, after.Category)
			}
		}
	}
	for _, category := range []string{"ORDER", "EXECUTION", "ACCOUNT", "POSITION", "CASH_BALANCE", "REPORT", "CASH_TRANSACTION", "SECURITY_TRANSACTION"} {
		if types[category] == 0 {
			t.Errorf("no %s event in %d events of the day (%v)", category, len(evs), types)
		}
	}
	if len(yesterdays) != len(snapshotEntities) {
		t.Errorf("yesterday's row written for %d entities, want the %d snapshot entities", len(yesterdays), len(snapshotEntities))
	}
	for key, n := range yesterdays {
		if n != 1 || !snapshotEntities[key] {
			t.Errorf("yesterday's row of %s written %d times (a snapshot entity: %v), want once", key, n, snapshotEntities[key])
		}
	}
}
