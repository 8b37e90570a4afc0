package config

import (
	"strings"
	"testing"
)

func TestLoadLocal(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

	got, err := LoadLocal(env(nil))
	want := Local{Addr: "127.0.0.1:8080", DynamoDBPort: 8000, SQSPort: 4566, Dir: ".local",
		DynamoDBEndpoint: "http://127.0.0.1:8000", SQSEndpoint: "http://127.0.0.1:4566", WebhookURL: "http://127.0.0.1:8080/webhooks"}
	if err != nil || got != want {
		t.Fatalf("defaults: %+v, %v", got, err)
	}

	got, err = LoadLocal(env(map[string]string{
		EnvLocalAddr: "127.0.0.1:8180", EnvLocalDynamoDBPort: "8100", EnvLocalSQSPort: " 4666 ", EnvLocalDir: "/tmp/x",
	}))
	want = Local{Addr: "127.0.0.1:8180", DynamoDBPort: 8100, SQSPort: 4666, Dir: "/tmp/x",
		DynamoDBEndpoint: "http://127.0.0.1:8100", SQSEndpoint: "http://127.0.0.1:4666", WebhookURL: "http://127.0.0.1:8180/webhooks"}
	if err != nil || got != want {
		t.Fatalf("ports: %+v, %v", got, err)
	}

	got, err = LoadLocal(env(map[string]string{
		EnvDynamoDBEndpoint: "http://db:1", EnvSQSEndpoint: "http://q:2", EnvSendURL: "https://example.com/webhooks",
	}))
	if err != nil || got.DynamoDBEndpoint != "http://db:1" || got.SQSEndpoint != "http://q:2" || got.WebhookURL != "https://example.com/webhooks" {
		t.Fatalf("explicit endpoints: %+v, %v", got, err)
	}
}

// The local run's hints name the settings another terminal needs too.
func TestLocalOverridesNameTheSettingsThatDifferFromTheDefaults(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	for _, c := range []struct {
		env  map[string]string
		want string
	}{
		{nil, ""},
		{map[string]string{EnvLocalAddr: "127.0.0.1:8080", EnvLocalSQSPort: "4566"}, ""},
		{map[string]string{EnvLocalAddr: "127.0.0.1:18272"}, "LOCAL_ADDR=127.0.0.1:18272"},
		{map[string]string{EnvLocalDynamoDBPort: "18271", EnvLocalSQSPort: "14771", EnvLocalDir: "/tmp/x"},
			"LOCAL_DYNAMODB_PORT=18271 LOCAL_SQS_PORT=14771 LOCAL_DIR=/tmp/x"},
	} {
		cfg, err := LoadLocal(env(c.env))
		if err != nil {
			t.Fatal(err)
		}
		if got := cfg.Overrides(); got != c.want {
			t.Errorf("%v: %q, want %q", c.env, got, c.want)
		}
	}
}

func TestLoadLocalRejectsBadPorts(t *testing.T) {
	for name, vars := range map[string]map[string]string{
		"not a number":   {EnvLocalDynamoDBPort: "80a0"},
		"zero":           {EnvLocalSQSPort: "0"},
		"too large":      {EnvLocalDynamoDBPort: "70000"},
		"the same ports": {EnvLocalDynamoDBPort: "9000", EnvLocalSQSPort: "9000"},
	} {
		_, err := LoadLocal(func(k string) string { return vars[k] })
		if err == nil {
			t.Errorf("%s: no error", name)
			continue
		}
		for k := range vars {
			if !strings.Contains(err.Error(), k) {
				t.Errorf("%s: error %q does not name %s", name, err, k)
			}
		}
	}
}
