package signature

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"testing"
)

// A dev key pair signs requests that its JWKS verifies.
func TestGenerateDevKey(t *testing.T) {
	privatePEM, jwksJSON, kid, err := GenerateDevKey()
	if err != nil {
		t.Fatalf("GenerateDevKey: %v", err)
	}
	key, err := LoadPrivateKeyPEM(privatePEM)
	if err != nil {
		t.Fatalf("LoadPrivateKeyPEM: %v", err)
	}
	set, skipped, err := ParseJWKS(jwksJSON)
	if err != nil || len(skipped) > 0 {
		t.Fatalf("ParseJWKS: %v, skipped %v", err, skipped)
	}
	if len(set) != 1 || !set[kid].Equal(&key.PublicKey) {
		t.Fatalf("JWKS %v does not hold the public key under kid %q", set, kid)
	}
	if !uuidLike(kid) {
		t.Errorf("kid %q is not a UUID", kid)
	}
	v := NewVerifier(StaticKeys(set), Options{})
	req := signed(t, webhookRequest(), key, kid, v.opts.Now())
	if err := v.Verify(context.Background(), req); err != nil {
		t.Fatalf("Verify: %v", err)
	}
}

func uuidLike(s string) bool {
	if len(s) != 36 || s[14] != '4' {
		return false
	}
	for i, c := range s {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
				return false
			}
		}
	}
	return true
}

func TestLoadPrivateKeyPEM(t *testing.T) {
	pkcs8, err := x509.MarshalPKCS8PrivateKey(testKey)
	if err != nil {
		t.Fatal(err)
	}
	key, err := LoadPrivateKeyPEM(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}))
	if err != nil || !key.Equal(testKey) {
		t.Fatalf("PKCS #8 key: %v", err)
	}

	p256, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sec1P256, err := x509.MarshalECPrivateKey(p256)
	if err != nil {
		t.Fatal(err)
	}
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8Ed, err := x509.MarshalPKCS8PrivateKey(edKey)
	if err != nil {
		t.Fatal(err)
	}
	bad := map[string][]byte{
		"not PEM":       []byte("hello"),
		"P-256":         pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1P256}),
		"Ed25519":       pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8Ed}),
		"public key":    pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte{1}}),
		"corrupt bytes": pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: []byte{1, 2, 3}}),
	}
	for name, data := range bad {
		if _, err := LoadPrivateKeyPEM(data); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
