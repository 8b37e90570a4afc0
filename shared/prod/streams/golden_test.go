package streams

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/upvest-webhooks/upvest-webhooks/shared/testkit/golden"

	"github.com/aws/aws-lambda-go/events"
)

// loadEvent reads a Lambda DynamoDB stream event from testdata/.
func loadEvent(t *testing.T, path string) events.DynamoDBEvent {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var ev events.DynamoDBEvent
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if len(ev.Records) == 0 {
		t.Fatalf("%s: no records", path)
	}
	return ev
}

// checkGolden compares got with testdata/<name>, or rewrites it with -update.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	golden.Assert(t, filepath.Join("testdata", name), got)
}

// Each testdata/<name>.event.json is a stream batch as Lambda delivers it; the
// decoded changes and their one-line renderings are kept next to it.
func TestGoldenDecodeAndFormat(t *testing.T) {
	inputs, err := filepath.Glob(filepath.Join("testdata", "*.event.json"))
	if err != nil || len(inputs) == 0 {
		t.Fatalf("no testdata/*.event.json: %v", err)
	}
	for _, in := range inputs {
		name := strings.TrimSuffix(filepath.Base(in), ".event.json")
		t.Run(name, func(t *testing.T) {
			ev := loadEvent(t, in)
			var changes bytes.Buffer
			var lines strings.Builder
			for _, r := range ev.Records {
				c, err := Decode(r)
				if err != nil {
					t.Fatalf("decode %s: %v", r.Change.SequenceNumber, err)
				}
				line, err := json.MarshalIndent(c, "", "  ")
				if err != nil {
					t.Fatal(err)
				}
				changes.Write(append(line, '\n'))
				lines.WriteString(FormatChange(c) + "\n")
			}
			checkGolden(t, name+".changes.golden.json", changes.Bytes())
			checkGolden(t, name+".lines.golden.txt", []byte(lines.String()))
		})
	}
}
