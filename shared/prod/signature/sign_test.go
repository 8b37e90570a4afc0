package signature

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

func TestSignHeaders(t *testing.T) {
	added, err := Sign(webhookRequest(), testKey, testKid, testNow, "")
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	if len(added) != 3 {
		t.Fatalf("Sign added %v, want Digest, Signature-Input and Signature", added)
	}
	input := added.Get("Signature-Input")
	want := regexp.MustCompile(`^sig1=\("content-type" "@method" "@path" "digest"\);keyid="` + testKid + `";created=1700000000;nonce="[0-9]{10}";expires=1700000060$`)
	if !want.MatchString(input) {
		t.Errorf("Signature-Input = %s", input)
	}
	if sig := added.Get("Signature"); !regexp.MustCompile(`^sig1=:[A-Za-z0-9+/]+=*:$`).MatchString(sig) {
		t.Errorf("Signature = %s", sig)
	}
	if added.Get("Digest") != digestOf(webhookRequest().Body) {
		t.Errorf("Digest = %s", added.Get("Digest"))
	}
}

func TestSignWithoutBodyHasNoDigest(t *testing.T) {
	req := Request{Method: "GET", Path: "/x", Header: http.Header{}}
	added, err := Sign(req, testKey, testKid, testNow, "1")
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	if added.Get("Digest") != "" || strings.Contains(added.Get("Signature-Input"), "digest") {
		t.Fatalf("empty body signed with a digest: %v", added)
	}
}

func TestSignRejects(t *testing.T) {
	p256, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	badHeader := webhookRequest()
	badHeader.Header.Set("Weird", "tab\there")
	tests := []struct {
		name  string
		req   Request
		key   *ecdsa.PrivateKey
		kid   string
		nonce string
	}{
		{"no key", webhookRequest(), nil, testKid, "1"},
		{"P-256 key", webhookRequest(), p256, testKid, "1"},
		{"empty kid", webhookRequest(), testKey, "", "1"},
		{"quote in kid", webhookRequest(), testKey, `a"b`, "1"},
		{"backslash in nonce", webhookRequest(), testKey, testKid, `1\2`},
		{"header Upvest cannot sign", badHeader, testKey, testKid, "1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Sign(tt.req, tt.key, tt.kid, testNow, tt.nonce); err == nil {
				t.Fatal("Sign accepted")
			}
		})
	}
}

func TestSignDraft15Headers(t *testing.T) {
	added, err := SignDraft(Draft15, webhookRequest(), testKey, testKid, testNow, "")
	if err != nil {
		t.Fatalf("SignDraft: %v", err)
	}
	want := regexp.MustCompile(`^sig1=\("content-type" "@method" "@path" "content-digest"\);keyid="` + testKid + `";created=1700000000;nonce="[0-9]{10}";expires=1700000060$`)
	if input := added.Get("Signature-Input"); !want.MatchString(input) {
		t.Errorf("Signature-Input = %s", input)
	}
	if got := added.Get("Content-Digest"); !regexp.MustCompile(`^sha-512=:[A-Za-z0-9+/]{86}==:$`).MatchString(got) {
		t.Errorf("Content-Digest = %s", got)
	}
	if added.Get("Upvest-Signature-Version") != "15" || added.Get("Digest") != "" || len(added) != 4 {
		t.Errorf("added %v, want Content-Digest, Signature-Input, Signature and Upvest-Signature-Version: 15", added)
	}
	// Re-signing a request that already carries the version header does not cover it.
	req := webhookRequest()
	req.Header.Set("Upvest-Signature-Version", "15")
	req.Header.Set("Content-Digest", "sha-512=:old:")
	again, err := SignDraft(Draft15, req, testKey, testKid, testNow, "1")
	if err != nil {
		t.Fatalf("SignDraft: %v", err)
	}
	if input := again.Get("Signature-Input"); strings.Contains(input, "upvest-signature-version") || strings.Count(input, "content-digest") != 1 {
		t.Errorf("Signature-Input = %s", input)
	}
}

func TestSignDraftRejectsUnknownDraft(t *testing.T) {
	if _, err := SignDraft(Draft(7), webhookRequest(), testKey, testKid, testNow, "1"); err == nil {
		t.Fatal("SignDraft accepted draft 7")
	}
}

func TestParseDraft(t *testing.T) {
	for in, want := range map[string]Draft{"6": Draft06, "06": Draft06, "15": Draft15, " 15 ": Draft15} {
		if got, err := ParseDraft(in); err != nil || got != want {
			t.Errorf("ParseDraft(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "7", "draft-15", "v6"} {
		if _, err := ParseDraft(in); err == nil {
			t.Errorf("ParseDraft(%q) accepted", in)
		}
	}
}
