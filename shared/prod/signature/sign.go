package signature

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"sort"
	"strings"
	"time"
)

// SignatureLifetime is how long Upvest's signers make a signature valid.
const SignatureLifetime = 60 * time.Second

// excludedHeaderPrefixes are the headers Upvest's signers never cover.
var excludedHeaderPrefixes = []string{"cf-", "cdn-", "cookie", "x-"}

// Sign signs req the way Upvest's v6 signer does and returns the headers to
// add: Digest (when the body is not empty), Signature-Input and Signature.
// It covers every header of req (except signature, signature-input and names
// starting with cf-, cdn-, cookie, x-), then @method, @path, digest and
// @query (when there is one); expires is created + 60 s. Headers come in
// name order (Upvest's order is random). An empty nonce gets 10 random digits.
func Sign(req Request, key *ecdsa.PrivateKey, keyID string, now time.Time, nonce string) (http.Header, error) {
	return SignDraft(Draft06, req, key, keyID, now, nonce)
}

// SignDraft signs req as Sign does, in the given draft. Draft 15 is what
// Upvest's newer signer (httpsignature-proxy v1.3.9 and later) makes: names
// quoted in the base, the body covered by Content-Digest
// "sha-512=:<base64>:" in place of Digest, and Upvest-Signature-Version: 15
// added after signing (not covered).
func SignDraft(draft Draft, req Request, key *ecdsa.PrivateKey, keyID string, now time.Time, nonce string) (http.Header, error) {
	if draft != Draft06 && draft != Draft15 {
		return nil, fmt.Errorf("sign: %s is not a draft Upvest signs with", draft)
	}
	if key == nil || key.Curve != elliptic.P521() {
		return nil, errors.New("sign: the key must be an ECDSA P-521 private key")
	}
	if nonce == "" {
		var err error
		if nonce, err = randomDigits(10); err != nil {
			return nil, fmt.Errorf("sign: nonce: %w", err)
		}
	}
	base, added, err := prepare(draft, req, keyID, now, nonce)
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	hash := sha512.Sum512(base)
	sig, err := ecdsa.SignASN1(rand.Reader, key, hash[:])
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	added.Set(headerSignature, defaultLabel+"=:"+base64.StdEncoding.EncodeToString(sig)+":")
	if draft == Draft15 {
		added.Set(headerSignatureVersion, "15")
	}
	return added, nil
}

// prepare builds the signature base and the headers to add except Signature.
func prepare(draft Draft, req Request, keyID string, now time.Time, nonce string) ([]byte, http.Header, error) {
	if err := checkParamString(keyID); err != nil {
		return nil, nil, fmt.Errorf("key id: %w", err)
	}
	if err := checkParamString(nonce); err != nil {
		return nil, nil, fmt.Errorf("nonce: %w", err)
	}
	lines, err := coveredHeaders(draft, req.Header)
	if err != nil {
		return nil, nil, err
	}
	lines = append(lines, component{componentMethod, strings.ToUpper(req.Method)})
	if req.Path != "" {
		lines = append(lines, component{componentPath, req.Path})
	}
	added := http.Header{}
	if len(req.Body) > 0 {
		digest := bodyDigest(draft, req.Body)
		added.Set(draft.bodyDigestHeader(), digest)
		lines = append(lines, component{draft.bodyDigestHeader(), digest})
	}
	if req.RawQuery != "" {
		lines = append(lines, component{componentQuery, "?" + req.RawQuery})
	}

	names := make([]string, len(lines))
	for i, l := range lines {
		names[i] = `"` + l.name + `"`
	}
	created := now.Unix()
	params := fmt.Sprintf(`(%s);keyid="%s";created=%d;nonce="%s";expires=%d`,
		strings.Join(names, " "), keyID, created, nonce, created+int64(SignatureLifetime/time.Second))
	added.Set(headerSignatureInput, defaultLabel+"="+params)
	return signatureBase(draft, lines, params), added, nil
}

// bodyDigest is the value of the draft's digest header for body.
func bodyDigest(draft Draft, body []byte) string {
	if draft == Draft15 {
		sum := sha512.Sum512(body)
		return "sha-512=:" + base64.StdEncoding.EncodeToString(sum[:]) + ":"
	}
	sum := sha256.Sum256(body)
	return "SHA-256=" + base64.StdEncoding.EncodeToString(sum[:])
}

// coveredHeaders lists the components Upvest's signer derives from the
// request's headers, in header-name order.
func coveredHeaders(draft Draft, h http.Header) ([]component, error) {
	headers := indexHeaders(h)
	names := make([]string, 0, len(headers))
	for name := range headers {
		if coverable(draft, name) {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	var lines []component
	for _, name := range names {
		parts, err := headerComponents(name, headers[name])
		if err != nil {
			return nil, err
		}
		lines = append(lines, parts...)
	}
	return lines, nil
}

func coverable(draft Draft, name string) bool {
	// The body's digest is added after @path, from the body, as Upvest's
	// signers do; draft 15's version header is added after signing.
	switch {
	case name == headerSignature || name == headerSignatureInput || name == draft.bodyDigestHeader():
		return false
	case draft == Draft15 && name == headerSignatureVersion:
		return false
	}
	for _, prefix := range excludedHeaderPrefixes {
		if strings.HasPrefix(name, prefix) {
			return false
		}
	}
	return true
}

// checkParamString accepts what can sit in a quoted parameter unescaped.
func checkParamString(s string) error {
	if s == "" {
		return errors.New("empty")
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return fmt.Errorf("%q has a character that needs escaping", s)
		}
	}
	return nil
}

func randomDigits(n int) (string, error) {
	var b strings.Builder
	ten := big.NewInt(10)
	for range n {
		d, err := rand.Int(rand.Reader, ten)
		if err != nil {
			return "", err
		}
		b.WriteByte(byte('0' + d.Int64()))
	}
	return b.String(), nil
}
