package signature

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestSignThenVerify(t *testing.T) {
	tests := []struct {
		name string
		req  Request
	}{
		{"typical webhook", webhookRequest()},
		{"query", func() Request { r := webhookRequest(); r.RawQuery = "a=1&b=two"; return r }()},
		{"empty body", Request{Method: "POST", Path: "/webhooks", Header: http.Header{"Content-Type": {"application/json"}}}},
		{"path with a space", func() Request { r := webhookRequest(); r.Path = "/hooks/a b"; return r }()},
		{"no headers", func() Request { r := webhookRequest(); r.Header = http.Header{}; return r }()},
		{"several structured headers", func() Request {
			r := webhookRequest()
			r.Header.Set("Accept", "text/html, application/json")
			r.Header.Add("Accept-Encoding", "gzip")
			r.Header.Add("Accept-Encoding", "deflate")
			r.Header.Set("Cache-Control", "max-age=60, stale=(a b)")
			r.Header.Set("Prefer", "(one, two)")
			r.Header.Set("Upvest-Signature-Version", "6")
			r.Header.Set("X-Request-Id", "not covered")
			r.Header.Set("Cookie", "not covered")
			return r
		}()},
	}
	for _, draft := range []Draft{Draft06, Draft15} {
		for _, tt := range tests {
			t.Run(draft.String()+"/"+tt.name, func(t *testing.T) {
				req := signedDraft(t, draft, tt.req, testKey, testKid, testNow)
				if err := verifierAt(testNow).Verify(context.Background(), req); err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if _, got, err := rebuiltBase(req); err != nil || got != draft {
					t.Fatalf("detected %s (%v), want %s", got, err, draft)
				}
			})
		}
	}
}

// Behind API Gateway, header names arrive in lower case.
func TestVerifyLowerCaseHeaderNames(t *testing.T) {
	req := signed(t, webhookRequest(), testKey, testKid, testNow)
	lower := http.Header{}
	for name, values := range req.Header {
		lower[strings.ToLower(name)] = values
	}
	req.Header = lower
	if err := verifierAt(testNow).Verify(context.Background(), req); err != nil {
		t.Fatalf("Verify: %v", err)
	}
}

// A signature made the way Upvest's v6 code makes it, written out by hand:
// names unquoted in the base, "@signature-params" last, expires created+60
// or +61, covered headers before @method.
func TestVerifyUpvestStyleSignature(t *testing.T) {
	req := webhookRequest()
	req.Header.Set("Digest", digestOf(req.Body))
	for _, lifetime := range []int64{60, 61} {
		t.Run(fmt.Sprintf("expires+%d", lifetime), func(t *testing.T) {
			created := testNow.Unix()
			params := fmt.Sprintf(`("content-type" "@method" "@path" "digest");keyid="%s";created=%d;nonce="0123456789";expires=%d`,
				testKid, created, created+lifetime)
			lines := []string{
				"content-type: application/json",
				"@method: POST",
				"@path: /webhooks",
				"digest: " + digestOf(req.Body),
			}
			got := handSigned(t, req, testKey, lines, params)
			if err := verifierAt(testNow.Add(30*time.Second)).Verify(context.Background(), got); err != nil {
				t.Fatalf("Verify: %v", err)
			}
		})
	}
	t.Run("upvest docs order and structured accept", func(t *testing.T) {
		r := req
		r.Header = req.Header.Clone()
		r.Header.Set("Accept", "text/html, application/json")
		r.RawQuery = "x=1"
		params := fmt.Sprintf(`("@method" "@path" "@query" "accept" "content-type" "digest");keyid="%s";created=%d;nonce="0123456789";expires=%d`,
			testKid, testNow.Unix(), testNow.Unix()+60)
		lines := []string{
			"@method: POST",
			"@path: /webhooks",
			"@query: ?x=1",
			"accept: text/html",
			"content-type: application/json",
			"digest: " + digestOf(req.Body),
		}
		got := handSigned(t, r, testKey, lines, params)
		if err := verifierAt(testNow).Verify(context.Background(), got); err != nil {
			t.Fatalf("Verify: %v", err)
		}
	})
}

func TestVerifySeveralKeysValidAtOnce(t *testing.T) {
	keys := StaticKeys{"old": &testKey.PublicKey, "new": &otherKey.PublicKey}
	v := NewVerifier(keys, Options{Now: func() time.Time { return testNow }})
	for kid, key := range map[string]*ecdsa.PrivateKey{"old": testKey, "new": otherKey} {
		if err := v.Verify(context.Background(), signed(t, webhookRequest(), key, kid, testNow)); err != nil {
			t.Errorf("kid %s: %v", kid, err)
		}
	}
}

func TestVerifyRejects(t *testing.T) {
	good := func(t *testing.T) Request { return signed(t, webhookRequest(), testKey, testKid, testNow) }
	withHeader := func(name, value string) func(*testing.T) Request {
		return func(t *testing.T) Request {
			r := good(t)
			r.Header.Set(name, value)
			return r
		}
	}
	created := testNow.Unix()
	body := webhookRequest().Body
	// handBuilt signs a webhook request covering exactly the given components.
	handBuilt := func(components string, lines []string, extra string) func(*testing.T) Request {
		return func(t *testing.T) Request {
			r := webhookRequest()
			r.Header.Set("Digest", digestOf(body))
			params := fmt.Sprintf(`(%s);keyid="%s";created=%d;nonce="0123456789"%s`, components, testKid, created, extra)
			return handSigned(t, r, testKey, lines, params)
		}
	}
	methodLine, pathLine, digestLine := "@method: POST", "@path: /webhooks", "digest: "+digestOf(body)

	tests := []struct {
		name  string
		req   func(*testing.T) Request
		clock time.Time
		want  error
	}{
		{"tampered body", func(t *testing.T) Request { r := good(t); r.Body[5] ^= 1; return r }, testNow, ErrDigestMismatch},
		{"body appended", func(t *testing.T) Request { r := good(t); r.Body = append(r.Body, ' '); return r }, testNow, ErrDigestMismatch},
		{"tampered digest matching a tampered body", func(t *testing.T) Request {
			r := good(t)
			r.Body[5] ^= 1
			r.Header.Set("Digest", digestOf(r.Body))
			return r
		}, testNow, ErrBadSignature},
		{"digest of another algorithm", withHeader("Digest", "SHA-512=abc="), testNow, ErrMalformed},
		{"digest not base64", withHeader("Digest", "SHA-256=***"), testNow, ErrMalformed},
		{"wrong key", func(t *testing.T) Request { return signed(t, webhookRequest(), otherKey, testKid, testNow) }, testNow, ErrBadSignature},
		{"unknown kid", func(t *testing.T) Request { return signed(t, webhookRequest(), testKey, "someone-else", testNow) }, testNow, ErrUnknownKey},
		{"expired", good, testNow.Add(SignatureLifetime + DefaultClockSkew + time.Second), ErrExpired},
		{"created in the future", good, testNow.Add(-DefaultClockSkew - time.Second), ErrNotYetValid},
		{"too old without expires", handBuilt(`"content-type" "@method" "@path" "digest"`,
			[]string{"content-type: application/json", methodLine, pathLine, digestLine}, ""),
			testNow.Add(DefaultMaxAge + DefaultClockSkew + time.Second), ErrTooOld},
		{"too old despite a far expires", handBuilt(`"content-type" "@method" "@path" "digest"`,
			[]string{"content-type: application/json", methodLine, pathLine, digestLine}, fmt.Sprintf(";expires=%d", created+86400)),
			testNow.Add(DefaultMaxAge + DefaultClockSkew + time.Second), ErrTooOld},
		{"missing signature", func(t *testing.T) Request { r := good(t); r.Header.Del("Signature"); return r }, testNow, ErrMissingHeader},
		{"missing signature-input", func(t *testing.T) Request { r := good(t); r.Header.Del("Signature-Input"); return r }, testNow, ErrMissingHeader},
		{"missing digest", func(t *testing.T) Request { r := good(t); r.Header.Del("Digest"); return r }, testNow, ErrMissingHeader},
		{"signature label mismatch", func(t *testing.T) Request {
			r := good(t)
			r.Header.Set("Signature", strings.Replace(r.Header.Get("Signature"), "sig1=", "sig2=", 1))
			return r
		}, testNow, ErrMalformed},
		{"signature not a byte sequence", withHeader("Signature", "sig1=abc"), testNow, ErrMalformed},
		{"signature not base64", withHeader("Signature", "sig1=:***:"), testNow, ErrMalformed},
		{"signature empty", withHeader("Signature", "sig1=::"), testNow, ErrMalformed},
		{"signature not DER", withHeader("Signature", "sig1=:AAAA:"), testNow, ErrBadSignature},
		{"covered header missing from the request", func(t *testing.T) Request { r := good(t); r.Header.Del("Content-Type"); return r }, testNow, ErrMissingHeader},
		{"covered header altered", func(t *testing.T) Request { r := good(t); r.Header.Set("Content-Type", "text/plain"); return r }, testNow, ErrBadSignature},
		{"covered list header gets a second value", func(t *testing.T) Request {
			r := webhookRequest()
			r.Header.Set("Accept-Encoding", "gzip")
			r = signed(t, r, testKey, testKid, testNow)
			r.Header.Add("Accept-Encoding", "br")
			return r
		}, testNow, ErrBadSignature},
		{"path altered", func(t *testing.T) Request { r := good(t); r.Path = "/other"; return r }, testNow, ErrBadSignature},
		{"path missing", func(t *testing.T) Request { r := good(t); r.Path = ""; return r }, testNow, ErrMalformed},
		{"method altered", func(t *testing.T) Request { r := good(t); r.Method = "PUT"; return r }, testNow, ErrBadSignature},
		{"extra query", func(t *testing.T) Request { r := good(t); r.RawQuery = "admin=1"; return r }, testNow, ErrComponentNotCovered},
		{"query altered", func(t *testing.T) Request {
			r := webhookRequest()
			r.RawQuery = "a=1"
			r = signed(t, r, testKey, testKid, testNow)
			r.RawQuery = "a=2"
			return r
		}, testNow, ErrBadSignature},
		{"covered query removed", func(t *testing.T) Request {
			r := webhookRequest()
			r.RawQuery = "a=1"
			r = signed(t, r, testKey, testKid, testNow)
			r.RawQuery = ""
			return r
		}, testNow, ErrMalformed},
		{"digest not covered", handBuilt(`"content-type" "@method" "@path"`,
			[]string{"content-type: application/json", methodLine, pathLine}, ""), testNow, ErrComponentNotCovered},
		{"@path not covered", handBuilt(`"@method" "digest"`, []string{methodLine, digestLine}, ""), testNow, ErrComponentNotCovered},
		{"@method not covered", handBuilt(`"@path" "digest"`, []string{pathLine, digestLine}, ""), testNow, ErrComponentNotCovered},
		{"nothing covered", handBuilt(``, nil, ""), testNow, ErrComponentNotCovered},
		{"unsupported derived component", handBuilt(`"@method" "@path" "digest" "@authority"`,
			[]string{methodLine, pathLine, digestLine, "@authority: example.com"}, ""), testNow, ErrMalformed},
		{"component the header cannot give", handBuilt(`"@method" "@path" "digest" "content-type:charset"`,
			[]string{methodLine, pathLine, digestLine, "content-type:charset: utf-8"}, ""), testNow, ErrMalformed},
		{"covering signature-input", handBuilt(`"@method" "@path" "digest" "signature-input"`,
			[]string{methodLine, pathLine, digestLine, "signature-input: x"}, ""), testNow, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := verifierAt(tt.clock).Verify(context.Background(), tt.req(t))
			if !errors.Is(err, tt.want) {
				t.Fatalf("Verify error = %v, want %v", err, tt.want)
			}
			if !errors.Is(err, ErrUnauthenticated) {
				t.Fatalf("Verify error %v does not wrap ErrUnauthenticated", err)
			}
		})
	}
}

func TestVerifyRejectsMalformedSignatureInput(t *testing.T) {
	kid := `keyid="` + testKid + `"`
	tests := map[string]string{
		"garbage":                  "nonsense",
		"empty":                    " ",
		"no parentheses":           `sig1="@method";` + kid + `;created=1700000000`,
		"unquoted component":       `sig1=(@method "@path");` + kid + `;created=1700000000`,
		"upper-case component":     `sig1=("Content-Type" "@method");` + kid + `;created=1700000000`,
		"component with params":    `sig1=("digest";sf "@method");` + kid + `;created=1700000000`,
		"two spaces":               `sig1=("@method"  "@path");` + kid + `;created=1700000000`,
		"duplicate component":      `sig1=("@method" "@method");` + kid + `;created=1700000000`,
		"duplicate parameter":      `sig1=("@method");` + kid + `;created=1700000000;created=1700000000`,
		"unquoted keyid":           `sig1=("@method");keyid=abc;created=1700000000`,
		"missing keyid":            `sig1=("@method");created=1700000000`,
		"missing created":          `sig1=("@method");` + kid,
		"fractional created":       `sig1=("@method");` + kid + `;created=1700000000.5`,
		"quoted created":           `sig1=("@method");` + kid + `;created="1700000000"`,
		"negative created":         `sig1=("@method");` + kid + `;created=-1`,
		"non-integer expires":      `sig1=("@method");` + kid + `;created=1700000000;expires=soon`,
		"expires before created":   `sig1=("@method");` + kid + `;created=1700000000;expires=1699999999`,
		"unquoted nonce":           `sig1=("@method");` + kid + `;created=1700000000;nonce=123`,
		"alg without value":        `sig1=("@method");` + kid + `;created=1700000000;alg`,
		"keyid without value":      `sig1=("@method");keyid;created=1700000000`,
		"unknown parameter empty":  `sig1=("@method");` + kid + `;created=1700000000;tag=`,
		"unknown parameter open":   `sig1=("@method");` + kid + `;created=1700000000;tag="x`,
		"unknown inner list":       `sig1=("@method");` + kid + `;created=1700000000;tag=(a b)`,
		"unknown long decimal":     `sig1=("@method");` + kid + `;created=1700000000;tag=1.2345`,
		"unknown bad boolean":      `sig1=("@method");` + kid + `;created=1700000000;tag=?2`,
		"unknown open bytes":       `sig1=("@method");` + kid + `;created=1700000000;tag=:YWJj`,
		"unknown bad bytes":        `sig1=("@method");` + kid + `;created=1700000000;tag=:*:`,
		"upper-case parameter":     `sig1=("@method");` + kid + `;created=1700000000;Tag="x"`,
		"duplicate unknown":        `sig1=("@method");` + kid + `;created=1700000000;tag="x";tag="y"`,
		"non-ECDSA alg":            `sig1=("@method");` + kid + `;created=1700000000;alg="hmac-sha256"`,
		"space before parameter":   `sig1=("@method"); ` + kid + `;created=1700000000`,
		"unclosed list":            `sig1=("@method";` + kid + `;created=1700000000`,
		"unclosed string":          `sig1=("@method);` + kid + `;created=1700000000`,
		"several, none sig1":       `a=("@method");` + kid + `;created=1700000000, b=("@method");` + kid + `;created=1700000000`,
		"duplicate label":          `sig1=("@method");` + kid + `;created=1700000000, sig1=("@path");` + kid + `;created=1700000000`,
		"trailing comma":           `sig1=("@method");` + kid + `;created=1700000000,`,
		"bad label":                `Sig1=("@method");` + kid + `;created=1700000000`,
		"trailing garbage":         `sig1=("@method");` + kid + `;created=1700000000 x`,
		"bad escape in keyid":      `sig1=("@method");keyid="a\b";created=1700000000`,
		"integer with 16 digits":   `sig1=("@method");` + kid + `;created=1700000000000000`,
		"missing value separator":  `sig1("@method");` + kid + `;created=1700000000`,
		"empty parameter name":     `sig1=("@method");=1;` + kid + `;created=1700000000`,
		"parameter outside member": `sig1=("@method")` + kid,
	}
	for name, input := range tests {
		t.Run(name, func(t *testing.T) {
			req := signed(t, webhookRequest(), testKey, testKid, testNow)
			req.Header.Set("Signature-Input", input)
			err := verifierAt(testNow).Verify(context.Background(), req)
			if !errors.Is(err, ErrMalformed) || !errors.Is(err, ErrUnauthenticated) {
				t.Fatalf("Verify error = %v, want ErrMalformed", err)
			}
		})
	}
}

// Several signatures: the one labelled sig1 is verified.
func TestVerifyPicksSig1AmongSeveral(t *testing.T) {
	req := signed(t, webhookRequest(), testKey, testKid, testNow)
	req.Header.Set("Signature-Input", `other=("@method");keyid="x";created=1, `+req.Header.Get("Signature-Input"))
	req.Header.Set("Signature", `other=:AAAA:, `+req.Header.Get("Signature"))
	if err := verifierAt(testNow).Verify(context.Background(), req); err != nil {
		t.Fatalf("Verify: %v", err)
	}
}

// A key source that cannot load keys is an internal error: the caller must
// answer 5xx, not 401, so that Upvest retries.
func TestVerifyKeySourceFailureIsInternal(t *testing.T) {
	boom := errors.New("ssm unavailable")
	v := NewVerifier(failingKeys{boom}, Options{Now: func() time.Time { return testNow }})
	err := v.Verify(context.Background(), signed(t, webhookRequest(), testKey, testKid, testNow))
	if !errors.Is(err, boom) {
		t.Fatalf("Verify error = %v, want the key source's error", err)
	}
	if errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("Verify error %v wraps ErrUnauthenticated; a key failure is internal", err)
	}
}

func TestVerifyClockSkewOption(t *testing.T) {
	req := signed(t, webhookRequest(), testKey, testKid, testNow)
	strict := NewVerifier(testKeys(), Options{ClockSkew: time.Second, Now: func() time.Time { return testNow.Add(-2 * time.Second) }})
	if err := strict.Verify(context.Background(), req); !errors.Is(err, ErrNotYetValid) {
		t.Fatalf("1s skew, created 2s ahead: error = %v, want ErrNotYetValid", err)
	}
	lenient := NewVerifier(testKeys(), Options{ClockSkew: time.Minute, Now: func() time.Time { return testNow.Add(-2 * time.Second) }})
	if err := lenient.Verify(context.Background(), req); err != nil {
		t.Fatalf("60s skew, created 2s ahead: %v", err)
	}
}

func TestVerifyAllowMissingDigest(t *testing.T) {
	req := webhookRequest()
	params := fmt.Sprintf(`("content-type" "@method" "@path");keyid="%s";created=%d`, testKid, testNow.Unix())
	req = handSigned(t, req, testKey, []string{"content-type: application/json", "@method: POST", "@path: /webhooks"}, params)
	v := NewVerifier(testKeys(), Options{AllowMissingDigest: true, Now: func() time.Time { return testNow }})
	if err := v.Verify(context.Background(), req); err != nil {
		t.Fatalf("Verify with AllowMissingDigest: %v", err)
	}
	if err := verifierAt(testNow).Verify(context.Background(), req); !errors.Is(err, ErrMissingHeader) {
		t.Fatalf("default Verify error = %v, want ErrMissingHeader", err)
	}
}

// Upvest's field rules cut a plain value at its first ", ", so a value added
// after it is not covered. This pins that behaviour: verifying it differently
// would reject Upvest's own signatures over such headers.
func TestVerifyPlainHeaderIsCutAtFirstComma(t *testing.T) {
	req := signed(t, webhookRequest(), testKey, testKid, testNow)
	req.Header.Add("Content-Type", "text/plain")
	if err := verifierAt(testNow).Verify(context.Background(), req); err != nil {
		t.Fatalf("Verify: %v", err)
	}
}

// A newer signer may add parameters: they are accepted unread, since
// @signature-params covers them exactly as sent.
func TestVerifyAcceptsUnknownParameters(t *testing.T) {
	req := webhookRequest()
	req.Header.Set("Digest", digestOf(req.Body))
	lines := []string{"content-type: application/json", "@method: POST", "@path: /webhooks", "digest: " + digestOf(req.Body)}
	base := fmt.Sprintf(`("content-type" "@method" "@path" "digest");keyid="%s";created=%d`, testKid, testNow.Unix())
	for name, extra := range map[string]string{
		"tag string":      `;tag="upvest-webhooks"`,
		"alg ECDSA":       `;alg="ecdsa-p521-sha512"`,
		"tag first":       `;tag="x";nonce="1"`,
		"boolean key":     `;flag`,
		"boolean ?1":      `;flag=?1`,
		"token":           `;kind=ecdsa/p521:x`,
		"negative int":    `;n=-42`,
		"decimal":         `;d=12.345`,
		"byte sequence":   `;b=:YWJj:`,
		"star key":        `;*x="y"`,
		"several unknown": `;tag="a";zz=1;yy=?0`,
	} {
		t.Run(name, func(t *testing.T) {
			params := base + extra
			if name == "tag first" {
				params = fmt.Sprintf(`("content-type" "@method" "@path" "digest");tag="x";keyid="%s";created=%d;nonce="1"`, testKid, testNow.Unix())
			}
			got := handSigned(t, req, testKey, lines, params)
			if err := verifierAt(testNow).Verify(context.Background(), got); err != nil {
				t.Fatalf("Verify(%s): %v", params, err)
			}
			// Covered as sent: the same request with the parameter dropped fails.
			got.Header.Set("Signature-Input", "sig1="+base)
			if err := verifierAt(testNow).Verify(context.Background(), got); !errors.Is(err, ErrBadSignature) {
				t.Fatalf("parameter dropped after signing: error = %v, want ErrBadSignature", err)
			}
		})
	}
}

// When the signature covers neither digest (an empty body), only the version
// header, which is not covered, hints at the draft. A hint lost or changed on
// the way must not make an authentic request fail: the other draft is tried.
func TestVerifyDraftOfAnEmptyBodyDoesNotHangOnTheVersionHeader(t *testing.T) {
	empty := webhookRequest()
	empty.Body = nil
	for _, draft := range []Draft{Draft06, Draft15} {
		for _, version := range []string{"", "6", "15", "16"} {
			t.Run(fmt.Sprintf("%s, version header %q", draft, version), func(t *testing.T) {
				signedBy := func(key *ecdsa.PrivateKey) Request {
					req := signedDraft(t, draft, empty, key, testKid, testNow)
					req.Header.Del("Upvest-Signature-Version")
					if version != "" {
						req.Header.Set("Upvest-Signature-Version", version)
					}
					return req
				}
				if err := verifierAt(testNow).Verify(context.Background(), signedBy(testKey)); err != nil {
					t.Fatalf("Verify: %v", err)
				}
				// Still only what the key signed: another key fails in both drafts.
				if err := verifierAt(testNow).Verify(context.Background(), signedBy(otherKey)); !errors.Is(err, ErrBadSignature) {
					t.Fatalf("forged: error = %v, want ErrBadSignature", err)
				}
			})
		}
	}
}
