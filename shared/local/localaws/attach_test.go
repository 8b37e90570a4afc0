package localaws_test

import (
	"context"
	"errors"
	"net"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/upvest-webhooks/upvest-webhooks/shared/local/localaws"
	"github.com/upvest-webhooks/upvest-webhooks/shared/local/localaws/awstest"
)

func portOf(t *testing.T, endpoint string) int {
	t.Helper()
	u, err := url.Parse(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	port, err := strconv.Atoi(u.Port())
	if err != nil {
		t.Fatal(err)
	}
	return port
}

func TestAttachFindsRunningServersAndStopLeavesThemUp(t *testing.T) {
	dynamo, sqsEndpoint := awstest.RequireServers(t)
	ctx := context.Background()
	s, err := localaws.Attach(ctx, portOf(t, dynamo), portOf(t, sqsEndpoint))
	if err != nil {
		t.Fatalf("attach: %v", err)
	}
	if !s.Attached() || s.DynamoDBEndpoint != dynamo || s.SQSEndpoint != sqsEndpoint {
		t.Errorf("attached %v to %s %s", s.Attached(), s.DynamoDBEndpoint, s.SQSEndpoint)
	}
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := localaws.Attach(ctx, portOf(t, dynamo), portOf(t, sqsEndpoint)); err != nil {
		t.Errorf("servers gone after Stop of an attached set: %v", err)
	}
}

func TestAttachWithNothingRunning(t *testing.T) {
	ports := freePorts(t, 2)
	_, err := localaws.Attach(context.Background(), ports[0], ports[1])
	if !errors.Is(err, localaws.ErrNotRunning) {
		t.Fatalf("attach to free ports: %v", err)
	}
}

func TestAttachRefusesAHalfOrForeignSet(t *testing.T) {
	dynamo, _ := awstest.RequireServers(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() { // a port that accepts and says nothing useful
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	foreign := l.Addr().(*net.TCPAddr).Port
	for name, ports := range map[string][2]int{
		"only DynamoDB up":   {portOf(t, dynamo), freePort(t)},
		"foreign on the SQS": {portOf(t, dynamo), foreign},
	} {
		s, err := localaws.Attach(context.Background(), ports[0], ports[1])
		if err == nil || errors.Is(err, localaws.ErrNotRunning) {
			t.Errorf("%s: attached %v, err %v", name, s, err)
		}
	}
}

// With DataDir, DynamoDB's tables survive a restart of the servers.
func TestDataDirKeepsTablesAcrossRestarts(t *testing.T) {
	awstest.RequireServers(t)
	dataDir, logDir := t.TempDir(), t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	start := func() (*localaws.Servers, *dynamodb.Client) {
		t.Helper()
		ports := freePorts(t, 2)
		s, err := localaws.Start(ctx, localaws.Options{DynamoDBPort: ports[0], SQSPort: ports[1], LogDir: logDir, DataDir: dataDir})
		if err != nil {
			t.Fatalf("start: %v", err)
		}
		t.Cleanup(func() { s.Stop() })
		cfg, err := localaws.Config(ctx, s.DynamoDBEndpoint, s.SQSEndpoint)
		if err != nil {
			t.Fatal(err)
		}
		return s, dynamodb.NewFromConfig(cfg)
	}
	s, db := start()
	_, err := db.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String("kept"),
		BillingMode:          ddbtypes.BillingModePayPerRequest,
		KeySchema:            []ddbtypes.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: ddbtypes.KeyTypeHash}},
		AttributeDefinitions: []ddbtypes.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: ddbtypes.ScalarAttributeTypeS}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("kept"),
		Item: map[string]ddbtypes.AttributeValue{"pk": &ddbtypes.AttributeValueMemberS{Value: "a day of work"}}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}

	_, db = start()
	out, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("kept"),
		Key: map[string]ddbtypes.AttributeValue{"pk": &ddbtypes.AttributeValueMemberS{Value: "a day of work"}}})
	if err != nil || out.Item == nil {
		t.Fatalf("item after restart: %v %v", out, err)
	}
}

// When only one port answers as it should, the error names the port in the
// way, says what is there, and the settings that choose other ports: a
// DynamoDB Local of another project on 8000 is common, and "port 4566 does not
// answer as SQS: connection refused" sent the user looking at the wrong port.
func TestAttachNamesThePortInTheWayAndTheWayOut(t *testing.T) {
	dynamo, sqsEndpoint := awstest.RequireServers(t)
	silent := silentPort(t)
	ports := freePorts(t, 2)
	dynamoPort, sqsPort := portOf(t, dynamo), portOf(t, sqsEndpoint)
	for _, c := range []struct {
		name       string
		ports      [2]int
		want       []string
		wantAbsent string
	}{
		{"DynamoDB up, SQS port free", [2]int{dynamoPort, ports[1]},
			[]string{"a DynamoDB server answers on port " + strconv.Itoa(dynamoPort), "nothing on the SQS port " + strconv.Itoa(ports[1]), "make emulators", "LOCAL_DYNAMODB_PORT"}, ""},
		{"SQS up, DynamoDB port free", [2]int{ports[0], sqsPort},
			[]string{"an SQS server answers on port " + strconv.Itoa(sqsPort), "nothing on the DynamoDB port " + strconv.Itoa(ports[0]), "make emulators", "LOCAL_SQS_PORT"}, ""},
		{"something else on the SQS port", [2]int{dynamoPort, silent},
			[]string{"port " + strconv.Itoa(silent) + " is in use by something that does not answer as SQS", "LOCAL_SQS_PORT"}, "LOCAL_DYNAMODB_PORT"},
		{"something else on the DynamoDB port", [2]int{silent, sqsPort},
			[]string{"port " + strconv.Itoa(silent) + " is in use by something that does not answer as DynamoDB", "LOCAL_DYNAMODB_PORT"}, "LOCAL_SQS_PORT"},
	} {
		_, err := localaws.Attach(context.Background(), c.ports[0], c.ports[1])
		if err == nil || errors.Is(err, localaws.ErrNotRunning) {
			t.Errorf("%s: err %v", c.name, err)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %q\nwant it to say %q", c.name, err, w)
			}
		}
		if c.wantAbsent != "" && strings.Contains(err.Error(), c.wantAbsent) {
			t.Errorf("%s: %q names %s, whose port is fine", c.name, err, c.wantAbsent)
		}
	}
}

// silentPort is a port that accepts connections and never answers.
func silentPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	return l.Addr().(*net.TCPAddr).Port
}
