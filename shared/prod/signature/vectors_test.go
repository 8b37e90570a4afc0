package signature

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

// vector is one request signed by Upvest's own signer (testdata/vectors).
type vector struct {
	name    string
	draft   Draft // from the folder name
	req     Request
	base    string
	keys    StaticKeys
	created time.Time
}

func loadVectors(t testing.TB) []vector {
	t.Helper()
	dirs, err := filepath.Glob(filepath.Join("testdata", "vectors", "draft-*", "*"))
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no vectors in testdata/vectors: %v", err)
	}
	var out []vector
	for _, dir := range dirs {
		v := vector{name: strings.TrimPrefix(dir, filepath.Join("testdata", "vectors")+string(filepath.Separator))}
		switch {
		case strings.Contains(dir, "draft-06"):
			v.draft = Draft06
		case strings.Contains(dir, "draft-15"):
			v.draft = Draft15
		default:
			t.Fatalf("%s: draft not in the folder name", dir)
		}
		read := func(name string) []byte {
			data, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			return data
		}
		target, err := url.Parse(strings.TrimSpace(string(read("url.txt"))))
		if err != nil {
			t.Fatalf("%s: url: %v", dir, err)
		}
		v.req = Request{Method: http.MethodPost, Path: target.Path, RawQuery: target.RawQuery, Header: http.Header{}, Body: read("body.json")}
		lines := bufio.NewScanner(bytes.NewReader(read("headers.txt")))
		for lines.Scan() {
			name, value, ok := strings.Cut(lines.Text(), ": ")
			if !ok {
				t.Fatalf("%s: header line %q", dir, lines.Text())
			}
			v.req.Header.Add(name, value)
		}
		v.base = string(read("base.txt"))
		set, skipped, err := ParseJWKS(read("jwks.json"))
		if err != nil || len(skipped) > 0 {
			t.Fatalf("%s: jwks: %v %v", dir, err, skipped)
		}
		v.keys = StaticKeys(set)
		input, err := chooseInput(v.req.Header.Get("Signature-Input"))
		if err != nil {
			t.Fatalf("%s: %v", dir, err)
		}
		v.created = time.Unix(input.created, 0)
		out = append(out, v)
	}
	return out
}

func (v vector) verifier() *Verifier {
	return NewVerifier(v.keys, Options{Now: func() time.Time { return v.created }})
}

// rebuiltBase is the signature base the verifier rebuilds for req.
func rebuiltBase(req Request) (string, Draft, error) {
	headers := indexHeaders(req.Header)
	input, err := chooseInput(joinTrimmed(headers[headerSignatureInput]))
	if err != nil {
		return "", 0, err
	}
	draft := draftOf(headers, input.components)
	lines, err := rebuild(draft, input.components, req, headers)
	if err != nil {
		return "", 0, err
	}
	return string(signatureBase(draft, lines, input.params)), draft, nil
}

// Every vector: the draft is detected, base.txt is rebuilt byte for byte, and
// the signature verifies.
func TestUpvestVectors(t *testing.T) {
	vectors := loadVectors(t)
	drafts := map[Draft]int{}
	for _, v := range vectors {
		t.Run(v.name, func(t *testing.T) {
			base, draft, err := rebuiltBase(v.req)
			if err != nil {
				t.Fatalf("rebuild: %v", err)
			}
			if draft != v.draft {
				t.Fatalf("detected %s, want %s", draft, v.draft)
			}
			if base != v.base {
				t.Fatalf("rebuilt base:\n%s\n--- base.txt:\n%s", base, v.base)
			}
			if err := v.verifier().Verify(context.Background(), v.req); err != nil {
				t.Fatalf("Verify: %v", err)
			}
			drafts[draft]++
		})
	}
	if drafts[Draft06] == 0 || drafts[Draft15] == 0 {
		t.Fatalf("vectors per draft: %v, want both drafts", drafts)
	}
}

// Each vector, altered after signing: what must still verify does, what must
// not fails for the right reason.
func TestUpvestVectorsAltered(t *testing.T) {
	tests := []struct {
		name   string
		drafts []Draft // the drafts the case applies to
		alter  func(*Request)
		want   error // nil: still verifies
	}{
		{"body byte flipped", nil, func(r *Request) { r.Body[len(r.Body)/2] ^= 1 }, ErrDigestMismatch},
		{"body appended", nil, func(r *Request) { r.Body = append(r.Body, '\n') }, ErrDigestMismatch},
		{"path altered", nil, func(r *Request) { r.Path += "x" }, ErrBadSignature},
		{"method altered", nil, func(r *Request) { r.Method = http.MethodPut }, ErrBadSignature},
		{"query added or altered", nil, func(r *Request) { r.RawQuery += "&y=2" }, nil},
		{"signature params altered", nil, func(r *Request) {
			r.Header.Set("Signature-Input", strings.Replace(r.Header.Get("Signature-Input"), "nonce=\"", "nonce=\"9", 1))
		}, ErrBadSignature},
		{"uncovered header added", nil, func(r *Request) { r.Header.Set("X-Amzn-Trace-Id", "Root=1") }, nil},
		{"header names lower-cased", nil, func(r *Request) {
			lower := http.Header{}
			for name, values := range r.Header {
				lower[strings.ToLower(name)] = values
			}
			r.Header = lower
		}, nil},
		{"digest removed", []Draft{Draft06}, func(r *Request) { r.Header.Del("Digest") }, ErrMissingHeader},
		{"digest for another body", []Draft{Draft06}, func(r *Request) { r.Header.Set("Digest", digestOf([]byte("{}"))) }, ErrDigestMismatch},
		// The version header is not covered: what the signature covers
		// (digest) decides the draft, so a header added on the way cannot
		// block the feed.
		{"said to be draft 15", []Draft{Draft06}, func(r *Request) { r.Header.Set("Upvest-Signature-Version", "15") }, nil},
		{"said to be draft 15, content-digest added", []Draft{Draft06}, func(r *Request) {
			r.Header.Set("Upvest-Signature-Version", "15")
			r.Header.Set("Content-Digest", bodyDigest(Draft15, r.Body))
		}, nil},
		{"said to be draft 6", []Draft{Draft15}, func(r *Request) { r.Header.Set("Upvest-Signature-Version", "6") }, nil},
		{"content-digest removed", []Draft{Draft15}, func(r *Request) { r.Header.Del("Content-Digest") }, ErrMissingHeader},
		{"content-digest for another body", []Draft{Draft15}, func(r *Request) { r.Header.Set("Content-Digest", bodyDigest(Draft15, []byte("{}"))) }, ErrDigestMismatch},
		{"content-digest not a byte sequence", []Draft{Draft15}, func(r *Request) { r.Header.Set("Content-Digest", "sha-512=abc") }, ErrMalformed},
		{"content-digest of an unknown algorithm only", []Draft{Draft15}, func(r *Request) { r.Header.Set("Content-Digest", "md5=:AAAA:") }, ErrMalformed},
		{"content-digest with a matching sha-256 added", []Draft{Draft15}, func(r *Request) {
			r.Header.Add("Content-Digest", "sha-256=:"+strings.TrimPrefix(digestOf(r.Body), "SHA-256=")+":")
		}, ErrBadSignature}, // the covered value changed
		{"version header removed (content-digest still says 15)", []Draft{Draft15}, func(r *Request) { r.Header.Del("Upvest-Signature-Version") }, nil},
		{"version header says 6", []Draft{Draft15}, func(r *Request) { r.Header.Set("Upvest-Signature-Version", "6") }, nil},
		{"a digest header added", []Draft{Draft15}, func(r *Request) { r.Header.Set("Digest", digestOf([]byte("other"))) }, nil},
	}
	for _, v := range loadVectors(t) {
		for _, tt := range tests {
			if tt.drafts != nil && !slices.Contains(tt.drafts, v.draft) {
				continue
			}
			t.Run(v.name+"/"+tt.name, func(t *testing.T) {
				req := cloneRequest(v.req)
				tt.alter(&req)
				want := tt.want
				if tt.name == "query added or altered" {
					// Covered when there was a query; else the signature does not cover it.
					want = ErrComponentNotCovered
					if v.req.RawQuery != "" {
						want = ErrBadSignature
					}
				}
				err := v.verifier().Verify(context.Background(), req)
				if want == nil {
					if err != nil {
						t.Fatalf("Verify: %v", err)
					}
					return
				}
				if !errors.Is(err, want) || !errors.Is(err, ErrUnauthenticated) {
					t.Fatalf("Verify error = %v, want %v", err, want)
				}
			})
		}
	}
}

// Where Upvest's signer happened to list the covered headers in name order
// (the order this signer uses), SignDraft builds base.txt byte for byte from
// the unsigned request.
func TestSignDraftRebuildsUpvestBase(t *testing.T) {
	compared := map[Draft]int{}
	for _, v := range loadVectors(t) {
		input, err := chooseInput(v.req.Header.Get("Signature-Input"))
		if err != nil {
			t.Fatal(err)
		}
		var headerNames []string
		for _, c := range input.components {
			if !strings.HasPrefix(c, "@") && c != v.draft.bodyDigestHeader() {
				headerNames = append(headerNames, c)
			}
		}
		if !sort.StringsAreSorted(headerNames) {
			continue
		}
		t.Run(v.name, func(t *testing.T) {
			unsigned := cloneRequest(v.req)
			for _, name := range []string{"Signature", "Signature-Input", "Digest", "Content-Digest", "Upvest-Signature-Version"} {
				unsigned.Header.Del(name)
			}
			base, added, err := prepare(v.draft, unsigned, input.keyID, v.created, input.nonce)
			if err != nil {
				t.Fatalf("prepare: %v", err)
			}
			if string(base) != v.base {
				t.Fatalf("signer's base:\n%s\n--- base.txt:\n%s", base, v.base)
			}
			name := v.draft.bodyDigestHeader()
			if got, want := added.Get(name), v.req.Header.Get(name); got != want {
				t.Fatalf("%s = %q, Upvest's %q", name, got, want)
			}
			compared[v.draft]++
		})
	}
	if compared[Draft06] == 0 || compared[Draft15] == 0 {
		t.Fatalf("compared per draft: %v, want both drafts", compared)
	}
}
