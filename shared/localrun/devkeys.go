package localrun

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/upvest-webhooks/upvest-webhooks/shared/signature"
)

// Dev key files, written under the git-ignored .local folder.
const (
	DevPrivateKeyFile = "dev-key.pem"
	DevJWKSFile       = "dev-jwks.json"
)

// DevKeys are the local stand-in for Upvest's signing key.
type DevKeys struct {
	PrivateKeyPath string
	JWKSPath       string
	KeyID          string
	Created        bool
}

// EnsureDevKeys returns the P-521 dev key pair in dir, generating it the first time.
func EnsureDevKeys(dir string) (DevKeys, error) {
	keys := DevKeys{PrivateKeyPath: filepath.Join(dir, DevPrivateKeyFile), JWKSPath: filepath.Join(dir, DevJWKSFile)}
	jwks, errJWKS := os.ReadFile(keys.JWKSPath)
	_, errKey := os.Stat(keys.PrivateKeyPath)
	if errJWKS == nil && errKey == nil {
		kid, err := singleKeyID(jwks)
		if err != nil {
			return DevKeys{}, fmt.Errorf("%s: %w", keys.JWKSPath, err)
		}
		keys.KeyID = kid
		return keys, nil
	}
	if !errors.Is(errJWKS, os.ErrNotExist) && errJWKS != nil {
		return DevKeys{}, fmt.Errorf("read dev keys: %w", errJWKS)
	}
	privatePEM, jwksJSON, kid, err := signature.GenerateDevKey()
	if err != nil {
		return DevKeys{}, fmt.Errorf("generate dev key: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return DevKeys{}, fmt.Errorf("create %s: %w", dir, err)
	}
	if err := os.WriteFile(keys.PrivateKeyPath, privatePEM, 0o600); err != nil {
		return DevKeys{}, fmt.Errorf("write dev key: %w", err)
	}
	if err := os.WriteFile(keys.JWKSPath, jwksJSON, 0o644); err != nil {
		return DevKeys{}, fmt.Errorf("write dev jwks: %w", err)
	}
	keys.KeyID, keys.Created = kid, true
	return keys, nil
}

func singleKeyID(jwks []byte) (string, error) {
	var doc struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(jwks, &doc); err != nil {
		return "", fmt.Errorf("not a JWKS: %w", err)
	}
	if len(doc.Keys) != 1 || doc.Keys[0].Kid == "" {
		return "", fmt.Errorf("want exactly one key with a kid, found %d", len(doc.Keys))
	}
	return doc.Keys[0].Kid, nil
}
