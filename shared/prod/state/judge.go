package state

import "github.com/upvest-webhooks/upvest-webhooks/events"

// Standing is what became of an event, derived from its entity's state row
// (the ledger does not record settled outcomes: see package ledger).
type Standing string

const (
	// Holds: the row holds this event; it was applied.
	Holds Standing = "applied"
	// Superseded: the row holds a newer event (for an append-only entity, any
	// other event); this one was applied before it or skipped as stale.
	// Either way nothing more will happen to it.
	Superseded Standing = "settled"
	// Pending: the row is older than the event, made by a view only, or
	// absent: the event has not reached it yet (it is on its queue, in its
	// dead-letter queue, or lost).
	Pending Standing = "pending"
)

// Judge derives an event's standing from its entity's row (nil: no row) and
// its route, which gives the row's model and the event's position. Positions
// compare as strings and equal positions mean the same event, so a row never
// holds another event at the same position.
func Judge(row *Row, eventID string, r events.Route) Standing {
	switch {
	case row == nil || row.Position == "":
		return Pending
	case row.EventID == eventID:
		return Holds
	case r.Model == events.AppendOnly:
		return Superseded // written once, by another event
	case row.Position > r.Position:
		return Superseded
	}
	return Pending
}

// JudgeView derives an event's standing in its parent's view (an EXECUTION's
// entry in its ORDER's executions_view) from the parent row (nil: none). A
// worker writes the view after the event's own row, so an event is done only
// when both say so (see Done).
func JudgeView(parent *Row, eventID string, r events.Route) Standing {
	if r.Parent == nil {
		return Holds
	}
	if parent == nil {
		return Pending
	}
	entry, ok := parent.Views[r.Parent.Attribute][r.Parent.EntryID]
	switch {
	case !ok:
		return Pending
	case entry.EventID == eventID:
		return Holds
	case entry.Position > r.Position:
		return Superseded
	}
	return Pending
}

// Done combines an event's standing in its own row and in its parent's view:
// pending if either is, else its own row's standing.
func Done(own, view Standing) Standing {
	if view == Pending {
		return Pending
	}
	return own
}
