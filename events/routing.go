package events

import "sort"

// Domain names one pipeline: a queue, its dead-letter queue, a worker and a state table.
type Domain string

// The domains. Unrouted takes every category the table does not know, so that
// an event of a new category is kept for later instead of being rejected.
const (
	Users            Domain = "users"
	Accounts         Domain = "accounts"
	Orders           Domain = "orders"
	Holdings         Domain = "holdings"
	Transactions     Domain = "transactions"
	Payments         Domain = "payments"
	Portfolios       Domain = "portfolios"
	Transfers        Domain = "transfers"
	CorporateActions Domain = "corporate_actions"
	Reports          Domain = "reports"
	FeesTaxes        Domain = "fees_taxes"
	Instruments      Domain = "instruments"
	Unrouted         Domain = "unrouted"
)

// StateModel says how a category's events become rows of its domain's state table.
type StateModel string

const (
	// LatestWins: the row is the object of the newest event (by ordering
	// position); older and duplicate events change nothing. Lifecycles
	// (ORDER, ACCOUNT_TRANSFER, ...) and snapshots (POSITION, CASH_BALANCE) use it.
	LatestWins StateModel = "latest_wins"
	// AppendOnly: each entity is written once and never changed (reports,
	// valuations, returns, booked transactions); a second event for it changes nothing.
	AppendOnly StateModel = "append_only"
)

// routingTable is THE routing table: one line per Upvest category, and adding
// a category is adding one line. The line decides everything about it:
//
//   - the domain (queue, worker, state table);
//   - the types, in lifecycle order (the order only breaks ties between events
//     whose ordering timestamps are equal);
//   - the state model, by its constructor: latest (LatestWins) for lifecycles,
//     where an entity moves through statuses, and snapshots (POSITION,
//     CASH_BALANCE: each event restates the whole value); appendOnly
//     (AppendOnly) for facts written once (reports, valuations, returns, booked
//     transactions): a second event for the entity is a redelivery and never
//     overwrites. statemodel_test.go checks the choice fits (appendOnly needs a
//     single one-shot type); shared/prod/state's package doc says what each model does;
//   - the entity key (keyedBy, keyForType; default the object's id) and a view
//     on a parent row (viewOn).
var routingTable = []Category{
	latest("USER", Users, "CREATED ACTIVATED DATA_CHANGED DATA_CHANGE_FAILED OFFBOARDING_INITIATED DEACTIVATED OFFBOARDED").
		keyForType("DATA_CHANGE_FAILED", "user_id"),
	latest("USER_CHECK", Users, "CREATED PASSED FAILED"),
	latest("BUSINESS", Users, "CREATED ACTIVATED DATA_CHANGED DATA_CHANGE_FAILED OFFBOARDING_INITIATED DEACTIVATED OFFBOARDED"),
	latest("BUSINESS_CHECK", Users, "CREATED PASSED FAILED"),
	latest("ACCOUNT", Accounts, "CREATED ACTIVATED UPDATED LOCKED CLOSING_INITIATED CLOSED"),
	latest("ACCOUNT_GROUP", Accounts, "CREATED ACTIVATED UPDATED LOCKED CLOSING_INITIATED CLOSED"),
	latest("ISA_WRAPPER", Accounts, "NEW ACTIVE INACTIVE CLOSED"),
	latest("ORDER", Orders, "NEW PROCESSING FILLED CANCELLED"),
	latest("ORDER_CANCELLATION", Orders, "REJECTED").keyedBy("order_id"),
	latest("EXECUTION", Orders, "FILLED SETTLED CANCELLED").viewOn("ORDER", "order_id", "executions_view"),
	latest("ACCOUNT_LIQUIDATION", Orders, "NEW PROCESSING FILLED SETTLED CANCELLED"),
	latest("POSITION", Holdings, "UPDATED").keyedBy("account_id", "instrument.uuid|instrument.isin"),
	latest("CASH_BALANCE", Holdings, "UPDATED").keyedBy("account_group_id", "currency"),
	appendOnly("CASH_TRANSACTION", Transactions, "EXECUTED"),
	appendOnly("SECURITY_TRANSACTION", Transactions, "EXECUTED"),
	latest("DIRECT_DEBIT", Payments, "NEW PROCESSING CONFIRMED CANCELLED"),
	latest("WITHDRAWAL", Payments, "NEW PROCESSING CONFIRMED CANCELLED"),
	latest("TOPUP", Payments, "CONFIRMED SETTLED CANCELLED"),
	latest("CREDIT_FUNDING", Payments, "CONFIRMED CANCELLED"),
	latest("VIRTUAL_CASH_INCREASE", Payments, "ISSUED CONFIRMED CANCELLED"),
	latest("VIRTUAL_CASH_DECREASE", Payments, "ISSUED QUEUED CONFIRMED CANCELLED"),
	latest("MANDATE", Payments, ""), // no MANDATE type is documented; routed in case one arrives
	latest("PORTFOLIO_ORDER", Portfolios, "NEW PROCESSING FILLED SETTLED CANCELLED"),
	latest("PORTFOLIO_ALLOCATION", Portfolios, "CREATED CHANGED"),
	latest("REBALANCING_EXECUTION_ORDER", Portfolios, "NEW PROCESSING FILLED CANCELLED"),
	latest("SAVINGS_PLAN", Portfolios, "CREATED CANCELLED"),
	latest("SAVINGS_PLAN_EXECUTION", Portfolios, "NEW PROCESSING DATA_CHANGED FILLED CANCELLED"),
	latest("ACCOUNT_TRANSFER", Transfers, "NEW PROCESSING PARTIALLY_SETTLED SETTLED CANCELLED"),
	latest("SECURITIES_TRANSFER", Transfers, "NEW PROCESSING DATA_CHANGE SETTLED CANCELLED"),
	latest("ISA_TRANSFER", Transfers, "NEW DISCOVERY DISCOVERY_CONFIRMED INSTRUCTED PROCESSING SETTLED"),
	latest("CORPORATE_ACTION", CorporateActions, "UPDATED"),
	appendOnly("REPORT", Reports, "CREATED"),
	appendOnly("TREASURY_REPORT", Reports, "CREATED"),
	appendOnly("ACCOUNT_VALUATION", Reports, "CREATED"),
	appendOnly("INTRADAY_ACCOUNT_VALUATION", Reports, "CREATED"),
	appendOnly("ACCOUNT_RETURNS", Reports, "CREATED").keyedBy("account_id", "date"),
	latest("FEE_COLLECTION", FeesTaxes, "CREATED FINALISED CANCELLED"),
	latest("TAX_COLLECTION", FeesTaxes, "CREATED FINALISED CANCELLED"),
	latest("TAX_EXEMPTION", FeesTaxes, "CREATED CREATION_FAILED UPDATED UPDATE_FAILED DELETED DELETION_FAILED"),
	latest("INSTRUMENT", Instruments, "ONBOARDED ACTIVATED DATA_CHANGED FRACTIONAL_TRADING_ENABLED FRACTIONAL_TRADING_DISABLED DEACTIVATED"),
}

// unroutedCategory describes any category the table does not know.
var unroutedCategory = Category{Domain: Unrouted, Model: LatestWins, Key: KeySpec{"id"}}

// byName indexes the routing table (TestRoutingTableListsEachCategoryOnce
// keeps a category from being listed twice).
var byName = func() map[string]Category {
	m := make(map[string]Category, len(routingTable))
	for _, c := range routingTable {
		m[c.Name] = c
	}
	return m
}()

// Lookup returns the category for a name, and whether the routing table knows it.
// An unknown name gets the unrouted category (domain Unrouted), never an error.
func Lookup(name string) (Category, bool) {
	if c, ok := byName[name]; ok {
		return c, true
	}
	c := unroutedCategory
	c.Name = name
	return c, false
}

// Categories returns every category of the routing table, in table order.
func Categories() []Category {
	out := make([]Category, len(routingTable))
	copy(out, routingTable)
	return out
}

// Domains returns every domain, Unrouted included, sorted by name. Queues,
// workers and state tables are derived from this list.
func Domains() []Domain {
	seen := map[Domain]bool{Unrouted: true}
	out := []Domain{Unrouted}
	for _, c := range routingTable {
		if !seen[c.Domain] {
			seen[c.Domain] = true
			out = append(out, c.Domain)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// ParseDomain returns the domain with that name, or false if there is none.
func ParseDomain(name string) (Domain, bool) {
	for _, d := range Domains() {
		if string(d) == name {
			return d, true
		}
	}
	return "", false
}
