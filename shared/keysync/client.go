package keysync

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/upvest-webhooks/upvest-webhooks/shared/signature"
)

// Upvest's endpoints and the one scope the sync asks for.
const (
	TokenPath      = "/auth/token"
	VerifyKeysPath = "/auth/verify_keys"
	Scope          = "webhooks:read"
)

// Default base URLs of Upvest's Investment API.
const (
	SandboxBaseURL = "https://sandbox.upvest.co"
	LiveBaseURL    = "https://api.upvest.co"
)

// maxResponseBytes bounds what is read from Upvest (a JWKS is a few KB).
const maxResponseBytes = 1 << 20

// Client calls Upvest's Investment API as the customer's API client: an OAuth
// client-credentials token, and every request signed (HTTP message signatures,
// draft 15, as Upvest requires for API calls).
type Client struct {
	BaseURL     string // e.g. https://sandbox.upvest.co; a path prefix is kept
	APIVersion  string // upvest-api-version header; "1" when empty
	Credentials CredentialSource
	HTTP        *http.Client     // default: 15 s timeout
	Now         func() time.Time // default: time.Now
}

// FetchJWKS gets a token with scope webhooks:read and returns the body of
// GET /auth/verify_keys, as Upvest sent it.
func (c *Client) FetchJWKS(ctx context.Context) ([]byte, error) {
	if c.Credentials == nil {
		return nil, errors.New("upvest api: no credentials configured")
	}
	creds, err := c.Credentials(ctx)
	if err != nil {
		return nil, err
	}
	token, err := c.token(ctx, creds)
	if err != nil {
		return nil, err
	}
	header := c.baseHeader(creds)
	header.Set("Authorization", "Bearer "+token)
	status, body, err := c.do(ctx, creds, http.MethodGet, VerifyKeysPath, header, nil)
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		return nil, statusError("GET "+VerifyKeysPath, status, body)
	}
	return body, nil
}

// token runs the OAuth 2.0 client-credentials grant.
func (c *Client) token(ctx context.Context, creds Credentials) (string, error) {
	form := url.Values{
		"client_id":     {creds.ClientID},
		"client_secret": {creds.ClientSecret},
		"grant_type":    {"client_credentials"},
		"scope":         {Scope},
	}
	header := c.baseHeader(creds)
	header.Set("Content-Type", "application/x-www-form-urlencoded")
	status, body, err := c.do(ctx, creds, http.MethodPost, TokenPath, header, []byte(form.Encode()))
	if err != nil {
		return "", err
	}
	if status != http.StatusOK {
		return "", statusError("POST "+TokenPath, status, body)
	}
	var answer struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
	}
	if err := json.Unmarshal(body, &answer); err != nil {
		return "", fmt.Errorf("POST %s: answer is not JSON: %w", TokenPath, err)
	}
	if answer.AccessToken == "" {
		return "", fmt.Errorf("POST %s: answer has no access_token", TokenPath)
	}
	if answer.TokenType != "" && !strings.EqualFold(answer.TokenType, "bearer") {
		return "", fmt.Errorf("POST %s: token type %q is not bearer", TokenPath, answer.TokenType)
	}
	return answer.AccessToken, nil
}

// baseHeader holds the headers every Upvest API request carries (and signs).
func (c *Client) baseHeader(creds Credentials) http.Header {
	version := c.APIVersion
	if version == "" {
		version = "1"
	}
	h := http.Header{}
	h.Set("Accept", "application/json")
	h.Set("Upvest-Client-Id", creds.ClientID)
	h.Set("Upvest-Api-Version", version)
	return h
}

// do signs and sends one request and returns the status and (bounded) body.
func (c *Client) do(ctx context.Context, creds Credentials, method, path string, header http.Header, body []byte) (int, []byte, error) {
	target, err := url.Parse(strings.TrimRight(c.BaseURL, "/") + path)
	if err != nil || target.Host == "" {
		return 0, nil, fmt.Errorf("upvest api: base URL %q is not a URL", c.BaseURL)
	}
	if len(body) > 0 {
		// Covered by the signature, as Upvest requires for requests with a body.
		header.Set("Content-Length", strconv.Itoa(len(body)))
	}
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	signed, err := signature.SignDraft(signature.Draft15, signature.Request{
		Method: method, Path: target.Path, RawQuery: target.RawQuery, Header: header, Body: body,
	}, creds.SigningKey, creds.SigningKeyID, now(), "")
	if err != nil {
		return 0, nil, fmt.Errorf("upvest api: %s %s: %w", method, path, err)
	}
	req, err := http.NewRequestWithContext(ctx, method, target.String(), bytes.NewReader(body))
	if err != nil {
		return 0, nil, fmt.Errorf("upvest api: %s %s: %w", method, path, err)
	}
	for _, h := range []http.Header{header, signed} {
		for name, values := range h {
			req.Header[name] = values
		}
	}
	req.ContentLength = int64(len(body)) // Go sends Content-Length from here, not from the header map
	client := c.HTTP
	if client == nil {
		client = &http.Client{Timeout: 15 * time.Second}
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("upvest api: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		return 0, nil, fmt.Errorf("upvest api: %s %s: read answer: %w", method, path, err)
	}
	if len(data) > maxResponseBytes {
		return 0, nil, fmt.Errorf("upvest api: %s %s: answer larger than %d bytes", method, path, maxResponseBytes)
	}
	return resp.StatusCode, data, nil
}

// statusError describes a refusal with the start of Upvest's answer (its
// problem details say why: bad signature, unknown client, missing scope).
func statusError(what string, status int, body []byte) error {
	const show = 300
	text := strings.TrimSpace(string(body))
	if len(text) > show {
		text = text[:show] + "…"
	}
	return fmt.Errorf("upvest api: %s answered %d %s: %s", what, status, http.StatusText(status), text)
}
