// Package signature verifies and makes the HTTP message signatures Upvest puts
// on webhook requests: draft-ietf-httpbis-message-signatures-06 as Upvest
// implements it ("v6", body covered by digest) and draft 15 as Upvest's newer
// signer implements it ("v15", quoted names, body covered by content-digest),
// ECDSA P-521 with SHA-512, plus the keys (JWKS) and the egress-IP allowlist
// that go with them.
package signature

import (
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
)

// Request is what a signature covers, as Upvest sent it.
type Request struct {
	Method string
	// Path is the public path Upvest signed, decoded ("/a b", not "/a%20b").
	// Behind API Gateway it can differ from the path the function sees.
	Path     string
	RawQuery string // without the leading "?"
	// Header names may be canonical or lower case; they are matched
	// case-insensitively.
	Header http.Header
	Body   []byte
}

// Header names with a meaning of their own.
const (
	headerDigest           = "digest"
	headerContentDigest    = "content-digest"
	headerSignature        = "signature"
	headerSignatureInput   = "signature-input"
	headerSignatureVersion = "upvest-signature-version"
)

// Draft is the version of the signature scheme a request is signed with.
type Draft int

// The drafts Upvest's signers implement.
const (
	Draft06 Draft = 6  // names unquoted in the base; body covered by digest (SHA-256)
	Draft15 Draft = 15 // names quoted; body covered by content-digest (SHA-512)
)

func (d Draft) String() string {
	switch d {
	case Draft06:
		return "draft-06"
	case Draft15:
		return "draft-15"
	}
	return fmt.Sprintf("draft-%d", int(d))
}

// ParseDraft reads "6", "06" or "15" (a command-line flag, say).
func ParseDraft(s string) (Draft, error) {
	switch strings.TrimSpace(s) {
	case "6", "06":
		return Draft06, nil
	case "15":
		return Draft15, nil
	}
	return 0, fmt.Errorf("signature draft %q: want 06 or 15", s)
}

// bodyDigestHeader is the header through which a draft covers the body.
func (d Draft) bodyDigestHeader() string {
	if d == Draft15 {
		return headerContentDigest
	}
	return headerDigest
}

// draftOf tells which draft a request is signed with: draft 15 when the
// signature covers content-digest, draft 06 when it covers digest, and only
// when it covers both or neither, Upvest-Signature-Version (added after
// signing, so not covered) as a hint. Nothing here is trusted: the wrong guess
// only rebuilds a base the signature does not verify.
func draftOf(headers headerIndex, covered []string) Draft {
	// What the signature covers decides: Upvest-Signature-Version is not
	// covered, so anything on the way may add or change it, and a v6 request
	// must not be refused forever because of it. It only breaks the tie when
	// the signature covers both digests or neither (an empty body).
	coversContent, coversDigest := slices.Contains(covered, headerContentDigest), slices.Contains(covered, headerDigest)
	switch {
	case coversContent && !coversDigest:
		return Draft15
	case coversDigest && !coversContent:
		return Draft06
	}
	if version, ok := headers.joined(headerSignatureVersion); ok && version == "15" {
		return Draft15
	}
	return Draft06
}

// draftsToTry is the draft draftOf tells, then, when only the uncovered
// version header decided it (the signature covers both digests or neither),
// the other draft.
func draftsToTry(headers headerIndex, covered []string) []Draft {
	draft := draftOf(headers, covered)
	if slices.Contains(covered, headerContentDigest) != slices.Contains(covered, headerDigest) {
		return []Draft{draft}
	}
	if draft == Draft15 {
		return []Draft{Draft15, Draft06}
	}
	return []Draft{Draft06, Draft15}
}

// headerIndex holds a request's headers under lower-case names.
type headerIndex map[string][]string

func indexHeaders(h http.Header) headerIndex {
	names := make([]string, 0, len(h))
	for name := range h {
		names = append(names, name)
	}
	sort.Strings(names) // several spellings of one name merge in a fixed order
	idx := make(headerIndex, len(h))
	for _, name := range names {
		lower := strings.ToLower(strings.TrimSpace(name))
		idx[lower] = append(idx[lower], h[name]...)
	}
	return idx
}

// joined returns the trimmed values of one header joined with ", ", and
// whether the header is present at all.
func (idx headerIndex) joined(name string) (string, bool) {
	values, ok := idx[name]
	if !ok {
		return "", false
	}
	return joinTrimmed(values), true
}

func joinTrimmed(values []string) string {
	trimmed := make([]string, len(values))
	for i, v := range values {
		trimmed[i] = strings.TrimSpace(v)
	}
	return strings.Join(trimmed, ", ")
}
