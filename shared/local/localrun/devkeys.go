package localrun

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/upvest-webhooks/upvest-webhooks/shared/local/webhookclient"
)

// DevKeys are the local stand-in for Upvest's signing key, under the
// git-ignored .local folder.
type DevKeys struct {
	PrivateKeyPath string
	JWKSPath       string
	KeyID          string
	Created        bool
}

// EnsureDevKeys returns the P-521 dev key pair in dir, generating it the first time.
func EnsureDevKeys(dir string) (DevKeys, error) {
	keys := DevKeys{
		PrivateKeyPath: filepath.Join(dir, webhookclient.DevKeyFile),
		JWKSPath:       filepath.Join(dir, webhookclient.DevJWKSFile),
	}
	_, errKey := os.Stat(keys.PrivateKeyPath)
	_, errJWKS := os.Stat(keys.JWKSPath)
	if errKey == nil && errJWKS == nil {
		_, kid, err := webhookclient.LoadSigningKey(keys.PrivateKeyPath, "", keys.JWKSPath)
		if err != nil {
			return DevKeys{}, fmt.Errorf("dev keys in %s (delete them to start afresh): %w", dir, err)
		}
		keys.KeyID = kid
		return keys, nil
	}
	if !errors.Is(errKey, os.ErrNotExist) && errKey != nil {
		return DevKeys{}, fmt.Errorf("dev key: %w", errKey)
	}
	kid, err := webhookclient.WriteDevKey(dir)
	if err != nil {
		return DevKeys{}, err
	}
	keys.KeyID, keys.Created = kid, true
	return keys, nil
}
