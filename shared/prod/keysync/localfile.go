package keysync

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// LocalAPIFile is where `make run` writes how to reach its fake Upvest: the
// base URL and a secret document like the deployed one (in LOCAL_DIR).
const LocalAPIFile = "upvest-api.json"

// LocalAPI is the content of LocalAPIFile.
type LocalAPI struct {
	BaseURL string `json:"base_url"`
	secretDocument
}

// WriteLocalAPI writes the file (0600: it holds a client secret and a key).
func WriteLocalAPI(dir, baseURL, clientID, clientSecret, keyPEM, keyID string) (string, error) {
	doc := LocalAPI{BaseURL: baseURL, secretDocument: secretDocument{
		ClientID: clientID, ClientSecret: clientSecret, SigningKeyPEM: keyPEM, SigningKeyID: keyID,
	}}
	data, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, LocalAPIFile)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	return path, nil
}

// ReadLocalAPI reads the file in dir, as written by `make run`.
func ReadLocalAPI(dir string) (baseURL string, creds Credentials, err error) {
	path := filepath.Join(dir, LocalAPIFile)
	data, err := os.ReadFile(path)
	if err != nil {
		return "", Credentials{}, fmt.Errorf("the fake Upvest of `make run` (is it up?): %w", err)
	}
	var doc LocalAPI
	if err := json.Unmarshal(data, &doc); err != nil || doc.BaseURL == "" {
		return "", Credentials{}, fmt.Errorf("%s: not the file `make run` writes", path)
	}
	creds, err = ParseCredentials(data)
	if err != nil {
		return "", Credentials{}, fmt.Errorf("%s: %w", path, err)
	}
	return doc.BaseURL, creds, nil
}
