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
	X   string `json:"x"`
	Y   string `json:"y"`
}

type jwks struct {
	Keys []jwk `json:"keys"`
}

// ParseJWKS parses Upvest's verification keys,
// {"keys":[{"kid","kty":"EC","crv":"P-521","x","y"}]}. Every key must be a
// valid P-521 point with a unique kid, and the set must not be empty: a bad
// set is rejected whole, so that a broken key never hides among good ones.
func ParseJWKS(data []byte) (KeySet, error) {
	var doc jwks
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("jwks: %w", err)
	}
	if len(doc.Keys) == 0 {
		return nil, errors.New("jwks: no keys")
	}
	set := make(KeySet, len(doc.Keys))
	for i, k := range doc.Keys {
		key, err := parseJWK(k)
		if err != nil {
			return nil, fmt.Errorf("jwks: key %d (kid %q): %w", i, k.Kid, err)
		}
		if _, dup := set[k.Kid]; dup {
			return nil, fmt.Errorf("jwks: kid %q appears twice", k.Kid)
		}
		set[k.Kid] = key
	}
	return set, nil
}

func parseJWK(k jwk) (*ecdsa.PublicKey, error) {
	switch {
	case k.Kid == "":
		return nil, errors.New("missing kid")
	case k.Kty != "EC":
		return nil, fmt.Errorf("kty %q is not EC", k.Kty)
	case k.Crv != "P-521":
		return nil, fmt.Errorf("crv %q is not P-521", k.Crv)
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
