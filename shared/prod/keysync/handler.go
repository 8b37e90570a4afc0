package keysync

import (
	"context"
	"encoding/json"
)

// Service names the keysync function in logs.
const Service = "keysync"

// Result is what the keysync Lambda answers (shown by `aws lambda invoke`).
type Result struct {
	Changed   bool   `json:"changed"`
	Parameter string `json:"parameter"`
}

// Handle is the Lambda handler for the schedule and for on-demand runs; the
// event's content does not matter. A failure is returned as the invocation's
// error, so that the function's Errors metric (and its alarm) shows it.
func (s *Syncer) Handle(ctx context.Context, _ json.RawMessage) (Result, error) {
	changed, err := s.Sync(ctx)
	if err != nil {
		s.log().Error("jwks sync failed", "parameter", s.Parameter, "error", err.Error())
		return Result{}, err
	}
	return Result{Changed: changed, Parameter: s.Parameter}, nil
}
