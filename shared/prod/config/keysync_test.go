package config

import (
	"strings"
	"testing"
)

func keySyncEnv(overrides map[string]string) func(string) string {
	env := map[string]string{
		EnvUpvestAPIBaseURL:    "https://sandbox.upvest.co/",
		EnvUpvestAPISecret:     "arn:aws:secretsmanager:eu-central-1:123456789012:secret:upvest-api-AbCdEf",
		EnvKeySyncSSMParameter: "/upvest-webhooks/sandbox/jwks",
	}
	for k, v := range overrides {
		env[k] = v
	}
	return func(k string) string { return env[k] }
}

func TestLoadKeySync(t *testing.T) {
	c, err := LoadKeySync(keySyncEnv(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.BaseURL != "https://sandbox.upvest.co" || c.APIVersion != "1" || c.Parameter != "/upvest-webhooks/sandbox/jwks" ||
		!strings.HasPrefix(c.SecretID, "arn:aws:secretsmanager:") {
		t.Errorf("%+v", c)
	}
	// A local fake of Upvest may be plain http on loopback.
	if _, err := LoadKeySync(keySyncEnv(map[string]string{EnvUpvestAPIBaseURL: "http://127.0.0.1:8080"})); err != nil {
		t.Errorf("loopback http: %v", err)
	}
}

func TestLoadKeySyncReportsEveryProblem(t *testing.T) {
	tests := []struct {
		name      string
		overrides map[string]string
		want      []string
	}{
		{"nothing set", map[string]string{EnvUpvestAPIBaseURL: "", EnvUpvestAPISecret: "", EnvKeySyncSSMParameter: ""},
			[]string{"keysync configuration", EnvUpvestAPIBaseURL + " is required", EnvUpvestAPISecret + " is required", EnvKeySyncSSMParameter + " is required"}},
		{"plain http to a remote host", map[string]string{EnvUpvestAPIBaseURL: "http://sandbox.upvest.co"}, []string{"not an https:// base URL"}},
		{"no host", map[string]string{EnvUpvestAPIBaseURL: "sandbox.upvest.co"}, []string{"not an https:// base URL"}},
		{"relative parameter", map[string]string{EnvKeySyncSSMParameter: "jwks"}, []string{"starting with /"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadKeySync(keySyncEnv(tt.overrides))
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}
