package signature

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

const testKid = "0d6f5b4e-4f53-4b8e-9f3c-1c1b7c3f8a10"

// testNow is the signing time of most tests.
var testNow = time.Unix(1_700_000_000, 0)

// testKey signs; otherKey is a valid key nobody trusts. Made once in TestMain.
var testKey, otherKey *ecdsa.PrivateKey

func TestMain(m *testing.M) {
	var err error
	if testKey, err = ecdsa.GenerateKey(elliptic.P521(), rand.Reader); err == nil {
		otherKey, err = ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "generate test keys:", err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

func testKeys() StaticKeys { return StaticKeys{testKid: &testKey.PublicKey} }

// verifierAt verifies with testKeys and a clock stopped at now.
func verifierAt(now time.Time) *Verifier {
	return NewVerifier(testKeys(), Options{Now: func() time.Time { return now }})
}

// webhookRequest is a typical Upvest webhook delivery before signing.
func webhookRequest() Request {
	return Request{
		Method: http.MethodPost,
		Path:   "/webhooks",
		Header: http.Header{"Content-Type": {"application/json"}},
		Body:   []byte(`{"payload":[{"id":"8962b496-8d42-4560-bfab-10490dd1a721","type":"ORDER.NEW"}]}`),
	}
}

// signed returns a copy of req with the headers Sign adds.
func signed(t *testing.T, req Request, key *ecdsa.PrivateKey, kid string, now time.Time) Request {
	t.Helper()
	return signedDraft(t, Draft06, req, key, kid, now)
}

// signedDraft is signed in the given draft.
func signedDraft(t *testing.T, draft Draft, req Request, key *ecdsa.PrivateKey, kid string, now time.Time) Request {
	t.Helper()
	added, err := SignDraft(draft, req, key, kid, now, "1234567890")
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	out := cloneRequest(req)
	for name, values := range added {
		out.Header[name] = values
	}
	return out
}

func cloneRequest(req Request) Request {
	out := req
	out.Header = req.Header.Clone()
	if out.Header == nil {
		out.Header = http.Header{}
	}
	out.Body = bytes.Clone(req.Body)
	return out
}

// handSigned signs req the way Upvest's v6 code does, written out by hand and
// independently of Sign: lines are the "<name>: <value>" lines of the base,
// params the signature-input value after "sig1=".
func handSigned(t *testing.T, req Request, key *ecdsa.PrivateKey, lines []string, params string) Request {
	t.Helper()
	base := strings.Join(append(append([]string{}, lines...), "@signature-params: "+params), "\n")
	hash := sha512.Sum512([]byte(base))
	sig, err := ecdsa.SignASN1(rand.Reader, key, hash[:])
	if err != nil {
		t.Fatal(err)
	}
	out := cloneRequest(req)
	out.Header.Set("Signature-Input", "sig1="+params)
	out.Header.Set("Signature", "sig1=:"+base64.StdEncoding.EncodeToString(sig)+":")
	return out
}

func digestOf(body []byte) string {
	sum := sha256.Sum256(body)
	return "SHA-256=" + base64.StdEncoding.EncodeToString(sum[:])
}

// failingKeys is a key source that cannot load its keys.
type failingKeys struct{ err error }

func (f failingKeys) Key(context.Context, string) (*ecdsa.PublicKey, error) { return nil, f.err }
