// Package signature verifies and makes the HTTP message signatures Upvest puts
// on webhook requests: draft-ietf-httpbis-message-signatures-06 as Upvest
// implements it ("v6"), ECDSA P-521 with SHA-512, plus the keys (JWKS) and the
// egress-IP allowlist that go with it.
package signature

import (
	"net/http"
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
	headerDigest         = "digest"
	headerSignature      = "signature"
	headerSignatureInput = "signature-input"
)

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
