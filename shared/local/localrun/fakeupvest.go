package localrun

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/upvest-webhooks/upvest-webhooks/shared/local/webhookclient"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/keysync"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/keysync/keysynctest"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/signature"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/uuid"
)

// FakeUpvest is the stand-in for Upvest's API that `make run` offers, so that
// the go-live path runs locally: `ops webhooks -local ...`, `ops golive -local`.
type FakeUpvest struct {
	URL      string
	FilePath string // LocalAPIFile: how the ops tool reaches it
	stop     func()
}

// Stop shuts the fake down and removes its file.
func (f *FakeUpvest) Stop() { f.stop() }

// StartFakeUpvest serves a fake Upvest API on addr (127.0.0.1:0: any free
// port) for a fresh API client, and writes the client's credentials and the
// URL to dir/upvest-api.json. It signs test deliveries with the dev key, whose
// JWKS the local endpoint trusts, and serves that JWKS at /auth/verify_keys.
func StartFakeUpvest(dir, addr string, keys DevKeys, logf func(string, ...any)) (*FakeUpvest, error) {
	hookKey, hookKid, err := webhookclient.LoadSigningKey(keys.PrivateKeyPath, keys.KeyID, keys.JWKSPath)
	if err != nil {
		return nil, err
	}
	jwks, err := os.ReadFile(keys.JWKSPath)
	if err != nil {
		return nil, fmt.Errorf("fake upvest: %w", err)
	}
	apiPEM, apiJWKS, apiKid, err := signature.GenerateDevKey()
	if err != nil {
		return nil, err
	}
	apiKeys, _, err := signature.ParseJWKS(apiJWKS)
	if err != nil {
		return nil, err
	}
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	secret := hex.EncodeToString(b)
	clientID := uuid.New()
	fake := keysynctest.New(keysynctest.Config{
		ClientID: clientID, ClientSecret: secret, KeyID: apiKid, PublicKey: apiKeys[apiKid], JWKS: jwks,
		WebhookKey: hookKey, WebhookKeyID: hookKid, AllowHTTPLoopback: true, Logf: logf,
	})
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("fake upvest: listen on %s: %w", addr, err)
	}
	fake.URL = "http://" + ln.Addr().String()
	srv := &http.Server{Handler: fake, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logf("fake upvest stopped: %v", err)
		}
	}()
	path, err := keysync.WriteLocalAPI(dir, fake.URL, clientID, secret, string(apiPEM), apiKid)
	if err != nil {
		_ = srv.Close()
		return nil, err
	}
	return &FakeUpvest{URL: fake.URL, FilePath: path, stop: func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		fake.Wait()
		_ = os.Remove(path)
	}}, nil
}
