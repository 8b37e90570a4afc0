// Package state keeps one row per entity in a domain's state table and moves
// it only forward, whatever order Upvest's events arrive in.
//
// Every event carries an ordering position (events.Route.Position: ordering
// timestamp, lifecycle rank, event created_at, event id) that compares as a
// string. Each change is one conditional UpdateItem, so concurrent workers
// and redeliveries need no locks and no reads: DynamoDB decides.
//
// LatestWins (lifecycles such as ORDER or ACCOUNT_TRANSFER, and snapshots such
// as POSITION or CASH_BALANCE): the row holds the object of the event with the
// highest position. An event applies when the row has no position yet or an
// older one; otherwise it is Stale, or Duplicate when the row holds this very
// event. The write SETs attributes one by one (never PutItem), so attributes
// owned by others, such as an ORDER's executions_view, survive it.
//
// AppendOnly (reports, valuations, returns, booked cash and security
// transactions): the first event for an entity is written and the row never
// changes again; any later event is Duplicate (same event id) or Stale.
//
// Parent views (EXECUTION → ORDER executions_view): after its own row, an
// event updates its entry in a map on the parent row, newest position per
// entry wins. No write leaves an empty map: the map is created holding its
// first entry. Which of the two conditional writes (create the map, or write
// the entry into it) comes first is a guess from the event's own write: when
// that made the child's row (its first event: an order's only execution, the
// common case), the map most likely does not exist yet; otherwise it does. A
// right guess costs one write, a wrong one two; neither can write a wrong row.
// So each real change is exactly one write, one version increment and one
// stream record. (Writing an empty map first and the entry second would emit
// an extra stream record whenever it creates the map, with an empty view.) An
// EXECUTION that arrives before its ORDER creates the ORDER row with only the
// view and no position, so the ORDER event still applies when it comes.
//
// version counts a row's real changes; no-op writes never happen, because a
// write whose condition fails changes nothing and emits no stream record.
package state
