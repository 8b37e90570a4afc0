package signature

import (
	"context"
	"testing"
)

// BenchmarkVerify measures one webhook verification: digest, parsing, base
// rebuild and the P-521 ECDSA check (which dominates).
func BenchmarkVerify(b *testing.B) {
	req := webhookRequest()
	added, err := Sign(req, testKey, testKid, testNow, "1234567890")
	if err != nil {
		b.Fatal(err)
	}
	req.Header = req.Header.Clone()
	for name, values := range added {
		req.Header[name] = values
	}
	v := verifierAt(testNow)
	b.ReportAllocs()
	for b.Loop() {
		if err := v.Verify(context.Background(), req); err != nil {
			b.Fatal(err)
		}
	}
}
