package signature

import (
	"context"
	"crypto/ecdsa"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
)

// KeySource finds the verification key named by a signature's keyid. It
// returns an error wrapping ErrUnknownKey when no such key exists; any other
// error means the keys could not be loaded.
type KeySource interface {
	Key(ctx context.Context, kid string) (*ecdsa.PublicKey, error)
}

var (
	_ KeySource = StaticKeys(nil)
	_ KeySource = (*CachedKeys)(nil)
)

// StaticKeys is a fixed key set.
type StaticKeys KeySet

// Key implements KeySource.
func (s StaticKeys) Key(_ context.Context, kid string) (*ecdsa.PublicKey, error) {
	if key, ok := s[kid]; ok {
		return key, nil
	}
	return nil, ErrUnknownKey
}

// FileKeys reads a JWKS file once, at start. Each onSkipped (optional) is
// told about every key of the file that is not used (see ParseJWKS).
func FileKeys(path string, onSkipped ...func(SkippedKey)) (StaticKeys, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read keys: %w", err)
	}
	set, skipped, err := ParseJWKS(data)
	if err != nil {
		return nil, fmt.Errorf("keys in %s: %w", path, err)
	}
	for _, report := range onSkipped {
		for _, s := range skipped {
			report(s)
		}
	}
	return StaticKeys(set), nil
}

// Loader fetches a JWKS document.
type Loader func(ctx context.Context) ([]byte, error)

// CachedKeysOptions tune CachedKeys. Zero values mean the defaults.
type CachedKeysOptions struct {
	// RefreshInterval is how old the cached set may get before it is read
	// again (default 5 min).
	RefreshInterval time.Duration
	// MinRefreshInterval is the least time between two reads; it bounds the
	// reads an unknown keyid can cause (default 30 s).
	MinRefreshInterval time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// OnRefreshError is told when a refresh failed and the cached set was
	// kept (optional).
	OnRefreshError func(error)
	// OnSkippedKey is told, once per successful read, about every key of the
	// set that is not used: another curve or key type, or malformed (optional).
	OnSkippedKey func(SkippedKey)
}

// Defaults for CachedKeysOptions.
const (
	DefaultRefreshInterval    = 5 * time.Minute
	DefaultMinRefreshInterval = 30 * time.Second
)

// CachedKeys serves keys from a JWKS it reads through a Loader, re-reading it
// when it gets old or when an unknown keyid shows up, so that a key rotation
// needs no redeploy. A failed refresh keeps the cached set. It is safe for
// concurrent use.
type CachedKeys struct {
	load Loader
	opts CachedKeysOptions

	mu          sync.Mutex
	keys        KeySet
	loadedAt    time.Time // last successful read
	attemptedAt time.Time // last read, successful or not
	lastErr     error     // why the last read failed; nil once one succeeds
}

// NewCachedKeys returns keys read through load on first use.
func NewCachedKeys(load Loader, opts CachedKeysOptions) *CachedKeys {
	if opts.RefreshInterval == 0 {
		opts.RefreshInterval = DefaultRefreshInterval
	}
	if opts.MinRefreshInterval == 0 {
		opts.MinRefreshInterval = DefaultMinRefreshInterval
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &CachedKeys{load: load, opts: opts}
}

// Load reads the key set now; call it at start to fail fast on bad config.
func (c *CachedKeys) Load(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.refresh(ctx)
}

// Preload starts reading the key set now, in the background, so that a cold
// start does not wait for it: a Key call made meanwhile waits for this read
// instead of starting another. A failed read is passed to onErr (optional);
// the first Key call then tries again.
func (c *CachedKeys) Preload(ctx context.Context, onErr func(error)) {
	c.mu.Lock() // held until the read is done: Key waits for it
	go func() {
		defer c.mu.Unlock()
		if err := c.refresh(ctx); err != nil && onErr != nil {
			onErr(err)
		}
	}()
}

// Key implements KeySource.
func (c *CachedKeys) Key(ctx context.Context, kid string) (*ecdsa.PublicKey, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.opts.Now()
	switch {
	case c.keys == nil:
		if err := c.refresh(ctx); err != nil {
			return nil, err // no keys at all: an internal error, not a 401
		}
	case now.Sub(c.loadedAt) >= c.opts.RefreshInterval && c.mayRefresh(now):
		c.refreshKeepingOld(ctx)
	}
	if key, ok := c.keys[kid]; ok {
		return key, nil
	}
	if c.mayRefresh(now) {
		// A new kid may be a rotation: read the set again. If that read fails
		// we cannot tell, which is an internal error, not a 401.
		if err := c.refresh(ctx); err != nil {
			return nil, err
		}
		if key, ok := c.keys[kid]; ok {
			return key, nil
		}
	}
	if c.lastErr != nil {
		// The last read failed (the periodic one, or one a moment ago): the
		// kid may be a rotation that read would have brought.
		return nil, c.lastErr
	}
	return nil, ErrUnknownKey
}

func (c *CachedKeys) mayRefresh(now time.Time) bool {
	return now.Sub(c.attemptedAt) >= c.opts.MinRefreshInterval
}

func (c *CachedKeys) refreshKeepingOld(ctx context.Context) {
	if err := c.refresh(ctx); err != nil && c.opts.OnRefreshError != nil {
		c.opts.OnRefreshError(err)
	}
}

// refresh reads the set; on failure it leaves the cached set as it was.
func (c *CachedKeys) refresh(ctx context.Context) error {
	c.attemptedAt = c.opts.Now()
	data, err := c.load(ctx)
	if err != nil {
		c.lastErr = fmt.Errorf("load verification keys: %w", err)
		return c.lastErr
	}
	keys, skipped, err := ParseJWKS(data)
	if err != nil {
		c.lastErr = fmt.Errorf("load verification keys: %w", err)
		return c.lastErr
	}
	if c.opts.OnSkippedKey != nil {
		for _, s := range skipped {
			c.opts.OnSkippedKey(s)
		}
	}
	c.keys, c.loadedAt, c.lastErr = keys, c.attemptedAt, nil
	return nil
}

// SSMGetParameterAPI is the part of the SSM client SSMParameterLoader needs.
type SSMGetParameterAPI interface {
	GetParameter(ctx context.Context, in *ssm.GetParameterInput, optFns ...func(*ssm.Options)) (*ssm.GetParameterOutput, error)
}

var _ SSMGetParameterAPI = (*ssm.Client)(nil)

// SSMParameterLoader reads the JWKS from an SSM parameter (String or
// SecureString).
func SSMParameterLoader(client SSMGetParameterAPI, name string) Loader {
	return func(ctx context.Context) ([]byte, error) {
		out, err := client.GetParameter(ctx, &ssm.GetParameterInput{
			Name:           aws.String(name),
			WithDecryption: aws.Bool(true),
		})
		if err != nil {
			return nil, fmt.Errorf("ssm parameter %s: %w", name, err)
		}
		if out.Parameter == nil || out.Parameter.Value == nil {
			return nil, fmt.Errorf("ssm parameter %s has no value", name)
		}
		return []byte(*out.Parameter.Value), nil
	}
}
