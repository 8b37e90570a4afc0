package signature

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"

	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/uuid"
)

// GenerateDevKey makes a P-521 key pair for local runs and tests: the private
// key as PEM ("EC PRIVATE KEY", the type Upvest's tools use), the public key as
// a one-key JWKS, and its kid (a random UUID, as Upvest's kids are).
func GenerateDevKey() (privatePEM, jwksJSON []byte, kid string, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	if err != nil {
		return nil, nil, "", fmt.Errorf("generate key: %w", err)
	}
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, "", fmt.Errorf("encode key: %w", err)
	}
	kid = uuid.New()
	jwksJSON, err = MarshalJWKS(map[string]*ecdsa.PublicKey{kid: &key.PublicKey})
	if err != nil {
		return nil, nil, "", err
	}
	privatePEM = pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
	return privatePEM, jwksJSON, kid, nil
}

// LoadPrivateKeyPEM reads a P-521 private key from PEM, as "EC PRIVATE KEY"
// (SEC 1) or "PRIVATE KEY" (PKCS #8). Encrypted keys are not supported.
func LoadPrivateKeyPEM(data []byte) (*ecdsa.PrivateKey, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("private key: no PEM block")
	}
	var key *ecdsa.PrivateKey
	switch block.Type {
	case "EC PRIVATE KEY":
		k, err := x509.ParseECPrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("private key: %w", err)
		}
		key = k
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("private key: %w", err)
		}
		ec, ok := k.(*ecdsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("private key: %T is not an ECDSA key", k)
		}
		key = ec
	default:
		return nil, fmt.Errorf("private key: PEM type %q is not EC PRIVATE KEY or PRIVATE KEY", block.Type)
	}
	if key.Curve != elliptic.P521() {
		return nil, fmt.Errorf("private key: curve %s is not P-521", key.Curve.Params().Name)
	}
	return key, nil
}
