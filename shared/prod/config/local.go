package config

import (
	"fmt"
	"strconv"
	"strings"
)

// Environment of the local tools: `make run` (functions/local), emulators, send,
// tail and replay -local. The one place for the local addresses and ports.
const (
	EnvLocalAddr         = "LOCAL_ADDR"          // the local webhook endpoint's listen address
	EnvLocalDynamoDBPort = "LOCAL_DYNAMODB_PORT" // DynamoDB Local (it serves the Streams API too)
	EnvLocalSQSPort      = "LOCAL_SQS_PORT"      // the SQS server (fauxqs)
	EnvLocalDir          = "LOCAL_DIR"           // dev keys and logs
	EnvSendURL           = "UPVEST_SEND_URL"     // where send posts; default: the local endpoint

	// The SDK's own endpoint variables: when set, they name the servers instead of the ports.
	EnvDynamoDBEndpoint = "AWS_ENDPOINT_URL_DYNAMODB"
	EnvSQSEndpoint      = "AWS_ENDPOINT_URL_SQS"
)

// Defaults of the local run.
const (
	DefaultLocalAddr         = "127.0.0.1:8080"
	DefaultLocalDynamoDBPort = 8000
	DefaultLocalSQSPort      = 4566
	DefaultLocalDir          = ".local"
	LocalWebhookPath         = "/webhooks"
	// Dev key files of the local run, inside Dir: the key its fake Upvest
	// signs with, and the JWKS its receiver trusts.
	LocalDevKeyFile  = "dev-key.pem"
	LocalDevJWKSFile = "dev-jwks.json"
)

// Local is the configuration of the local tools.
type Local struct {
	Addr             string
	DynamoDBPort     int
	SQSPort          int
	Dir              string
	DynamoDBEndpoint string // AWS_ENDPOINT_URL_DYNAMODB, else http://127.0.0.1:<DynamoDBPort>
	SQSEndpoint      string // AWS_ENDPOINT_URL_SQS, else http://127.0.0.1:<SQSPort>
	WebhookURL       string // UPVEST_SEND_URL, else http://<Addr>/webhooks
}

// LoadLocal reads and validates the local tools' configuration; a port that is
// not a number from 1 to 65535 is an error, never silently replaced.
func LoadLocal(getenv func(string) string) (Local, error) {
	r := &reader{getenv: getenv}
	c := Local{
		Addr:         r.optional(EnvLocalAddr, DefaultLocalAddr),
		DynamoDBPort: r.port(EnvLocalDynamoDBPort, DefaultLocalDynamoDBPort),
		SQSPort:      r.port(EnvLocalSQSPort, DefaultLocalSQSPort),
		Dir:          r.optional(EnvLocalDir, DefaultLocalDir),
	}
	if c.DynamoDBPort == c.SQSPort {
		r.problems = append(r.problems, fmt.Sprintf("%s and %s are both %d", EnvLocalDynamoDBPort, EnvLocalSQSPort, c.DynamoDBPort))
	}
	c.DynamoDBEndpoint = r.optional(EnvDynamoDBEndpoint, LocalEndpoint(c.DynamoDBPort))
	c.SQSEndpoint = r.optional(EnvSQSEndpoint, LocalEndpoint(c.SQSPort))
	c.WebhookURL = r.optional(EnvSendURL, "http://"+c.Addr+LocalWebhookPath)
	return c, r.err("local")
}

// Overrides are the settings of c that differ from their defaults, as
// NAME=value words: what another terminal needs as well for send, tail and
// ops -local to find this run; "" when every one is the default.
func (c Local) Overrides() string {
	var words []string
	add := func(name, value, def string) {
		if value != def {
			words = append(words, name+"="+value)
		}
	}
	add(EnvLocalAddr, c.Addr, DefaultLocalAddr)
	add(EnvLocalDynamoDBPort, strconv.Itoa(c.DynamoDBPort), strconv.Itoa(DefaultLocalDynamoDBPort))
	add(EnvLocalSQSPort, strconv.Itoa(c.SQSPort), strconv.Itoa(DefaultLocalSQSPort))
	add(EnvLocalDir, c.Dir, DefaultLocalDir)
	return strings.Join(words, " ")
}

// LocalEndpoint is the URL of a local server on port.
func LocalEndpoint(port int) string { return "http://127.0.0.1:" + strconv.Itoa(port) }

func (r *reader) port(name string, def int) int {
	v := strings.TrimSpace(r.getenv(name))
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 65535 {
		r.problems = append(r.problems, fmt.Sprintf("%s=%q is not a port number (1 to 65535)", name, v))
		return def
	}
	return n
}
