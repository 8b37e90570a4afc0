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
