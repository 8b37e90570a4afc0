package events

import (
	"errors"
	"fmt"
	"time"
)

// MaxAhead is how far an event's ordering time may lie past the receiver's
// clock. A row only moves forward, so an event ordered at 9999-12-31 would
// make every later real event of its entity stale, and one an hour ahead
// would do it for an hour: every real event in that hour would be skipped
// for good. Upvest stamps updated_at and created_at before it sends, so a
// real event is never ahead by more than the clocks' difference, which NTP
// keeps under a second; 5 minutes, the signature's own freshness window,
// leaves room for a badly drifting clock while bounding what one event can hide.
const MaxAhead = 5 * time.Minute

// ErrAhead means an event's ordering time is too far past the receiver's
// clock: applied, it would pin its entity's row. It is parked with this reason;
// it is parked again, not applied, if replayed before its time.
var ErrAhead = errors.New("ordering time ahead of the receiver's clock")

// CheckAhead returns an ErrAhead error when r's ordering time lies more than
// MaxAhead past now.
func CheckAhead(r Route, now time.Time) error {
	if ahead := r.OrderedAt.Sub(now); ahead > MaxAhead {
		return fmt.Errorf("%w: %s %s is %s ahead, more than the %s tolerated; applied, it would keep every later event of %s from its row until then",
			ErrAhead, r.OrderedBy, SortableTime(r.OrderedAt), ahead.Round(time.Second), MaxAhead, Truncate(r.EntityKey, 200))
	}
	return nil
}

// ClassifyAt is ClassifyRaw for an event handled at now: an event whose
// ordering time lies too far ahead is refused with ErrAhead (its Route is
// returned too, for labels).
func ClassifyAt(raw []byte, now time.Time) (Event, Route, error) {
	e, r, err := ClassifyRaw(raw)
	if err != nil {
		return e, r, err
	}
	return e, r, CheckAhead(r, now)
}
