package signature

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
)

// fakeLoader serves a JWKS document or an error, and counts reads.
type fakeLoader struct {
	doc   []byte
	err   error
	reads int
}

func (f *fakeLoader) load(context.Context) ([]byte, error) {
	f.reads++
	return f.doc, f.err
}

// fakeClock is a clock the test moves by hand.
type fakeClock struct{ now time.Time }

func (c *fakeClock) Now() time.Time          { return c.now }
func (c *fakeClock) advance(d time.Duration) { c.now = c.now.Add(d) }

func jwksOf(t *testing.T, keys map[string]*ecdsa.PublicKey) []byte {
	t.Helper()
	doc, err := MarshalJWKS(keys)
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

func newCached(t *testing.T) (*CachedKeys, *fakeLoader, *fakeClock, *[]error) {
	t.Helper()
	loader := &fakeLoader{doc: jwksOf(t, map[string]*ecdsa.PublicKey{"k1": &testKey.PublicKey})}
	clock := &fakeClock{now: testNow}
	var reported []error
	keys := NewCachedKeys(loader.load, CachedKeysOptions{
		Now:            clock.Now,
		OnRefreshError: func(err error) { reported = append(reported, err) },
	})
	return keys, loader, clock, &reported
}

func mustKey(t *testing.T, keys KeySource, kid string) *ecdsa.PublicKey {
	t.Helper()
	key, err := keys.Key(context.Background(), kid)
	if err != nil {
		t.Fatalf("Key(%q): %v", kid, err)
	}
	return key
}

func TestCachedKeysLoadsOnceThenServesFromCache(t *testing.T) {
	keys, loader, clock, _ := newCached(t)
	if !mustKey(t, keys, "k1").Equal(&testKey.PublicKey) {
		t.Fatal("wrong key")
	}
	clock.advance(DefaultRefreshInterval - time.Second)
	mustKey(t, keys, "k1")
	if loader.reads != 1 {
		t.Fatalf("reads = %d, want 1", loader.reads)
	}
}

func TestCachedKeysRefreshesWhenOld(t *testing.T) {
	keys, loader, clock, _ := newCached(t)
	mustKey(t, keys, "k1")
	loader.doc = jwksOf(t, map[string]*ecdsa.PublicKey{"k1": &otherKey.PublicKey})
	clock.advance(DefaultRefreshInterval)
	if !mustKey(t, keys, "k1").Equal(&otherKey.PublicKey) {
		t.Fatal("old set still served after the refresh interval")
	}
	if loader.reads != 2 {
		t.Fatalf("reads = %d, want 2", loader.reads)
	}
}

// Key rotation: a new kid is found without a redeploy, and unknown kids
// cannot make the source read more than once per minimum interval.
func TestCachedKeysUnknownKidRefreshesAtMostOncePerInterval(t *testing.T) {
	keys, loader, clock, _ := newCached(t)
	mustKey(t, keys, "k1")
	loader.doc = jwksOf(t, map[string]*ecdsa.PublicKey{"k1": &testKey.PublicKey, "k2": &otherKey.PublicKey})

	clock.advance(DefaultMinRefreshInterval - time.Second)
	if _, err := keys.Key(context.Background(), "k2"); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("within the minimum interval: error = %v, want ErrUnknownKey", err)
	}
	if loader.reads != 1 {
		t.Fatalf("reads = %d within the minimum interval, want 1", loader.reads)
	}

	clock.advance(time.Second)
	if !mustKey(t, keys, "k2").Equal(&otherKey.PublicKey) {
		t.Fatal("rotated key not found")
	}
	for range 5 {
		if _, err := keys.Key(context.Background(), "nobody"); !errors.Is(err, ErrUnknownKey) {
			t.Fatalf("error = %v, want ErrUnknownKey", err)
		}
	}
	if loader.reads != 2 {
		t.Fatalf("reads = %d after a burst of unknown kids, want 2", loader.reads)
	}
}

func TestCachedKeysKeepsOldSetWhenRefreshFails(t *testing.T) {
	keys, loader, clock, reported := newCached(t)
	mustKey(t, keys, "k1")
	loader.err = errors.New("ssm throttled")
	clock.advance(DefaultRefreshInterval)
	if !mustKey(t, keys, "k1").Equal(&testKey.PublicKey) {
		t.Fatal("cached key lost after a failed refresh")
	}
	if len(*reported) != 1 || !errors.Is((*reported)[0], loader.err) {
		t.Fatalf("reported = %v, want the loader's error once", *reported)
	}
	// A bad document is a failed refresh too.
	loader.err, loader.doc = nil, []byte(`{"keys":[]}`)
	clock.advance(DefaultRefreshInterval)
	mustKey(t, keys, "k1")
	if len(*reported) != 2 {
		t.Fatalf("reported %d errors, want 2", len(*reported))
	}
}

// Without any key set, a load failure is internal (5xx), not a 401.
func TestCachedKeysFirstLoadFailureIsInternal(t *testing.T) {
	keys, loader, _, _ := newCached(t)
	loader.err = errors.New("no route to ssm")
	_, err := keys.Key(context.Background(), "k1")
	if !errors.Is(err, loader.err) || errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("error = %v, want the loader's error and not ErrUnauthenticated", err)
	}
	loader.err = nil
	mustKey(t, keys, "k1")
}

func TestCachedKeysLoad(t *testing.T) {
	keys, loader, _, _ := newCached(t)
	if err := keys.Load(context.Background()); err != nil {
		t.Fatalf("Load: %v", err)
	}
	mustKey(t, keys, "k1")
	if loader.reads != 1 {
		t.Fatalf("reads = %d, want 1", loader.reads)
	}
	loader.doc = []byte("not json")
	if err := keys.Load(context.Background()); err == nil {
		t.Fatal("Load accepted a bad document")
	}
}

func TestStaticAndFileKeys(t *testing.T) {
	path := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(path, jwksOf(t, map[string]*ecdsa.PublicKey{"k1": &testKey.PublicKey}), 0o600); err != nil {
		t.Fatal(err)
	}
	keys, err := FileKeys(path)
	if err != nil {
		t.Fatalf("FileKeys: %v", err)
	}
	if !mustKey(t, keys, "k1").Equal(&testKey.PublicKey) {
		t.Fatal("wrong key")
	}
	if _, err := keys.Key(context.Background(), "k2"); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("unknown kid: error = %v, want ErrUnknownKey", err)
	}
	if _, err := FileKeys(filepath.Join(t.TempDir(), "missing.json")); err == nil {
		t.Fatal("FileKeys accepted a missing file")
	}
}

// fakeSSM records the request and answers with a value or an error.
type fakeSSM struct {
	in    *ssm.GetParameterInput
	value *string
	err   error
}

func (f *fakeSSM) GetParameter(_ context.Context, in *ssm.GetParameterInput, _ ...func(*ssm.Options)) (*ssm.GetParameterOutput, error) {
	f.in = in
	if f.err != nil {
		return nil, f.err
	}
	return &ssm.GetParameterOutput{Parameter: &ssmtypes.Parameter{Value: f.value}}, nil
}

func TestSSMParameterLoader(t *testing.T) {
	client := &fakeSSM{value: aws.String(`{"keys":[]}`)}
	got, err := SSMParameterLoader(client, "/upvest/jwks")(context.Background())
	if err != nil || string(got) != `{"keys":[]}` {
		t.Fatalf("loader = %q, %v", got, err)
	}
	if aws.ToString(client.in.Name) != "/upvest/jwks" || !aws.ToBool(client.in.WithDecryption) {
		t.Fatalf("request = name %q, decryption %v; want /upvest/jwks with decryption",
			aws.ToString(client.in.Name), aws.ToBool(client.in.WithDecryption))
	}

	client = &fakeSSM{err: errors.New("access denied")}
	if _, err := SSMParameterLoader(client, "/p")(context.Background()); !errors.Is(err, client.err) {
		t.Fatalf("error = %v, want the SSM error", err)
	}
	client = &fakeSSM{}
	if _, err := SSMParameterLoader(client, "/p")(context.Background()); err == nil {
		t.Fatal("a parameter without value was accepted")
	}
}

// An unknown kid while the source is down cannot be told from a rotation:
// internal error, so the caller answers 5xx and Upvest retries.
func TestCachedKeysUnknownKidWhileSourceIsDown(t *testing.T) {
	keys, loader, clock, _ := newCached(t)
	mustKey(t, keys, "k1")
	loader.err = errors.New("ssm down")
	clock.advance(DefaultMinRefreshInterval)
	_, err := keys.Key(context.Background(), "k2")
	if !errors.Is(err, loader.err) || errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("error = %v, want the loader's error and not ErrUnauthenticated", err)
	}
	if !mustKey(t, keys, "k1").Equal(&testKey.PublicKey) {
		t.Fatal("known key lost")
	}
}

// jwksWithForeignKey is a set with k1 (testKey) and an Ed25519 key.
func jwksWithForeignKey(t *testing.T) []byte {
	t.Helper()
	return []byte(`{"keys":[` + jwkOf(t, "k1", &testKey.PublicKey) + `,` + foreignKeys(t)["Ed25519 key"] + `]}`)
}

// The local run reads a JWKS file: a foreign key in it is reported, not fatal.
func TestFileKeysSkipsForeignKeys(t *testing.T) {
	path := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(path, jwksWithForeignKey(t), 0o600); err != nil {
		t.Fatal(err)
	}
	var skipped []SkippedKey
	keys, err := FileKeys(path, func(s SkippedKey) { skipped = append(skipped, s) })
	if err != nil {
		t.Fatalf("FileKeys: %v", err)
	}
	if !mustKey(t, keys, "k1").Equal(&testKey.PublicKey) {
		t.Fatal("wrong key")
	}
	if len(skipped) != 1 || skipped[0].Kid != "ed" || skipped[0].Index != 1 {
		t.Fatalf("skipped = %v, want the Ed25519 key once", skipped)
	}
	if _, err := FileKeys(path); err != nil { // no reporter: still fine
		t.Fatalf("FileKeys without a reporter: %v", err)
	}
}

// CachedKeys reports a skipped key once per read of the set, not per request.
func TestCachedKeysReportsSkippedKeysOncePerLoad(t *testing.T) {
	loader := &fakeLoader{doc: jwksWithForeignKey(t)}
	clock := &fakeClock{now: testNow}
	var skipped []SkippedKey
	keys := NewCachedKeys(loader.load, CachedKeysOptions{
		Now:          clock.Now,
		OnSkippedKey: func(s SkippedKey) { skipped = append(skipped, s) },
	})
	if err := keys.Load(context.Background()); err != nil {
		t.Fatalf("Load: %v", err)
	}
	for range 3 {
		mustKey(t, keys, "k1")
	}
	if len(skipped) != 1 || skipped[0].Kid != "ed" {
		t.Fatalf("after one read: skipped = %v, want the Ed25519 key once", skipped)
	}
	clock.advance(DefaultRefreshInterval)
	mustKey(t, keys, "k1")
	if loader.reads != 2 || len(skipped) != 2 {
		t.Fatalf("after a refresh: reads %d, skipped %v; want 2 and 2", loader.reads, skipped)
	}
	if _, err := keys.Key(context.Background(), "ed"); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("the skipped key is served: error = %v", err)
	}
}

// A Key call made while Preload's read is under way waits for that read
// instead of starting another: the first request after a cold start costs one
// SSM read, made in parallel with the runtime's first /next.
func TestCachedKeysPreloadIsWaitedFor(t *testing.T) {
	doc := jwksOf(t, map[string]*ecdsa.PublicKey{"k1": &testKey.PublicKey})
	release := make(chan struct{})
	var reads atomic.Int32
	keys := NewCachedKeys(func(context.Context) ([]byte, error) {
		reads.Add(1)
		<-release
		return doc, nil
	}, CachedKeysOptions{})
	keys.Preload(context.Background(), func(err error) { t.Errorf("Preload: %v", err) })
	got := make(chan error, 1)
	go func() {
		_, err := keys.Key(context.Background(), "k1")
		got <- err
	}()
	select {
	case err := <-got:
		t.Fatalf("Key returned (%v) before the preload's read ended", err)
	case <-time.After(20 * time.Millisecond):
	}
	close(release)
	if err := <-got; err != nil {
		t.Fatalf("Key: %v", err)
	}
	if n := reads.Load(); n != 1 {
		t.Fatalf("reads = %d, want 1: Key waited for the preload", n)
	}
}

// A failed preload is reported, and the first Key call reads again.
func TestCachedKeysPreloadFailureIsReportedAndRetried(t *testing.T) {
	keys, loader, _, _ := newCached(t)
	loader.err = errors.New("no route to ssm")
	reported := make(chan error, 1)
	keys.Preload(context.Background(), func(err error) { reported <- err })
	if err := <-reported; !errors.Is(err, loader.err) {
		t.Fatalf("reported %v, want the loader's error", err)
	}
	loader.err = nil
	mustKey(t, keys, "k1")
	if loader.reads != 2 {
		t.Fatalf("reads = %d, want 2 (the failed preload, then Key's)", loader.reads)
	}
}

// A rotation while the source is failing: whichever read found it down, the
// periodic one or the one a new kid caused moments before, a kid the cached
// set lacks cannot be told from a rotation until a read succeeds. Internal
// error (503, Upvest retries), never "unknown key" (401, counted as forged).
func TestCachedKeysUnknownKidAfterAFailedReadIsInternal(t *testing.T) {
	t.Run("the periodic refresh failed", func(t *testing.T) {
		keys, loader, clock, _ := newCached(t)
		mustKey(t, keys, "k1")
		loader.err = errors.New("ssm down")
		clock.advance(DefaultRefreshInterval)
		_, err := keys.Key(context.Background(), "k2")
		if !errors.Is(err, loader.err) || errors.Is(err, ErrUnauthenticated) {
			t.Fatalf("error = %v, want the loader's error and not ErrUnauthenticated", err)
		}
	})
	t.Run("the read a new kid caused failed moments before", func(t *testing.T) {
		keys, loader, clock, _ := newCached(t)
		mustKey(t, keys, "k1")
		loader.err = errors.New("ssm down")
		clock.advance(DefaultMinRefreshInterval)
		if _, err := keys.Key(context.Background(), "k2"); !errors.Is(err, loader.err) {
			t.Fatalf("first try: error = %v, want the loader's error", err)
		}
		clock.advance(time.Second) // Upvest's first retry
		_, err := keys.Key(context.Background(), "k2")
		if !errors.Is(err, loader.err) || errors.Is(err, ErrUnauthenticated) {
			t.Fatalf("retry: error = %v, want the loader's error and not ErrUnauthenticated", err)
		}
		if loader.reads != 2 {
			t.Fatalf("reads = %d, want 2: the retry must not read again within the minimum interval", loader.reads)
		}
		// Once a read succeeds, an unknown kid is unknown again.
		loader.err = nil
		clock.advance(DefaultMinRefreshInterval)
		if _, err := keys.Key(context.Background(), "k2"); !errors.Is(err, ErrUnknownKey) {
			t.Fatalf("after a good read: error = %v, want ErrUnknownKey", err)
		}
		if !mustKey(t, keys, "k1").Equal(&testKey.PublicKey) {
			t.Fatal("known key lost")
		}
	})
}
