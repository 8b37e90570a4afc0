package keysync_test

import (
	"testing"

	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/keysync"
)

// Upvest takes https URLs on DNS names, not IP addresses; a DNS name made of
// hex digits only (cafe.de, add.be) is still a name.
func TestValidateURLTellsNamesFromAddresses(t *testing.T) {
	for _, u := range []string{
		"https://webhooks.example.com/webhooks",
		"https://cafe.de/webhooks",
		"https://dead.beef.de/upvest",
		"https://add.be:8443/webhooks",
		"https://webhooks.example.com./webhooks", // a fully qualified name
		"https://abc123.execute-api.eu-central-1.amazonaws.com/webhooks",
	} {
		if err := keysync.ValidateURL(u, false); err != nil {
			t.Errorf("%s refused: %v", u, err)
		}
	}
	for _, u := range []string{
		"https://10.0.0.1/webhooks",
		"https://010.0.0.1/webhooks", // not an address to Go's parser, not a name either
		"https://[2001:db8::1]/webhooks",
		"https://[::1]/webhooks",
		"https://localhost/webhooks",
		"http://webhooks.example.com/webhooks",
		"https://user@webhooks.example.com/webhooks",
	} {
		if err := keysync.ValidateURL(u, false); err == nil {
			t.Errorf("%s accepted", u)
		}
	}
}
