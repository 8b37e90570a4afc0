package localaws_test

import (
	"context"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/upvest-webhooks/upvest-webhooks/shared/local/localaws"
	"github.com/upvest-webhooks/upvest-webhooks/shared/local/localaws/awstest"
)

func TestStartServesBothAPIsAndStopFreesThePorts(t *testing.T) {
	awstest.RequireServers(t) // where the servers are configured, `make tools` has installed them
	ports := freePorts(t, 2)
	dynamoPort, sqsPort := ports[0], ports[1]
	logDir := t.TempDir()
	ctx := context.Background()
	s, err := localaws.Start(ctx, localaws.Options{DynamoDBPort: dynamoPort, SQSPort: sqsPort, LogDir: logDir})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() { s.Stop() })

	if s.DynamoDBEndpoint != "http://127.0.0.1:"+strconv.Itoa(dynamoPort) || s.SQSEndpoint != "http://127.0.0.1:"+strconv.Itoa(sqsPort) {
		t.Errorf("endpoints %s %s", s.DynamoDBEndpoint, s.SQSEndpoint)
	}
	cfg, err := localaws.Config(ctx, s.DynamoDBEndpoint, s.SQSEndpoint)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dynamodb.NewFromConfig(cfg).ListTables(ctx, &dynamodb.ListTablesInput{}); err != nil {
		t.Errorf("ListTables: %v", err)
	}
	if _, err := sqs.NewFromConfig(cfg).ListQueues(ctx, &sqs.ListQueuesInput{}); err != nil {
		t.Errorf("ListQueues: %v", err)
	}
	fauxqsLog, err := os.ReadFile(filepath.Join(logDir, "fauxqs.log"))
	if err != nil || !strings.Contains(string(fauxqsLog), "listening on 127.0.0.1:"+strconv.Itoa(sqsPort)) {
		t.Errorf("fauxqs log %q (%v)", fauxqsLog, err)
	}
	if dynamoLog, err := os.ReadFile(filepath.Join(logDir, "dynamodb.log")); err != nil || !strings.Contains(string(dynamoLog), "Port:\t"+strconv.Itoa(dynamoPort)) {
		t.Errorf("dynamodb log %q (%v)", dynamoLog, err)
	}
	if env := strings.Join(s.Env(), " "); !strings.Contains(env, localaws.EnvStreamsEndpoint+"="+s.DynamoDBEndpoint) {
		t.Errorf("Env() = %s", env)
	}

	if err := s.Stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	for _, p := range []int{dynamoPort, sqsPort} {
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			t.Errorf("port %d still taken after Stop: %v", p, err)
			continue
		}
		l.Close()
	}
	if err := s.Stop(); err != nil {
		t.Errorf("second stop: %v", err)
	}
}

func TestStartRefusesABusyPort(t *testing.T) {
	awstest.RequireServers(t) // Start looks for the installed servers before it tries the ports
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	busy := l.Addr().(*net.TCPAddr).Port
	_, err = localaws.Start(context.Background(), localaws.Options{DynamoDBPort: freePort(t), SQSPort: busy, LogDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "port "+strconv.Itoa(busy)+" is already in use by another process") {
		t.Fatalf("start on a busy port: %v", err)
	}
}

// A compatible server already on the port is not reused: its data is not ours.
func TestStartRefusesARunningDynamoDB(t *testing.T) {
	dynamo, _ := awstest.RequireServers(t)
	u, err := url.Parse(dynamo)
	if err != nil {
		t.Fatal(err)
	}
	port, _ := strconv.Atoi(u.Port())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = localaws.Start(ctx, localaws.Options{DynamoDBPort: port, SQSPort: freePort(t), LogDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "already in use by a DynamoDB-compatible server") {
		t.Fatalf("start on the running DynamoDB's port: %v", err)
	}
}

func TestStartRejectsBadOptions(t *testing.T) {
	for name, o := range map[string]localaws.Options{
		"same ports":    {DynamoDBPort: 18999, SQSPort: 18999},
		"port range":    {DynamoDBPort: 70000},
		"no tools here": {ToolsDir: t.TempDir(), LogDir: t.TempDir()},
	} {
		if _, err := localaws.Start(context.Background(), o); err == nil {
			t.Errorf("%s: started", name)
		}
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	return freePorts(t, 1)[0]
}

// freePorts returns n distinct free ports: each listener stays open until all
// are picked, so the kernel cannot hand out one port twice (it did, now and
// then, to two freePort calls in a row).
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	ports := make([]int, n)
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		ports[i] = l.Addr().(*net.TCPAddr).Port
	}
	return ports
}

// A Java or Node.js too old for the servers, or none at all, is refused with
// the version the servers need, not with a runtime's stack trace or a bare
// "executable file not found".
func TestStartNamesTheRuntimeVersionItNeeds(t *testing.T) {
	awstest.RequireServers(t) // Start looks for the installed servers first
	dir := t.TempDir()
	script := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// What Java 11 does with DynamoDB Local's classes (built for Java 17, class file version 61).
	java11 := script("java11", `echo 'Error: A JNI error has occurred, please check your installation and try again' >&2
echo 'Exception in thread "main" java.lang.UnsupportedClassVersionError: com/amazonaws/services/dynamodbv2/local/main/ServerRunner has been compiled by a more recent version of the Java Runtime (class file version 61.0), this version of the Java Runtime only recognizes class file versions up to 55.0' >&2
exit 1`)
	node18 := script("node18", `[ "$1" = --version ] && { echo v18.19.1; exit 0; }; sleep 600`)
	for _, c := range []struct {
		name       string
		java, node string
		want       string
	}{
		{"no java", filepath.Join(dir, "missing-java"), "", "Java 17 or newer"},
		{"java 11", java11, "", "Java 17 or newer"},
		{"no node", "", filepath.Join(dir, "missing-node"), "Node.js 20 or newer"},
		{"node 18", "", node18, "Node.js 20 or newer"},
	} {
		ports := freePorts(t, 2)
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		s, err := localaws.Start(ctx, localaws.Options{DynamoDBPort: ports[0], SQSPort: ports[1], LogDir: t.TempDir(), Java: c.java, Node: c.node})
		cancel()
		if err == nil {
			s.Stop()
			t.Errorf("%s: started", c.name)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v\nwant it to say %q", c.name, err, c.want)
		}
	}
}
