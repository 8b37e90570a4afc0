package config

import (
	"net/url"
	"strings"
)

// UpvestAPI is how the ops tool reaches Upvest's API: the key sync's
// variables without the parameter.
type UpvestAPI struct {
	BaseURL    string
	SecretID   string
	APIVersion string
}

// LoadUpvestAPI reads UPVEST_API_BASE_URL, UPVEST_API_SECRET_ID and UPVEST_API_VERSION.
func LoadUpvestAPI(getenv func(string) string) (UpvestAPI, error) {
	r := &reader{getenv: getenv}
	c := UpvestAPI{
		BaseURL:    strings.TrimRight(r.required(EnvUpvestAPIBaseURL), "/"),
		SecretID:   r.required(EnvUpvestAPISecret),
		APIVersion: r.optional(EnvUpvestAPIVersion, "1"),
	}
	if c.BaseURL != "" {
		u, err := url.Parse(c.BaseURL)
		if err != nil || u.Host == "" || u.RawQuery != "" || u.Fragment != "" ||
			u.Scheme != "https" && !(u.Scheme == "http" && isLoopback(u.Hostname())) {
			r.problems = append(r.problems, EnvUpvestAPIBaseURL+"="+c.BaseURL+" is not an https:// base URL such as https://sandbox.upvest.co")
		}
	}
	return c, r.err("upvest api")
}
