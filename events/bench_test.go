package events

import "testing"

// BenchmarkClassify measures routing one event: decode, validate, key and position.
func BenchmarkClassify(b *testing.B) {
	raw := ev(nil)
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		e, err := ParseEvent(raw)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := Classify(e); err != nil {
			b.Fatal(err)
		}
	}
}
