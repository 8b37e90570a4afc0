package webhookclient

import (
	"crypto/ecdsa"
	"fmt"
	"os"
	"path/filepath"

	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/config"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/signature"
)

// Dev key file names, inside the folder given to WriteDevKey: the local run's.
const (
	DevKeyFile  = config.LocalDevKeyFile
	DevJWKSFile = config.LocalDevJWKSFile
)

// WriteDevKey generates a dev key pair into dir: dev-key.pem (0600) and
// dev-jwks.json, the JWKS a local receiver trusts. It returns the kid.
func WriteDevKey(dir string) (string, error) {
	privatePEM, jwks, kid, err := signature.GenerateDevKey()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("dev key: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, DevKeyFile), privatePEM, 0o600); err != nil {
		return "", fmt.Errorf("dev key: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, DevJWKSFile), jwks, 0o644); err != nil {
		return "", fmt.Errorf("dev key: %w", err)
	}
	return kid, nil
}

// LoadSigningKey reads the private key at keyPath. When kid is empty it is
// taken from the JWKS at jwksPath, which must then hold exactly one key, and
// that key must be the private key's public half.
func LoadSigningKey(keyPath, kid, jwksPath string) (*ecdsa.PrivateKey, string, error) {
	data, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, "", fmt.Errorf("signing key: %w", err)
	}
	key, err := signature.LoadPrivateKeyPEM(data)
	if err != nil {
		return nil, "", fmt.Errorf("signing key %s: %w", keyPath, err)
	}
	if kid != "" {
		return key, kid, nil
	}
	keys, err := signature.FileKeys(jwksPath)
	if err != nil {
		return nil, "", fmt.Errorf("no -kid given and %w", err)
	}
	if len(keys) != 1 {
		return nil, "", fmt.Errorf("no -kid given and %s holds %d keys, not one", jwksPath, len(keys))
	}
	for only, public := range keys {
		if !public.Equal(&key.PublicKey) {
			return nil, "", fmt.Errorf("%s does not hold the public half of %s", jwksPath, keyPath)
		}
		kid = only
	}
	return key, kid, nil
}
