package ops

import (
	"context"
	"fmt"
	"io"

	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/replay"
)

// ReplayLister lists what a replay can select; *ledger.Dynamo is one.
type ReplayLister interface {
	Parked(ctx context.Context, partition string) ([]string, error)
	Unrouted(ctx context.Context) ([]string, error)
}

// ReplaySelection is what to replay: one of a parked partition, the unrouted
// domain, or record keys.
type ReplaySelection struct {
	Parked   string
	Unrouted bool
	Keys     []string
}

// Check reports a selection that names nothing or more than one kind of thing.
func (s ReplaySelection) Check() error {
	switch {
	case s.Parked != "" && (s.Unrouted || len(s.Keys) > 0), s.Unrouted && len(s.Keys) > 0:
		return fmt.Errorf("%w: say one of -parked DOMAIN, -unrouted or record ids", ErrUsage)
	case s.Parked != "":
		if _, err := ParsePartition(s.Parked); err != nil {
			return fmt.Errorf("%w: %v", ErrUsage, err)
		}
	case !s.Unrouted && len(s.Keys) == 0:
		return fmt.Errorf("%w: nothing to replay: say -parked DOMAIN, -unrouted or record ids", ErrUsage)
	}
	return nil
}

// Resolve checks the selection and returns the record keys it names.
func (s ReplaySelection) Resolve(ctx context.Context, l ReplayLister) ([]string, error) {
	if err := s.Check(); err != nil {
		return nil, err
	}
	switch {
	case s.Parked != "":
		return l.Parked(ctx, s.Parked)
	case s.Unrouted:
		return l.Unrouted(ctx)
	}
	return s.Keys, nil
}

// ReplayedRecord is one record of a replay by selection, as -json prints it.
type ReplayedRecord struct {
	EventID string         `json:"event_id"`
	Outcome replay.Outcome `json:"outcome"`
	Domain  string         `json:"domain,omitempty"`
	Reason  string         `json:"reason,omitempty"`
}

// Replay replays the selected records and prints one line per record: key,
// outcome, domain, reason; or with asJSON, {"records": [...], "looked_at": N}.
// Stopped by an error, it prints the records done so far, then returns it.
func Replay(ctx context.Context, r *replay.Replayer, l ReplayLister, sel ReplaySelection, w io.Writer, asJSON bool) error {
	keys, err := sel.Resolve(ctx, l)
	if err != nil {
		return err
	}
	results, err := r.Replay(ctx, keys)
	if asJSON {
		out := struct {
			Records  []ReplayedRecord `json:"records"`
			LookedAt int              `json:"looked_at"`
		}{Records: []ReplayedRecord{}, LookedAt: len(results)}
		for _, res := range results {
			out.Records = append(out.Records, ReplayedRecord{res.EventID, res.Outcome, string(res.Domain), res.Reason})
		}
		if jerr := writeJSON(w, out); jerr != nil {
			return jerr
		}
		return err
	}
	for _, res := range results {
		fmt.Fprintf(w, "%s %s %s %s\n", res.EventID, res.Outcome, res.Domain, res.Reason)
	}
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%d record(s) looked at\n", len(results))
	return err
}
