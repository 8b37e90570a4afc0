package signature_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/signature"
)

// Sign a webhook request the way Upvest does, then verify it; a changed body
// is refused.
func Example() {
	key, err := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	if err != nil {
		fmt.Println(err)
		return
	}
	now := time.Unix(1_700_000_000, 0)
	req := signature.Request{
		Method: http.MethodPost,
		Path:   "/webhooks",
		Header: http.Header{"Content-Type": {"application/json"}},
		Body:   []byte(`{"hello": "world"}`),
	}
	added, err := signature.Sign(req, key, "my-kid", now, "0123456789")
	if err != nil {
		fmt.Println(err)
		return
	}
	for name, values := range added {
		req.Header[name] = values
	}
	fmt.Println(req.Header.Get("Digest"))
	fmt.Println(req.Header.Get("Signature-Input"))

	verifier := signature.NewVerifier(
		signature.StaticKeys{"my-kid": &key.PublicKey},
		signature.Options{Now: func() time.Time { return now.Add(5 * time.Second) }},
	)
	fmt.Println("valid:", verifier.Verify(context.Background(), req))

	req.Body = []byte(`{"hello": "mallory"}`)
	err = verifier.Verify(context.Background(), req)
	fmt.Println("tampered:", err, errors.Is(err, signature.ErrUnauthenticated))
	// Output:
	// SHA-256=X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=
	// sig1=("content-type" "@method" "@path" "digest");keyid="my-kid";created=1700000000;nonce="0123456789";expires=1700000060
	// valid: <nil>
	// tampered: request not authenticated: digest does not match the body true
}
