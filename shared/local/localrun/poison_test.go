package localrun_test

import (
	"context"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/upvest-webhooks/upvest-webhooks/shared/local/webhookclient"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/config"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/ledger"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/ops"
	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/uuid"
)

// addForeignKeys puts keys of other curves beside the dev key, as a JWKS from
// Upvest might hold one day: they are skipped, the pipeline still starts.
func addForeignKeys(t testing.TB, path string) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(raw, &set); err != nil {
		t.Fatal(err)
	}
	p256, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := p256.PublicKey.ECDH()
	if err != nil {
		t.Fatal(err)
	}
	point := pub.Bytes()[1:] // uncompressed: 0x04 || x || y
	ed, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	x25519, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.RawURLEncoding.EncodeToString
	set.Keys = append([]map[string]any{
		{"kid": uuid.New(), "kty": "EC", "crv": "P-256", "x": b64(point[:32]), "y": b64(point[32:])},
		{"kid": uuid.New(), "kty": "OKP", "crv": "Ed25519", "x": b64(ed)},
	}, append(set.Keys, map[string]any{"kid": uuid.New(), "kty": "OKP", "crv": "X25519", "x": b64(x25519.PublicKey().Bytes())})...)
	out, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, out, 0o600); err != nil {
		t.Fatal(err)
	}
}

func orderEvent(typ, status, updated string, extra string) (json.RawMessage, string) {
	id := uuid.New()
	return json.RawMessage(`{"id":"` + id + `","created_at":"` + updated + `","type":"` + typ + `","object":{"id":"` + uuid.New() +
		`","status":"` + status + `","updated_at":"` + updated + `"` + extra + `},"webhook_id":"` + uuid.New() + `"}`), id
}

// The end-to-end run: signed requests, every other one poisonous.
// Every answer is 200; every good event is applied; every poison is kept with
// its reason; and the pipeline starts with a JWKS holding foreign keys.
func TestPoisonEveryOtherRequestNeverBlocksTheFeed(t *testing.T) {
	p := startPipelineWithKeys(t, true, addForeignKeys)
	// A 5 MB event on a loaded 2-core machine under the race detector takes a while.
	p.client.HTTP = &http.Client{Timeout: 5 * time.Minute}
	ctx := context.Background()
	at := "2026-01-02T03:04:05.000000Z"

	var goodIDs []string
	good := func() []byte {
		evs, err := webhookclient.GenerateOrderLifecycles(1, time.Now().UTC())
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs {
			var head struct{ ID string }
			if err := json.Unmarshal(e, &head); err != nil {
				t.Fatal(err)
			}
			goodIDs = append(goodIDs, head.ID)
		}
		body, err := webhookclient.Envelope(evs)
		if err != nil {
			t.Fatal(err)
		}
		return body
	}
	// Events that must be processed normally although no SQS message could carry their bytes as text.
	nonChars, nonCharsID := orderEvent("ORDER.NEW", "NEW", at, ",\"note\":\"\uFFFE\uFFFF\"")
	emoji, emojiID := orderEvent("ORDER.NEW", "NEW", at, ",\"note\":\"\U0001F680\"")
	longKey := json.RawMessage(strings.Replace(string(nonChars), `"object":{"id":"`, `"object":{"id":"`+strings.Repeat("k", 3000), 1))
	longKey = json.RawMessage(strings.Replace(string(longKey), nonCharsID, uuid.New(), 1))
	var longKeyHead struct{ ID string }
	_ = json.Unmarshal(longKey, &longKeyHead)
	goodIDs = append(goodIDs, nonCharsID, emojiID, longKeyHead.ID)

	notUTF8, notUTF8ID := orderEvent("ORDER.NEW", "NEW", at, ",\"note\":\"\xff\"")
	huge, hugeID := orderEvent("ORDER.NEW", "NEW", at, `,"pad":"`+randomText(t, 5<<20)+`"`)
	deep := `{"id":"` + uuid.New() + `","object":` + strings.Repeat(`[`, 20_000) + strings.Repeat(`]`, 20_000) + `}`
	envelope := func(evs ...string) []byte { return []byte(`{"payload":[` + strings.Join(evs, ",") + `]}`) }

	poisons := []struct {
		name    string
		body    []byte
		eventID string // "" for a request record
	}{
		{"invalid UTF-8 in an event", envelope(string(notUTF8)), notUTF8ID},
		{"an event of 5 MB", envelope(string(huge)), hugeID},
		{"bare array", []byte(`[` + string(emoji) + `]`), ""},
		{"byte-order mark", append([]byte("\xef\xbb\xbf"), envelope()...), ""},
		{"trailing bytes", append(envelope(), 'x'), ""},
		{"empty body", []byte{}, ""},
		{"nested too deep, beside good events", envelope(string(nonChars), deep, string(emoji), string(longKey)), "deep"},
	}
	for _, poison := range poisons {
		for _, r := range []struct {
			name string
			body []byte
		}{{"good", good()}, {poison.name, poison.body}} {
			res, err := p.client.PostBody(ctx, r.body)
			if err != nil {
				t.Fatalf("%s: %v", r.name, err)
			}
			if !res.OK() {
				t.Fatalf("%s: status %d %s; an authentic request must get 200", r.name, res.Status, res.Body)
			}
		}
	}

	// Every good event applied: its state row holds it or a newer event of its
	// lifecycle, as ops derives the outcome; the ledger keeps RECEIVED.
	inspector := &ops.Inspector{Ledger: ledger.NewDynamo(p.env.DynamoDB, p.env.LedgerTable), DB: p.env.DynamoDB,
		Resources: config.Ops{LedgerTable: p.env.LedgerTable, StateTables: p.env.StateTables}}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var pending []string
		for _, id := range goodIDs {
			rep, err := inspector.Outcome(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Outcome != ops.OutcomeApplied && rep.Outcome != ops.OutcomeSettled {
				pending = append(pending, id+" "+string(rep.Outcome))
			}
		}
		if len(pending) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d good events not applied: %v", len(pending), len(goodIDs), pending)
		}
		time.Sleep(300 * time.Millisecond)
	}

	// Every poison kept, with its reason.
	l := ledger.NewDynamo(p.env.DynamoDB, p.env.LedgerTable)
	requests, err := l.Parked(ctx, ledger.RequestsPartition)
	if err != nil || len(requests) != 4 {
		t.Errorf("kept requests %v (err %v), want the 4 non-envelopes", requests, err)
	}
	for _, key := range requests {
		if s, err := l.Read(ctx, key); err != nil || s.Reason == "" || s.Kind != ledger.KindRequest {
			t.Errorf("kept request %s: %+v %v", key, s, err)
		}
	}
	deadline = time.Now().Add(time.Minute)
	for _, id := range []string{notUTF8ID, hugeID} {
		for {
			s, err := l.Read(ctx, id)
			if err == nil && s.Status == ledger.Parked && s.Reason != "" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("poison event %s: %+v %v, want PARKED with a reason", id, s.Status, err)
			}
			time.Sleep(300 * time.Millisecond)
		}
	}
	unrouted, _ := l.Parked(ctx, "unrouted")
	deepKept := false
	for _, id := range unrouted {
		if s, _ := l.Read(ctx, id); strings.Contains(string(s.Raw), strings.Repeat("[", 100)) && s.Reason != "" {
			deepKept = true
		}
	}
	if !deepKept {
		t.Errorf("the too-deep event is not kept with its reason; parked in unrouted: %v", unrouted)
	}
	if s, _ := l.Read(ctx, hugeID); len(s.Raw) != len(huge) {
		t.Errorf("the 5 MB event is kept with %d bytes, want %d", len(s.Raw), len(huge))
	}
}

// randomText is n bytes of incompressible JSON-safe text.
func randomText(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n*3/4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)[:n]
}
