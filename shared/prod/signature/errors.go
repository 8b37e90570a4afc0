package signature

import (
	"errors"
	"fmt"
)

// ErrUnauthenticated is wrapped by every verification failure: the caller
// answers 401. Errors that do not wrap it (a key source that cannot load
// keys) are internal: the caller answers 5xx so that Upvest retries.
var ErrUnauthenticated = errors.New("request not authenticated")

// Specific reasons; each one wraps ErrUnauthenticated.
var (
	ErrMissingHeader       = authError("missing header")
	ErrDigestMismatch      = authError("digest does not match the body")
	ErrMalformed           = authError("malformed signature")
	ErrExpired             = authError("signature expired")
	ErrNotYetValid         = authError("signature created in the future")
	ErrTooOld              = authError("signature too old")
	ErrUnknownKey          = authError("unknown key id")
	ErrBadSignature        = authError("signature does not verify")
	ErrComponentNotCovered = authError("required component not covered by the signature")
)

func authError(reason string) error {
	return fmt.Errorf("%w: %s", ErrUnauthenticated, reason)
}
