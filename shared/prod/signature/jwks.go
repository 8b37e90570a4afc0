package signature

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
)

// KeySet maps a key id (the JWKS "kid", the signature's keyid) to its key.
type KeySet map[string]*ecdsa.PublicKey

// p521CoordinateSize is the byte length of a P-521 coordinate in a JWK.
const p521CoordinateSize = 66

type jwk struct {
	Kid string `json:"kid"`
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	Use string `json:"use,omitempty"`
	X   string `json:"x"`
	Y   string `json:"y"`
}

type jwks struct {
	Keys []jwk `json:"keys"`
}

// SkippedKey is a JWKS entry ParseJWKS could not use (another curve or key
// type, a malformed key, an ambiguous kid). It is reported, not fatal: Upvest
// may publish keys of other kinds next to its P-521 keys.
type SkippedKey struct {
	Index  int    // position in "keys"
	Kid    string // empty when the entry has none
	Reason error
}

func (s SkippedKey) Error() string {
	return fmt.Sprintf("jwks key %d (kid %q) skipped: %v", s.Index, s.Kid, s.Reason)
}

// ParseJWKS parses Upvest's verification keys,
// {"keys":[{"kid","kty":"EC","crv":"P-521","x","y"}]}, and returns the usable
// ones. Every other entry is skipped and listed in skipped: keys of another
// type or curve, malformed entries, and every entry of a kid that names two
// different keys. A document that is not a JWKS, or that holds no usable key
// at all, is an error.
func ParseJWKS(data []byte) (set KeySet, skipped []SkippedKey, err error) {
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, nil, fmt.Errorf("jwks: %w", err)
	}
	if len(doc.Keys) == 0 {
		return nil, nil, errors.New("jwks: no keys")
	}
	set = make(KeySet, len(doc.Keys))
	ambiguous := map[string]bool{}
	for i, raw := range doc.Keys {
		var k jwk
		if err := json.Unmarshal(raw, &k); err != nil {
			skipped = append(skipped, SkippedKey{Index: i, Reason: fmt.Errorf("not a JWK: %w", err)})
			continue
		}
		key, err := parseJWK(k)
		if err != nil {
			skipped = append(skipped, SkippedKey{Index: i, Kid: k.Kid, Reason: err})
			continue
		}
		if prev, dup := set[k.Kid]; dup && !prev.Equal(key) || ambiguous[k.Kid] {
			// Which of the two keys Upvest signs with cannot be told: use neither.
			ambiguous[k.Kid] = true
			delete(set, k.Kid)
			skipped = append(skipped, SkippedKey{Index: i, Kid: k.Kid, Reason: errors.New("kid names two different keys; all keys of this kid are skipped")})
			continue
		}
		set[k.Kid] = key
	}
	if len(set) == 0 {
		return nil, skipped, fmt.Errorf("jwks: no usable P-521 key among %d (%w)", len(doc.Keys), errors.Join(skippedErrors(skipped)...))
	}
	return set, skipped, nil
}

func skippedErrors(skipped []SkippedKey) []error {
	errs := make([]error, len(skipped))
	for i, s := range skipped {
		errs[i] = s
	}
	return errs
}

func parseJWK(k jwk) (*ecdsa.PublicKey, error) {
	switch {
	case k.Kid == "":
		return nil, errors.New("missing kid")
	case k.Kty != "EC":
		return nil, fmt.Errorf("kty %q is not EC", k.Kty)
	case k.Crv != "P-521":
		return nil, fmt.Errorf("crv %q is not P-521", k.Crv)
	case k.Use != "" && k.Use != "sig":
		return nil, fmt.Errorf("use %q is not sig", k.Use)
	}
	x, err := coordinate(k.X)
	if err != nil {
		return nil, fmt.Errorf("x: %w", err)
	}
	y, err := coordinate(k.Y)
	if err != nil {
		return nil, fmt.Errorf("y: %w", err)
	}
	point := append(append([]byte{4}, x...), y...) // SEC 1 uncompressed point
	key, err := ecdsa.ParseUncompressedPublicKey(elliptic.P521(), point)
	if err != nil {
		return nil, fmt.Errorf("not a point on P-521: %w", err)
	}
	return key, nil
}

// coordinate decodes a base64url coordinate, left-padding it to full size
// (RFC 7518 wants full size; some encoders drop leading zeros).
func coordinate(s string) ([]byte, error) {
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("not base64url: %w", err)
	}
	if len(b) == 0 || len(b) > p521CoordinateSize {
		return nil, fmt.Errorf("%d bytes, want %d", len(b), p521CoordinateSize)
	}
	return append(make([]byte, p521CoordinateSize-len(b)), b...), nil
}

// MarshalJWKS writes keys as a JWKS, in kid order.
func MarshalJWKS(keys map[string]*ecdsa.PublicKey) ([]byte, error) {
	kids := make([]string, 0, len(keys))
	for kid := range keys {
		kids = append(kids, kid)
	}
	sort.Strings(kids)
	doc := jwks{Keys: make([]jwk, 0, len(kids))}
	for _, kid := range kids {
		key := keys[kid]
		if key == nil || key.Curve != elliptic.P521() {
			return nil, fmt.Errorf("jwks: key %q is not a P-521 key", kid)
		}
		point, err := key.Bytes()
		if err != nil {
			return nil, fmt.Errorf("jwks: key %q: %w", kid, err)
		}
		doc.Keys = append(doc.Keys, jwk{
			Kid: kid,
			Kty: "EC",
			Crv: "P-521",
			X:   base64.RawURLEncoding.EncodeToString(point[1 : 1+p521CoordinateSize]),
			Y:   base64.RawURLEncoding.EncodeToString(point[1+p521CoordinateSize:]),
		})
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return nil, fmt.Errorf("jwks: %w", err)
	}
	return buf.Bytes(), nil
}
