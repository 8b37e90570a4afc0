package ingest_test

import (
	"bytes"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	upvest "github.com/upvest-webhooks/upvest-webhooks/events"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/ledger"
)

// keptElsewhere are README "kept as" rows about what happens past ingest, so
// outside this catalogue: the row's phrase, the test file and the case there.
var keptElsewhere = map[string][2]string{
	"an event that DynamoDB refuses in the worker": {"../worker/neverblock_test.go", `"refused by DynamoDB"`},
}

// README's "HTTP answers" tables and the catalogue must say the same: every
// status row is answered by some case with the body the row shows, every
// answer has its row, and every "kept as" row is shown by some case.
func TestReadmeAnswersMatchCatalogue(t *testing.T) {
	statuses, kept := readmeAnswerTables(t)
	cases := catalogue()

	// Answers, from an in-memory run of every case.
	k := newKeys(t)
	answers := map[int][]answer{}
	for _, c := range cases {
		if len(c.body) > 1<<20+1024 && c.status != 413 {
			continue // the large cases' answers are proven by the catalogue runs; too slow to repeat
		}
		w := k.signed(t, c)
		if c.alter != nil {
			c.alter(w)
		}
		got := send(t, memoryBackend(t, k, c).handler, w)
		answers[got.status] = append(answers[got.status], got)
	}
	for status, body := range statuses {
		if len(answers[status]) == 0 {
			t.Errorf("README answers %d, but no catalogue case gets it", status)
		}
		for _, got := range answers[status] {
			checkReadmeBody(t, status, body, got)
		}
	}
	for status := range answers {
		if _, ok := statuses[status]; !ok {
			t.Errorf("the catalogue gets %d, which README's table lacks", status)
		}
	}

	// "Kept as" rows.
	shown := map[string]bool{}
	for _, c := range cases {
		if c.row == "" {
			if keepsAside(c) {
				t.Errorf("case %q keeps something aside but names no README row", c.name)
			}
			continue
		}
		var matches []string
		for _, row := range kept {
			if strings.HasPrefix(row, c.row) {
				matches = append(matches, row)
			}
		}
		if len(matches) != 1 {
			t.Errorf("case %q names README row %q, which matches %d rows", c.name, c.row, len(matches))
			continue
		}
		shown[matches[0]] = true
	}
	for _, row := range kept {
		if shown[row] {
			continue
		}
		if elsewhere, ok := elsewhereFor(row); ok {
			src, err := os.ReadFile(elsewhere[0])
			if err != nil || !bytes.Contains(src, []byte(elsewhere[1])) {
				t.Errorf("README row %q is said to be shown by %s in %s, which is not there", short(row), elsewhere[1], elsewhere[0])
			}
			continue
		}
		t.Errorf("README row %q is shown by no catalogue case", short(row))
	}
}

// keepsAside reports whether a case parks something or routes to unrouted.
func keepsAside(c entry) bool {
	for _, k := range c.kept {
		if k.status == ledger.Parked || k.where == string(upvest.Unrouted) {
			return true
		}
	}
	return false
}

func elsewhereFor(row string) ([2]string, bool) {
	for phrase, where := range keptElsewhere {
		if strings.HasPrefix(row, phrase) {
			return where, true
		}
	}
	return [2]string{}, false
}

var jsonPair = regexp.MustCompile(`"(\w+)":("[^"]*"|n)`)

// checkReadmeBody compares an answer with the body column: the same fields
// for a 200, the same "field":"value" pairs otherwise.
func checkReadmeBody(t *testing.T, status int, column string, got answer) {
	t.Helper()
	pairs := jsonPair.FindAllStringSubmatch(column, -1)
	if len(pairs) == 0 {
		t.Errorf("README's body for %d shows no JSON fields: %q", status, column)
	}
	if status == 200 {
		var readme, answered []string
		for _, p := range pairs {
			readme = append(readme, p[1])
		}
		for field := range got.body {
			answered = append(answered, field)
		}
		sort.Strings(readme)
		sort.Strings(answered)
		if strings.Join(readme, ",") != strings.Join(answered, ",") {
			t.Errorf("200 answers fields %v, README shows %v", answered, readme)
		}
		return
	}
	for _, p := range pairs {
		want, _ := strconv.Unquote(p[2])
		if got.body[p[1]] != want {
			t.Errorf("%d answered %v, README shows %s:%s", status, got.body, p[1], p[2])
		}
	}
}

// readmeAnswerTables reads the tables under "## HTTP answers": status → body
// column, and the first column of each "kept as" row.
func readmeAnswerTables(t *testing.T) (statuses map[int]string, kept []string) {
	t.Helper()
	readme, err := os.ReadFile("../../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, found := strings.Cut(string(readme), "\n## HTTP answers\n")
	if !found {
		t.Fatal(`README has no "## HTTP answers" section`)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	statuses = map[int]string{}
	var header []string
	for _, line := range strings.Split(section, "\n") {
		if !strings.HasPrefix(line, "|") {
			header = nil
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), " | ")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		switch {
		case header == nil:
			header = cells
		case strings.HasPrefix(cells[0], "---"):
		case header[0] == "status":
			status, err := strconv.Atoi(cells[0])
			if err != nil || len(cells) < 3 {
				t.Fatalf("README status row %q", line)
			}
			statuses[status] = cells[1]
		case len(header) > 1 && header[1] == "kept as":
			kept = append(kept, cells[0])
		default:
			t.Fatalf("README's HTTP answers has a table this test does not know: %v", header)
		}
	}
	if len(statuses) == 0 || len(kept) == 0 {
		t.Fatalf("README's HTTP answers: %d status rows, %d kept-as rows", len(statuses), len(kept))
	}
	return statuses, kept
}
