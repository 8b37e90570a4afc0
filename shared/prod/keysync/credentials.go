package keysync

import (
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// Credentials are the customer's Upvest API client: the OAuth client id and
// secret, and the key that signs every API request.
type Credentials struct {
	ClientID     string
	ClientSecret string
	SigningKey   *ecdsa.PrivateKey
	SigningKeyID string
}

// String shows who the credentials are for, never the secret or the key, so
// that printing or logging them by mistake leaks nothing.
func (c Credentials) String() string {
	return fmt.Sprintf("upvest api client %s (signing key %s)", c.ClientID, c.SigningKeyID)
}

// GoString is String, for %#v.
func (c Credentials) GoString() string { return c.String() }

// LogValue is String, for slog.
func (c Credentials) LogValue() slog.Value { return slog.StringValue(c.String()) }

// secretDocument is the JSON held by the Secrets Manager secret.
type secretDocument struct {
	ClientID      string `json:"client_id"`
	ClientSecret  string `json:"client_secret"`
	SigningKeyPEM string `json:"signing_key_pem"`
	SigningKeyID  string `json:"signing_key_id"`
	// Passphrase of an encrypted signing_key_pem; optional.
	SigningKeyPassphrase string `json:"signing_key_passphrase"`
}

// ParseCredentials reads the secret's JSON: {"client_id", "client_secret",
// "signing_key_pem", "signing_key_id"} and, for an encrypted key,
// "signing_key_passphrase". Every missing field is reported; the
// error never contains the secret's values.
func ParseCredentials(data []byte) (Credentials, error) {
	var doc secretDocument
	if err := json.Unmarshal(data, &doc); err != nil {
		// json errors quote no values for syntax errors, but say nothing more to be safe.
		return Credentials{}, errors.New("credentials: the secret is not a JSON object with client_id, client_secret, signing_key_pem, signing_key_id")
	}
	var missing []string
	for name, v := range map[string]string{
		"client_id": doc.ClientID, "client_secret": doc.ClientSecret,
		"signing_key_pem": doc.SigningKeyPEM, "signing_key_id": doc.SigningKeyID,
	} {
		if strings.TrimSpace(v) == "" {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return Credentials{}, fmt.Errorf("credentials: the secret lacks %s", strings.Join(missing, ", "))
	}
	key, err := LoadSigningKey([]byte(doc.SigningKeyPEM), doc.SigningKeyPassphrase)
	if err != nil {
		return Credentials{}, fmt.Errorf("credentials: signing_key_pem: %w", err)
	}
	return Credentials{
		ClientID:     strings.TrimSpace(doc.ClientID),
		ClientSecret: doc.ClientSecret,
		SigningKey:   key,
		SigningKeyID: strings.TrimSpace(doc.SigningKeyID),
	}, nil
}

// CredentialSource returns the current credentials. It is called on every
// fetch, so that a rotated client secret or signing key is picked up.
type CredentialSource func(ctx context.Context) (Credentials, error)

// StaticCredentials always returns c.
func StaticCredentials(c Credentials) CredentialSource {
	return func(context.Context) (Credentials, error) { return c, nil }
}

// SecretsManagerAPI is the part of the Secrets Manager client the sync needs.
type SecretsManagerAPI interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

var _ SecretsManagerAPI = (*secretsmanager.Client)(nil)

// SecretsManagerCredentials reads the credentials from a secret (ARN or name).
func SecretsManagerCredentials(client SecretsManagerAPI, secretID string) CredentialSource {
	return func(ctx context.Context) (Credentials, error) {
		out, err := client.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(secretID)})
		if err != nil {
			return Credentials{}, fmt.Errorf("read secret %s: %w", secretID, err)
		}
		if out.SecretString == nil {
			return Credentials{}, fmt.Errorf("secret %s has no string value (a binary secret?)", secretID)
		}
		c, err := ParseCredentials([]byte(*out.SecretString))
		if err != nil {
			return Credentials{}, fmt.Errorf("secret %s: %w", secretID, err)
		}
		return c, nil
	}
}
