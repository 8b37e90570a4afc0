package signature

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
)

// Whatever signature-input says: no panic, and what parses is consistent.
func FuzzSignatureInput(f *testing.F) {
	for _, v := range loadVectors(f) {
		f.Add(v.req.Header.Get("Signature-Input"))
	}
	for _, seed := range []string{
		`sig1=("@method");keyid="k";created=1;tag="x";flag;b=:YWJj:;d=1.5;tok=a/b:c`,
		`a=("@method");keyid="x";created=1, sig1=("@path");keyid="y";created=2;expires=3`,
		`sig1=("cache-control:max-age" "prefer:2");keyid="k";created=1;alg="ecdsa-p521-sha512"`,
		`sig1=("@method";sf);keyid="k";created=1`, `sig1=(`, `sig1=:AAAA:`, `=`, `sig1=("\"")`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, header string) {
		in, err := chooseInput(header)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v is not ErrMalformed", err)
			}
			return
		}
		if in.keyID == "" || !strings.Contains(header, in.params) {
			t.Fatalf("parsed %+v from %q", in, header)
		}
		if in.hasExpires && in.expires < in.created {
			t.Fatalf("expires %d before created %d accepted", in.expires, in.created)
		}
		for _, c := range in.components {
			if !componentName.MatchString(c) {
				t.Fatalf("component %q accepted", c)
			}
		}
		again, err := parseInputValue(in.params)
		again.label = in.label
		if err != nil || again.keyID != in.keyID || again.created != in.created || strings.Join(again.components, " ") != strings.Join(in.components, " ") {
			t.Fatalf("params %q parse differently the second time: %+v, %v", in.params, again, err)
		}
	})
}

// Every header value the signer covers, the verifier rebuilds the same way:
// a request signed with it verifies, in both drafts.
func FuzzHeaderComponents(f *testing.F) {
	for _, seed := range []string{
		"application/json", "text/html, application/json", "gzip,  deflate", `"a", "b"`, `"a"x, b`,
		"max-age=60, stale=(a b)", "(one, two)", `k="v\"w", z=1`, "a=", "(", `"`, "\x7f", "é",
	} {
		f.Add("Accept", seed, false)
		f.Add("Cache-Control", seed, true)
	}
	f.Fuzz(func(t *testing.T, name, value string, draft15 bool) {
		parts, err := headerComponents(name, []string{value})
		if err != nil || len(parts) == 0 {
			return
		}
		draft := Draft06
		if draft15 {
			draft = Draft15
		}
		req := webhookRequest()
		req.Header = http.Header{name: {value}}
		added, err := SignDraft(draft, req, testKey, testKid, testNow, "1")
		if err != nil {
			return // a name the signer leaves out or cannot put in signature-input
		}
		for n, values := range added {
			req.Header[n] = values
		}
		if err := verifierAt(testNow).Verify(context.Background(), req); err != nil {
			t.Fatalf("header %q: %q signed in %s does not verify: %v", name, value, draft, err)
		}
	})
}

// A signed request, altered in any way, verifies only when everything the
// signature covers is unchanged: method, path, query, body and the rebuilt
// signature base. Never a panic.
func FuzzVerifyAltered(f *testing.F) {
	vectors := loadVectors(f)
	for i, v := range vectors {
		f.Add(uint8(i), v.req.Method, v.req.Path, v.req.RawQuery, v.req.Body, "", "", uint8(0))
		f.Add(uint8(i), v.req.Method, v.req.Path, v.req.RawQuery, v.req.Body, "Content-Type", "text/plain", uint8(1))
		f.Add(uint8(i), v.req.Method, v.req.Path, v.req.RawQuery, v.req.Body, "Upvest-Signature-Version", "15", uint8(1))
		f.Add(uint8(i), v.req.Method, v.req.Path, v.req.RawQuery, v.req.Body, "Digest", "", uint8(2))
		f.Add(uint8(i), v.req.Method, v.req.Path, v.req.RawQuery, v.req.Body, "Accept", "application/json, text/html", uint8(3))
		f.Add(uint8(i), v.req.Method, v.req.Path, v.req.RawQuery, append([]byte(nil), v.req.Body[1:]...), "Signature-Input", `sig1=("@method");keyid="k";created=1`, uint8(1))
	}
	f.Fuzz(func(t *testing.T, which uint8, method, path, query string, body []byte, header, value string, op uint8) {
		v := vectors[int(which)%len(vectors)]
		req := cloneRequest(v.req)
		req.Method, req.Path, req.RawQuery, req.Body = method, path, query, body
		if header != "" {
			switch op % 4 {
			case 1:
				req.Header.Set(header, value)
			case 2:
				req.Header.Del(header)
			case 3:
				req.Header.Add(header, value)
			}
		}
		err := v.verifier().Verify(context.Background(), req)
		if err != nil {
			if !errors.Is(err, ErrUnauthenticated) {
				t.Fatalf("a static key set gave an internal error: %v", err)
			}
			return
		}
		if !bytes.Equal(req.Body, v.req.Body) || !strings.EqualFold(req.Method, v.req.Method) || req.Path != v.req.Path || req.RawQuery != v.req.RawQuery {
			t.Fatalf("altered request accepted: %s %s ?%s body %q", req.Method, req.Path, req.RawQuery, req.Body)
		}
		base, _, err := rebuiltBase(req)
		if err != nil || base != v.base {
			t.Fatalf("accepted with a different base (%v):\n%s", err, base)
		}
	})
}
