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

// SignatureLifetime is how long Upvest's v6 signer makes a signature valid.
const SignatureLifetime = 60 * time.Second

// excludedHeaderPrefixes are the headers Upvest's v6 signer never covers.
var excludedHeaderPrefixes = []string{"cf-", "cdn-", "cookie", "x-"}

// Sign signs req the way Upvest's v6 signer does and returns the headers to
// add: Digest (when the body is not empty), Signature-Input and Signature.
// It covers every header of req (except signature, signature-input and names
// starting with cf-, cdn-, cookie, x-), then @method, @path, digest and
// @query (when there is one); expires is created + 60 s. Headers come in
// name order (Upvest's order is random). An empty nonce gets 10 random digits.
func Sign(req Request, key *ecdsa.PrivateKey, keyID string, now time.Time, nonce string) (http.Header, error) {
	if key == nil || key.Curve != elliptic.P521() {
		return nil, errors.New("sign: the key must be an ECDSA P-521 private key")
	}
	if nonce == "" {
		var err error
		if nonce, err = randomDigits(10); err != nil {
			return nil, fmt.Errorf("sign: nonce: %w", err)
		}
	}
	base, added, err := prepare(req, keyID, now, nonce)
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	hash := sha512.Sum512(base)
	sig, err := ecdsa.SignASN1(rand.Reader, key, hash[:])
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	added.Set(headerSignature, defaultLabel+"=:"+base64.StdEncoding.EncodeToString(sig)+":")
	return added, nil
}

// prepare builds the signature base and the headers to add except Signature.
func prepare(req Request, keyID string, now time.Time, nonce string) ([]byte, http.Header, error) {
	if err := checkParamString(keyID); err != nil {
		return nil, nil, fmt.Errorf("key id: %w", err)
	}
	if err := checkParamString(nonce); err != nil {
		return nil, nil, fmt.Errorf("nonce: %w", err)
	}
	lines, err := coveredHeaders(req.Header)
	if err != nil {
		return nil, nil, err
	}
	lines = append(lines, component{componentMethod, strings.ToUpper(req.Method)})
	if req.Path != "" {
		lines = append(lines, component{componentPath, req.Path})
	}
	added := http.Header{}
	if len(req.Body) > 0 {
		sum := sha256.Sum256(req.Body)
		digest := "SHA-256=" + base64.StdEncoding.EncodeToString(sum[:])
		added.Set(headerDigest, digest)
		lines = append(lines, component{headerDigest, digest})
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
	return signatureBase(lines, params), added, nil
}

// coveredHeaders lists the components Upvest's signer derives from the
// request's headers, in header-name order.
func coveredHeaders(h http.Header) ([]component, error) {
	headers := indexHeaders(h)
	names := make([]string, 0, len(headers))
	for name := range headers {
		if coverable(name) {
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

func coverable(name string) bool {
	// The digest is added after @path, from the body, as Upvest's signer does.
	if name == headerSignature || name == headerSignatureInput || name == headerDigest {
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
