package config

import (
	"net/url"
	"strings"
)

// Environment variables of the keysync function (and `ops keys`).
const (
	EnvUpvestAPIBaseURL    = "UPVEST_API_BASE_URL"   // https://sandbox.upvest.co or https://api.upvest.co
	EnvUpvestAPISecret     = "UPVEST_API_SECRET_ID"  // Secrets Manager secret (ARN or name) with the API client's credentials
	EnvUpvestAPIVersion    = "UPVEST_API_VERSION"    // upvest-api-version header
	EnvKeySyncSSMParameter = "KEYSYNC_SSM_PARAMETER" // the JWKS parameter ingest reads (UPVEST_JWKS_SSM_PARAMETER there)
	EnvUpvestAPIKeysScope  = "UPVEST_API_KEYS_SCOPE" // scope the key sync asks for: webhooks:read (default) or webhooks:admin
)

// KeySync is the configuration of the key sync: where Upvest's API is, which
// secret holds the API client's credentials, and which parameter to keep current.
type KeySync struct {
	BaseURL    string
	SecretID   string
	APIVersion string
	Parameter  string
	KeysScope  string // webhooks:read, or webhooks:admin for a client issued only that
}

// LoadKeySync reads and validates the keysync configuration.
func LoadKeySync(getenv func(string) string) (KeySync, error) {
	r := &reader{getenv: getenv}
	c := KeySync{
		BaseURL:    strings.TrimRight(r.required(EnvUpvestAPIBaseURL), "/"),
		SecretID:   r.required(EnvUpvestAPISecret),
		APIVersion: r.optional(EnvUpvestAPIVersion, "1"),
		Parameter:  r.required(EnvKeySyncSSMParameter),
		KeysScope:  r.optional(EnvUpvestAPIKeysScope, "webhooks:read"),
	}
	if c.KeysScope != "webhooks:read" && c.KeysScope != "webhooks:admin" {
		r.problems = append(r.problems, EnvUpvestAPIKeysScope+"="+c.KeysScope+" is not webhooks:read or webhooks:admin")
	}
	if c.BaseURL != "" {
		u, err := url.Parse(c.BaseURL)
		if err != nil || u.Host == "" || u.RawQuery != "" || u.Fragment != "" ||
			u.Scheme != "https" && !(u.Scheme == "http" && isLoopback(u.Hostname())) {
			r.problems = append(r.problems, EnvUpvestAPIBaseURL+"="+c.BaseURL+" is not an https:// base URL such as https://sandbox.upvest.co")
		}
	}
	if c.Parameter != "" && !strings.HasPrefix(c.Parameter, "/") {
		r.problems = append(r.problems, EnvKeySyncSSMParameter+" must be a path-style name starting with /")
	}
	return c, r.err("keysync")
}

// isLoopback allows plain http only to this machine (a local fake of Upvest).
func isLoopback(host string) bool {
	return host == "localhost" || host == "127.0.0.1" || host == "::1"
}
