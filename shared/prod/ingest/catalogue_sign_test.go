package ingest_test

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha512"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"

	"github.com/upvest-webhooks/upvest-webhooks/shared/prod/signature"
)

// signWithExtraParams re-signs a request whose signature-input carries
// parameters SignDraft does not make (a future Upvest signer adding tag=, say):
// it appends extra to the parameters and signs the base those parameters give,
// built as the signature drafts build it.
func signWithExtraParams(t testing.TB, draft signature.Draft, req signature.Request, added http.Header, key *ecdsa.PrivateKey, extra string) http.Header {
	t.Helper()
	label, params, ok := strings.Cut(added.Get("Signature-Input"), "=")
	if !ok {
		t.Fatalf("signature-input %q", added.Get("Signature-Input"))
	}
	params += extra
	inner := params[strings.Index(params, "(")+1 : strings.Index(params, ")")]
	quote := func(name string) string {
		if draft == signature.Draft15 {
			return `"` + name + `"`
		}
		return name
	}
	var base strings.Builder
	for _, quoted := range strings.Fields(inner) {
		name := strings.Trim(quoted, `"`)
		var value string
		switch name {
		case "@method":
			value = req.Method
		case "@path":
			value = req.Path
		default:
			value = req.Header.Get(name)
			if value == "" {
				value = added.Get(name)
			}
		}
		base.WriteString(quote(name) + ": " + value + "\n")
	}
	base.WriteString(quote("@signature-params") + ": " + params)
	hash := sha512.Sum512([]byte(base.String()))
	sig, err := ecdsa.SignASN1(rand.Reader, key, hash[:])
	if err != nil {
		t.Fatal(err)
	}
	out := added.Clone()
	out.Set("Signature-Input", label+"="+params)
	out.Set("Signature", label+"=:"+base64.StdEncoding.EncodeToString(sig)+":")
	return out
}
