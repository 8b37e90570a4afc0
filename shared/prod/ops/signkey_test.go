package ops_test

import (
	"crypto/ecdsa"
	"testing"

	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/keysync"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/signature"
)

// signatureKey is a webhook signing key: Upvest's (the fake's) or the dev key.
type signatureKey struct {
	key *ecdsa.PrivateKey
	kid string
}

func newSignatureKey(t *testing.T) *signatureKey {
	t.Helper()
	pemBytes, _, kid, err := signature.GenerateDevKey()
	if err != nil {
		t.Fatal(err)
	}
	key, err := keysync.LoadSigningKey(pemBytes, "")
	if err != nil {
		t.Fatal(err)
	}
	return &signatureKey{key: key, kid: kid}
}

func (k *signatureKey) jwks(t *testing.T) []byte {
	t.Helper()
	b, err := signature.MarshalJWKS(map[string]*ecdsa.PublicKey{k.kid: &k.key.PublicKey})
	if err != nil {
		t.Fatal(err)
	}
	return b
}
