package keysync_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/keysync"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/keysync/keysynctest"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/signature"
)

const (
	clientID     = "6f1d2a3b-1111-4222-8333-944445555666"
	clientSecret = "s3cr3t-value-never-logged"
	secretARN    = "arn:aws:secretsmanager:eu-central-1:123456789012:secret:upvest-api-AbCdEf"
	parameter    = "/upvest-webhooks/sandbox/jwks"
)

// newAPIKey makes a customer's API signing key: the PEM for the secret, and
// the public key Upvest knows it by.
func newAPIKey(t *testing.T) (pemBytes []byte, kid string, keys signature.KeySet) {
	t.Helper()
	pemBytes, jwks, kid, err := signature.GenerateDevKey()
	if err != nil {
		t.Fatal(err)
	}
	keys, _, err = signature.ParseJWKS(jwks)
	if err != nil {
		t.Fatal(err)
	}
	return pemBytes, kid, keys
}

// webhookKeys is a JWKS such as Upvest publishes: n fresh P-521 keys.
func webhookKeys(t *testing.T, n int) []byte {
	t.Helper()
	var entries []json.RawMessage
	for range n {
		_, jwks, _, err := signature.GenerateDevKey()
		if err != nil {
			t.Fatal(err)
		}
		var doc struct{ Keys []json.RawMessage }
		if err := json.Unmarshal(jwks, &doc); err != nil {
			t.Fatal(err)
		}
		entries = append(entries, doc.Keys...)
	}
	out, err := json.MarshalIndent(map[string]any{"keys": entries}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func secretJSON(t *testing.T, secret string, pemBytes []byte, kid string) string {
	t.Helper()
	b, err := json.Marshal(map[string]string{
		"client_id": clientID, "client_secret": secret, "signing_key_pem": string(pemBytes), "signing_key_id": kid,
	})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func compact(t *testing.T, b []byte) string {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// world is one Upvest fake, one SSM and one Secrets Manager, and a Syncer
// wired to them through the real SDK clients.
type world struct {
	upvest  *keysynctest.Upvest
	ssm     *keysynctest.SSM
	secrets *keysynctest.SecretsManager
	syncer  *keysync.Syncer
}

type setup struct {
	served      []byte            // what verify_keys answers
	stored      map[string]string // SSM parameters at the start
	secret      string            // overrides the secret's JSON
	signWithKey []byte            // the secret's signing key, when not the one Upvest knows
}

func newWorld(t *testing.T, s setup) *world {
	t.Helper()
	pemBytes, kid, known := newAPIKey(t)
	w := &world{}
	w.upvest = keysynctest.NewUpvest(t, clientID, clientSecret, kid, known[kid], s.served)
	w.ssm = keysynctest.NewSSM(t, s.stored)
	secret := s.secret
	if secret == "" {
		signing := pemBytes
		if s.signWithKey != nil {
			signing = s.signWithKey
		}
		secret = secretJSON(t, clientSecret, signing, kid)
	}
	w.secrets = keysynctest.NewSecretsManager(t, map[string]string{secretARN: secret})

	cfg := aws.Config{
		Region:           "eu-central-1",
		Credentials:      credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
		RetryMaxAttempts: 1,
	}
	w.syncer = &keysync.Syncer{
		Upvest: &keysync.Client{
			BaseURL: w.upvest.URL,
			Credentials: keysync.SecretsManagerCredentials(secretsmanager.NewFromConfig(cfg, func(o *secretsmanager.Options) {
				o.BaseEndpoint = aws.String(w.secrets.URL)
			}), secretARN),
		},
		SSM:       ssm.NewFromConfig(cfg, func(o *ssm.Options) { o.BaseEndpoint = aws.String(w.ssm.URL) }),
		Parameter: parameter,
	}
	return w
}

func TestSyncWritesChangedKeysOnly(t *testing.T) {
	ctx := context.Background()
	first := webhookKeys(t, 2)
	w := newWorld(t, setup{served: first})

	changed, err := w.syncer.Sync(ctx)
	if err != nil || !changed {
		t.Fatalf("first sync: changed %v, %v (refusals %v)", changed, err, w.upvest.Refusals())
	}
	if got, _ := w.ssm.Value(parameter); got != compact(t, first) {
		t.Fatalf("parameter = %s\nwant %s", got, compact(t, first))
	}
	if keys, _, err := signature.ParseJWKS([]byte(mustValue(t, w.ssm))); err != nil || len(keys) != 2 {
		t.Fatalf("written set: %d keys, %v", len(keys), err)
	}

	// Unchanged: nothing written.
	changed, err = w.syncer.Sync(ctx)
	if err != nil || changed || w.ssm.Puts() != 1 {
		t.Fatalf("second sync: changed %v, %v, puts %d", changed, err, w.ssm.Puts())
	}

	// The same keys in another order and layout are the same set.
	var doc struct{ Keys []json.RawMessage }
	if err := json.Unmarshal(first, &doc); err != nil {
		t.Fatal(err)
	}
	reordered, _ := json.Marshal(map[string]any{"keys": []json.RawMessage{doc.Keys[1], doc.Keys[0]}})
	w.upvest.SetJWKS(reordered)
	changed, err = w.syncer.Sync(ctx)
	if err != nil || changed || w.ssm.Puts() != 1 {
		t.Fatalf("reordered keys: changed %v, %v, puts %d", changed, err, w.ssm.Puts())
	}

	// Upvest rotates: the new set is written.
	rotated := webhookKeys(t, 1)
	w.upvest.SetJWKS(rotated)
	changed, err = w.syncer.Sync(ctx)
	if err != nil || !changed || w.ssm.Puts() != 2 {
		t.Fatalf("rotation: changed %v, %v, puts %d", changed, err, w.ssm.Puts())
	}
	if got := mustValue(t, w.ssm); got != compact(t, rotated) {
		t.Fatalf("after rotation parameter = %s", got)
	}
	if r := w.upvest.Refusals(); len(r) != 0 {
		t.Errorf("the fake refused requests: %v", r)
	}
	if w.secrets.Reads() != 4 {
		t.Errorf("secret read %d times, want once per sync (a rotated secret is picked up)", w.secrets.Reads())
	}
}

func mustValue(t *testing.T, s *keysynctest.SSM) string {
	t.Helper()
	v, ok := s.Value(parameter)
	if !ok {
		t.Fatal("parameter missing")
	}
	return v
}

func TestSyncReplacesAnUnreadableParameter(t *testing.T) {
	keys := webhookKeys(t, 1)
	w := newWorld(t, setup{served: keys, stored: map[string]string{parameter: "placeholder"}})
	changed, err := w.syncer.Sync(context.Background())
	if err != nil || !changed || mustValue(t, w.ssm) != compact(t, keys) {
		t.Fatalf("changed %v, %v, value %s", changed, err, mustValue(t, w.ssm))
	}
}

func TestSyncFailsWithoutWriting(t *testing.T) {
	otherKey, _, _ := newAPIKey(t)
	rsaOnly := []byte(`{"keys":[{"kid":"r1","kty":"RSA","n":"sXch","e":"AQAB"},{"kid":"e1","kty":"EC","crv":"P-256","x":"AA","y":"AA"}]}`)
	tests := []struct {
		name    string
		setup   setup
		prepare func(w *world)
		wantErr string // in the Sync error
		refusal string // in the fake Upvest's last refusal, when it refused
	}{
		{name: "signature by a key Upvest does not know", setup: setup{signWithKey: otherKey},
			wantErr: "401", refusal: "signature does not verify"},
		{name: "wrong client secret", prepare: func(w *world) { w.syncer.Upvest.Credentials = wrongSecret(w.syncer.Upvest.Credentials) },
			wantErr: "401", refusal: "wrong client credentials"},
		{name: "bad token", prepare: func(w *world) { w.upvest.IssueUnknownTokens() },
			wantErr: "verify_keys answered 401", refusal: "no valid bearer token"},
		{name: "no usable key", setup: setup{served: rsaOnly}, wantErr: "no usable P-521 key"},
		{name: "not a JWKS", setup: setup{served: []byte(`<html>maintenance</html>`)}, wantErr: "unusable"},
		{name: "empty key set", setup: setup{served: []byte(`{"keys":[]}`)}, wantErr: "no keys"},
		{name: "secret lacks the signing key", setup: setup{secret: `{"client_id":"x","client_secret":"y"}`},
			wantErr: "lacks signing_key_id, signing_key_pem"},
		// 40 P-521 keys: about 11 KB, more than even the Advanced tier holds.
		{name: "key set too large for a parameter", setup: setup{served: webhookKeys(t, 40)}, wantErr: "more than the 8192 an SSM parameter can hold"},
		{name: "ssm refuses the write", setup: setup{stored: map[string]string{}},
			prepare: func(w *world) { w.ssm.FailWrites(true) }, wantErr: "AccessDenied"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const before = `{"keys":"as stored before"}`
			s := tt.setup
			if s.served == nil {
				s.served = webhookKeys(t, 1)
			}
			if s.stored == nil {
				s.stored = map[string]string{parameter: before}
			}
			w := newWorld(t, s)
			if tt.prepare != nil {
				tt.prepare(w)
			}
			changed, err := w.syncer.Sync(context.Background())
			if err == nil || changed {
				t.Fatalf("changed %v, err %v", changed, err)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q lacks %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), clientSecret) {
				t.Errorf("error shows the client secret: %v", err)
			}
			if tt.refusal != "" {
				r := w.upvest.Refusals()
				if len(r) == 0 || !strings.Contains(r[len(r)-1], tt.refusal) {
					t.Errorf("fake Upvest refusals %v, want one about %q", r, tt.refusal)
				}
			}
			if w.ssm.Puts() != 0 {
				t.Errorf("%d writes", w.ssm.Puts())
			}
			if v, ok := w.ssm.Value(parameter); ok && v != before {
				t.Errorf("parameter changed to %s", v)
			}
			if _, err := w.syncer.Handle(context.Background(), json.RawMessage(`{}`)); err == nil {
				t.Error("the Lambda handler reported success (the alarm would not fire)")
			}
		})
	}
}

// wrongSecret keeps the signing key but changes the client secret.
func wrongSecret(src keysync.CredentialSource) keysync.CredentialSource {
	return func(ctx context.Context) (keysync.Credentials, error) {
		c, err := src(ctx)
		c.ClientSecret = "wrong"
		return c, err
	}
}

func TestHandleReportsTheOutcome(t *testing.T) {
	w := newWorld(t, setup{served: webhookKeys(t, 1)})
	got, err := w.syncer.Handle(context.Background(), json.RawMessage(`{"source":"aws.scheduler"}`))
	if err != nil || got != (keysync.Result{Changed: true, Parameter: parameter}) {
		t.Fatalf("first: %+v, %v", got, err)
	}
	got, err = w.syncer.Handle(context.Background(), nil)
	if err != nil || got.Changed {
		t.Fatalf("second: %+v, %v", got, err)
	}
}

func TestFetchReturnsTheKeysWithoutWriting(t *testing.T) {
	keys := webhookKeys(t, 2)
	w := newWorld(t, setup{served: keys})
	got, err := w.syncer.Fetch(context.Background())
	if err != nil || string(got) != compact(t, keys) {
		t.Fatalf("fetch: %s, %v", got, err)
	}
	if w.ssm.Puts() != 0 || w.upvest.KeySetsServed() != 1 {
		t.Errorf("puts %d, served %d", w.ssm.Puts(), w.upvest.KeySetsServed())
	}
}

func TestParseCredentials(t *testing.T) {
	pemBytes, kid, _ := newAPIKey(t)
	c, err := keysync.ParseCredentials([]byte(secretJSON(t, clientSecret, pemBytes, kid)))
	if err != nil || c.ClientID != clientID || c.ClientSecret != clientSecret || c.SigningKeyID != kid || c.SigningKey == nil {
		t.Fatalf("%+v, %v", c, err)
	}
	for _, shown := range []string{fmt.Sprint(c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c)} {
		if strings.Contains(shown, clientSecret) || strings.Contains(shown, "PRIVATE") || !strings.Contains(shown, clientID) {
			t.Errorf("credentials print as %q", shown)
		}
	}
	for name, doc := range map[string]string{
		"not json":    "client_secret=" + clientSecret,
		"missing":     `{"client_secret":"` + clientSecret + `"}`,
		"bad pem":     `{"client_id":"a","client_secret":"` + clientSecret + `","signing_key_pem":"nope","signing_key_id":"k"}`,
		"binary junk": `{"client_id":1}`,
	} {
		_, err := keysync.ParseCredentials([]byte(doc))
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		if strings.Contains(err.Error(), clientSecret) {
			t.Errorf("%s: error shows the secret: %v", name, err)
		}
	}
}

func TestSecretsManagerCredentialsNamesTheSecret(t *testing.T) {
	w := newWorld(t, setup{served: webhookKeys(t, 1)})
	w.syncer.Upvest.Credentials = keysync.SecretsManagerCredentials(secretsmanager.NewFromConfig(aws.Config{
		Region: "eu-central-1", Credentials: credentials.NewStaticCredentialsProvider("a", "b", ""), RetryMaxAttempts: 1,
	}, func(o *secretsmanager.Options) { o.BaseEndpoint = aws.String(w.secrets.URL) }), "missing-secret")
	_, err := w.syncer.Sync(context.Background())
	var notFound interface{ ErrorCode() string }
	if err == nil || !strings.Contains(err.Error(), "missing-secret") || !errors.As(err, &notFound) || notFound.ErrorCode() != "ResourceNotFoundException" {
		t.Fatalf("err %v", err)
	}
}

// A key set over the Standard tier's 4 KB (20 P-521 keys, about 5.6 KB) is
// still written: the sync asks for Intelligent-Tiering, which goes Advanced.
func TestSyncWritesAKeySetBeyondTheStandardTier(t *testing.T) {
	served := webhookKeys(t, 20)
	if n := len(compact(t, served)); n <= 4096 || n > 8192 {
		t.Fatalf("fixture JWKS is %d bytes, want between 4 and 8 KB", n)
	}
	w := newWorld(t, setup{served: served, stored: map[string]string{}})
	changed, err := w.syncer.Sync(context.Background())
	if err != nil || !changed {
		t.Fatalf("sync: changed %v, %v", changed, err)
	}
	if got, _ := w.ssm.Value(parameter); got != compact(t, served) {
		t.Errorf("stored %d bytes, want the %d fetched", len(got), len(compact(t, served)))
	}
}
