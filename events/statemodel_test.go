package events

import "testing"

// stateModels writes down, per category, how its events become state rows
// (see shared/state's package doc for what each model does):
//
//   - LatestWins for lifecycles (an entity moves through statuses; the newest
//     event's object is the entity now) and snapshots (POSITION, CASH_BALANCE:
//     each event restates the whole current value).
//   - AppendOnly for facts that are written once: reports, valuations,
//     returns and booked transactions. A second event for the same entity is
//     a redelivery or a correction Upvest does not send; it never overwrites.
//
// This list must agree with the routing table: a new category needs a
// decision here too.
var stateModels = map[string]StateModel{
	"USER": LatestWins, "USER_CHECK": LatestWins, "BUSINESS": LatestWins, "BUSINESS_CHECK": LatestWins,
	"ACCOUNT": LatestWins, "ACCOUNT_GROUP": LatestWins, "ISA_WRAPPER": LatestWins,
	"ORDER": LatestWins, "ORDER_CANCELLATION": LatestWins, "EXECUTION": LatestWins, "ACCOUNT_LIQUIDATION": LatestWins,
	"POSITION": LatestWins, "CASH_BALANCE": LatestWins, // snapshots
	"CASH_TRANSACTION": AppendOnly, "SECURITY_TRANSACTION": AppendOnly, // booked transactions
	"DIRECT_DEBIT": LatestWins, "WITHDRAWAL": LatestWins, "TOPUP": LatestWins, "CREDIT_FUNDING": LatestWins,
	"VIRTUAL_CASH_INCREASE": LatestWins, "VIRTUAL_CASH_DECREASE": LatestWins, "MANDATE": LatestWins,
	"PORTFOLIO_ORDER": LatestWins, "PORTFOLIO_ALLOCATION": LatestWins, "REBALANCING_EXECUTION_ORDER": LatestWins,
	"SAVINGS_PLAN": LatestWins, "SAVINGS_PLAN_EXECUTION": LatestWins,
	"ACCOUNT_TRANSFER": LatestWins, "SECURITIES_TRANSFER": LatestWins, "ISA_TRANSFER": LatestWins,
	"CORPORATE_ACTION": LatestWins,
	"REPORT":           AppendOnly, "TREASURY_REPORT": AppendOnly, // reports
	"ACCOUNT_VALUATION": AppendOnly, "INTRADAY_ACCOUNT_VALUATION": AppendOnly, // valuations
	"ACCOUNT_RETURNS": AppendOnly, // returns, one per account and date
	"FEE_COLLECTION":  LatestWins, "TAX_COLLECTION": LatestWins, "TAX_EXEMPTION": LatestWins,
	"INSTRUMENT": LatestWins,
}

func TestStateModelPerCategory(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range Categories() {
		seen[c.Name] = true
		want, ok := stateModels[c.Name]
		if !ok {
			t.Errorf("%s: no state model decided in stateModels", c.Name)
			continue
		}
		if c.Model != want {
			t.Errorf("%s: routing table says %s, decision says %s", c.Name, c.Model, want)
		}
	}
	for name := range stateModels {
		if !seen[name] {
			t.Errorf("%s: decided here but not in the routing table", name)
		}
	}
}

// An append-only entity is written by its first event only, so its category
// must be a single one-shot event; a lifecycle added to it later must move it
// to LatestWins.
func TestAppendOnlyCategoriesAreOneShot(t *testing.T) {
	for _, c := range Categories() {
		if c.Model == AppendOnly && len(c.Types) != 1 {
			t.Errorf("%s is AppendOnly but has %d types %v; its later events would be dropped", c.Name, len(c.Types), c.Types)
		}
	}
}

// A parent view keeps the newest entry per child, which only makes sense
// for children that themselves change: LatestWins.
func TestViewsBelongToLatestWinsCategories(t *testing.T) {
	for _, c := range Categories() {
		if c.View == nil {
			continue
		}
		if c.Model != LatestWins {
			t.Errorf("%s keeps a view on %s but is %s", c.Name, c.View.Category, c.Model)
		}
		if parent, ok := Lookup(c.View.Category); !ok || parent.Domain != c.Domain {
			t.Errorf("%s's parent %s must be a known category of the same domain (one state table)", c.Name, c.View.Category)
		}
	}
}

func TestUnroutedIsLatestWins(t *testing.T) {
	if c, known := Lookup("SOMETHING_NEW"); known || c.Model != LatestWins || c.Domain != Unrouted {
		t.Errorf("unknown category = %+v (known %v), want LatestWins in %s", c, known, Unrouted)
	}
}
