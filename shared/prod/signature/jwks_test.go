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
	set, skipped, err := ParseJWKS(data)
	if err != nil || len(skipped) > 0 {
		t.Fatalf("ParseJWKS: %v, skipped %v", err, skipped)
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

// foreignKeys are JWKs of kinds Upvest might publish next to its P-521 keys,
// plus malformed ones; each must be skipped, never used, never fatal.
func foreignKeys(t *testing.T) map[string]string {
	t.Helper()
	x, y := coordinates(t, &testKey.PublicKey)
	p256, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	x256, y256 := coordinates(t, &p256.PublicKey)
	offCurve := append([]byte{}, y...)
	offCurve[len(offCurve)-1] ^= 1
	return map[string]string{
		"P-256 key":              jwkJSON("p256", "EC", "P-256", x256, y256),
		"P-384 key":              `{"kid":"p384","kty":"EC","crv":"P-384","x":"AA","y":"AA"}`,
		"Ed25519 key":            `{"kid":"ed","kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}`,
		"X25519 key":             `{"kid":"x","kty":"OKP","crv":"X25519","x":"hSDwCYkwp1R0i33ctD73Wg2_Og0mOBr066SpjqqbTmo"}`,
		"RSA key":                `{"kid":"rsa","kty":"RSA","n":"AQAB","e":"AQAB","alg":"RS256"}`,
		"symmetric key":          `{"kid":"oct","kty":"oct","k":"c2VjcmV0"}`,
		"unknown kty":            `{"kid":"u","kty":"PQC","pub":"AA"}`,
		"unknown crv":            jwkJSON("c", "EC", "secp256k1", x256, y256),
		"P-256 point said P-521": jwkJSON("p", "EC", "P-521", x256, y256),
		"point not on curve":     jwkJSON("off", "EC", "P-521", x, offCurve),
		"P-521 for encryption":   `{"kid":"enc","kty":"EC","crv":"P-521","use":"enc","x":"` + base64.RawURLEncoding.EncodeToString(x) + `","y":"` + base64.RawURLEncoding.EncodeToString(y) + `"}`,
		"missing kid":            jwkJSON("", "EC", "P-521", x, y),
		"x not base64url":        `{"kid":"b64","kty":"EC","crv":"P-521","x":"+/+/","y":"AA"}`,
		"padded x":               `{"kid":"pad","kty":"EC","crv":"P-521","x":"` + base64.URLEncoding.EncodeToString(x[:65]) + `","y":"AA"}`,
		"x too long":             jwkJSON("long", "EC", "P-521", append([]byte{0}, x...), y),
		"x missing":              `{"kid":"nox","kty":"EC","crv":"P-521","y":"AA"}`,
		"x a number":             `{"kid":"num","kty":"EC","crv":"P-521","x":123,"y":"AA"}`,
		"not an object":          `"just a string"`,
		"null":                   `null`,
		"array":                  `[1,2]`,
	}
}

// A set that also holds keys of other kinds still serves its P-521 key, and
// reports each other key once.
func TestParseJWKSSkipsForeignKeys(t *testing.T) {
	x, y := coordinates(t, &testKey.PublicKey)
	good := jwkJSON("k1", "EC", "P-521", x, y)
	for name, foreign := range foreignKeys(t) {
		t.Run(name, func(t *testing.T) {
			for _, doc := range []string{
				`{"keys":[` + good + `,` + foreign + `]}`,
				`{"keys":[` + foreign + `,` + good + `]}`,
			} {
				set, skipped, err := ParseJWKS([]byte(doc))
				if err != nil {
					t.Fatalf("ParseJWKS(%s): %v", doc, err)
				}
				if len(set) != 1 || !set["k1"].Equal(&testKey.PublicKey) {
					t.Fatalf("set = %v, want only k1", set)
				}
				if len(skipped) != 1 || skipped[0].Reason == nil || !strings.Contains(skipped[0].Error(), "skipped") {
					t.Fatalf("skipped = %v, want the one foreign key", skipped)
				}
			}
		})
	}
}

// Without any usable key, the set is still an error (503 until fixed beats
// 401 for every authentic request).
func TestParseJWKSRejects(t *testing.T) {
	x, y := coordinates(t, &testKey.PublicKey)
	tests := map[string]string{
		"not JSON":             `{"keys":`,
		"no keys field":        `{}`,
		"keys not an array":    `{"keys":{"kid":"k"}}`,
		"empty set":            `{"keys":[]}`,
		"only foreign keys":    `{"keys":[` + foreignKeys(t)["P-256 key"] + `,` + foreignKeys(t)["Ed25519 key"] + `]}`,
		"kid names two points": `{"keys":[` + jwkJSON("k", "EC", "P-521", x, y) + `,` + jwkOf(t, "k", &otherKey.PublicKey) + `]}`,
	}
	for name, foreign := range foreignKeys(t) {
		tests["only "+name] = `{"keys":[` + foreign + `]}`
	}
	for name, doc := range tests {
		t.Run(name, func(t *testing.T) {
			if set, _, err := ParseJWKS([]byte(doc)); err == nil {
				t.Fatalf("ParseJWKS accepted %s: %v", doc, set)
			}
		})
	}
}

func jwkOf(t *testing.T, kid string, key *ecdsa.PublicKey) string {
	t.Helper()
	x, y := coordinates(t, key)
	return jwkJSON(kid, "EC", "P-521", x, y)
}

// One kid naming two different keys is ambiguous: neither is used. The same
// key listed twice is harmless.
func TestParseJWKSDuplicateKid(t *testing.T) {
	tests := []struct {
		name        string
		keys        []string
		wantKids    []string
		wantSkipped int
	}{
		{"same key twice", []string{jwkOf(t, "a", &testKey.PublicKey), jwkOf(t, "a", &testKey.PublicKey)}, []string{"a"}, 0},
		{"two keys, one kid", []string{jwkOf(t, "a", &testKey.PublicKey), jwkOf(t, "a", &otherKey.PublicKey), jwkOf(t, "b", &otherKey.PublicKey)}, []string{"b"}, 1},
		{"three keys, one kid", []string{jwkOf(t, "a", &testKey.PublicKey), jwkOf(t, "a", &otherKey.PublicKey), jwkOf(t, "a", &testKey.PublicKey), jwkOf(t, "b", &otherKey.PublicKey)}, []string{"b"}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set, skipped, err := ParseJWKS([]byte(`{"keys":[` + strings.Join(tt.keys, ",") + `]}`))
			if err != nil {
				t.Fatalf("ParseJWKS: %v", err)
			}
			var kids []string
			for kid := range set {
				kids = append(kids, kid)
			}
			if fmt.Sprint(kids) != fmt.Sprint(tt.wantKids) || len(skipped) != tt.wantSkipped {
				t.Fatalf("kids %v skipped %v, want kids %v and %d skipped", kids, skipped, tt.wantKids, tt.wantSkipped)
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
		set, _, err := ParseJWKS([]byte(`{"keys":[` + jwkJSON("k", "EC", "P-521", x[1:], y) + `]}`))
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
