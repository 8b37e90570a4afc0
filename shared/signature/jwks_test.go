package signature

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
)

func TestJWKSRoundTrip(t *testing.T) {
	keys := map[string]*ecdsa.PublicKey{"a": &testKey.PublicKey, "b": &otherKey.PublicKey}
	data, err := MarshalJWKS(keys)
	if err != nil {
		t.Fatalf("MarshalJWKS: %v", err)
	}
	set, err := ParseJWKS(data)
	if err != nil {
		t.Fatalf("ParseJWKS: %v", err)
	}
	if len(set) != 2 || !set["a"].Equal(&testKey.PublicKey) || !set["b"].Equal(&otherKey.PublicKey) {
		t.Fatalf("round trip lost keys: %v", set)
	}
	if !strings.Contains(string(data), `"crv": "P-521"`) || !strings.Contains(string(data), `"kty": "EC"`) {
		t.Fatalf("JWKS lacks kty/crv:\n%s", data)
	}
}

// jwkJSON writes one JWK from raw coordinates.
func jwkJSON(kid, kty, crv string, x, y []byte) string {
	return fmt.Sprintf(`{"kid":%q,"kty":%q,"crv":%q,"x":%q,"y":%q}`, kid, kty, crv,
		base64.RawURLEncoding.EncodeToString(x), base64.RawURLEncoding.EncodeToString(y))
}

func coordinates(t *testing.T, key *ecdsa.PublicKey) (x, y []byte) {
	t.Helper()
	point, err := key.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	size := (len(point) - 1) / 2
	return point[1 : 1+size], point[1+size:]
}

func TestParseJWKSRejects(t *testing.T) {
	x, y := coordinates(t, &testKey.PublicKey)
	good := jwkJSON("k1", "EC", "P-521", x, y)
	p256, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	x256, y256 := coordinates(t, &p256.PublicKey)
	offCurve := append([]byte{}, y...)
	offCurve[len(offCurve)-1] ^= 1

	tests := map[string]string{
		"not JSON":               `{"keys":`,
		"no keys field":          `{}`,
		"empty set":              `{"keys":[]}`,
		"RSA key":                `{"keys":[{"kid":"r","kty":"RSA","n":"AQAB","e":"AQAB"}]}`,
		"P-256 key":              `{"keys":[` + jwkJSON("p", "EC", "P-256", x256, y256) + `]}`,
		"P-256 point said P-521": `{"keys":[` + jwkJSON("p", "EC", "P-521", x256, y256) + `]}`,
		"point not on curve":     `{"keys":[` + jwkJSON("k", "EC", "P-521", x, offCurve) + `]}`,
		"missing kid":            `{"keys":[` + jwkJSON("", "EC", "P-521", x, y) + `]}`,
		"duplicate kid":          `{"keys":[` + good + `,` + good + `]}`,
		"one bad among good":     `{"keys":[` + good + `,` + jwkJSON("k2", "EC", "P-521", x, offCurve) + `]}`,
		"x not base64url":        `{"keys":[{"kid":"k","kty":"EC","crv":"P-521","x":"+/+/","y":"AA"}]}`,
		"padded x":               `{"keys":[{"kid":"k","kty":"EC","crv":"P-521","x":"` + base64.URLEncoding.EncodeToString(x[:65]) + `","y":"AA"}]}`,
		"x too long":             `{"keys":[` + jwkJSON("k", "EC", "P-521", append([]byte{0}, x...), y) + `]}`,
		"x missing":              `{"keys":[{"kid":"k","kty":"EC","crv":"P-521","y":"AA"}]}`,
	}
	for name, doc := range tests {
		t.Run(name, func(t *testing.T) {
			if set, err := ParseJWKS([]byte(doc)); err == nil {
				t.Fatalf("ParseJWKS accepted %s: %v", doc, set)
			}
		})
	}
}

// RFC 7518 wants full-size coordinates, but a coordinate whose leading zero
// byte was dropped is still the same point.
func TestParseJWKSShortCoordinate(t *testing.T) {
	for range 64 { // a P-521 x starts with a zero byte about half of the time
		key, err := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		x, y := coordinates(t, &key.PublicKey)
		if x[0] != 0 {
			continue
		}
		set, err := ParseJWKS([]byte(`{"keys":[` + jwkJSON("k", "EC", "P-521", x[1:], y) + `]}`))
		if err != nil {
			t.Fatalf("ParseJWKS: %v", err)
		}
		if !set["k"].Equal(&key.PublicKey) {
			t.Fatal("short coordinate decoded to another key")
		}
		return
	}
	t.Fatal("no key with a leading zero byte in 64 tries")
}

func TestMarshalJWKSRejectsOtherCurves(t *testing.T) {
	p256, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := MarshalJWKS(map[string]*ecdsa.PublicKey{"p": &p256.PublicKey}); err == nil {
		t.Fatal("MarshalJWKS accepted a P-256 key")
	}
}
