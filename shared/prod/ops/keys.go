package ops

import (
	"context"
	"errors"
	"fmt"
	"io"
)

// KeySyncer fetches Upvest's verification keys (JWKS) with the customer's API
// client and syncs them into the SSM parameter the ingest function reads.
// shared/prod/keysync's Syncer is meant to be one.
type KeySyncer interface {
	Fetch(ctx context.Context) ([]byte, error)
	Sync(ctx context.Context) (changed bool, err error)
}

// ErrKeysNotConfigured means this build of the tool has no key syncer.
var ErrKeysNotConfigured = errors.New("key sync is not configured in this build: put Upvest's JWKS into the SSM parameter by hand (README, \"Load Upvest's keys into SSM\")")

// Keys runs `keys fetch` (prints Upvest's current JWKS) or `keys sync`
// (updates the SSM parameter when the keys changed).
func Keys(ctx context.Context, s KeySyncer, sub string, w io.Writer) error {
	if sub != "fetch" && sub != "sync" {
		return fmt.Errorf("keys: say fetch or sync, not %q", sub)
	}
	if s == nil {
		return ErrKeysNotConfigured
	}
	if sub == "fetch" {
		jwks, err := s.Fetch(ctx)
		if err != nil {
			return fmt.Errorf("fetch Upvest's keys: %w", err)
		}
		_, err = fmt.Fprintf(w, "%s\n", jwks)
		return err
	}
	changed, err := s.Sync(ctx)
	if err != nil {
		return fmt.Errorf("sync Upvest's keys: %w", err)
	}
	msg := "keys unchanged"
	if changed {
		msg = "keys changed: SSM parameter updated"
	}
	_, err = fmt.Fprintln(w, msg)
	return err
}
