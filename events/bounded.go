package events

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"unicode/utf8"
)

// MaxKeyBytes bounds every key the pipeline derives from an event's content
// (state-row keys, index keys, view entries). DynamoDB allows 2048 bytes for a
// partition key; an event may carry anything, so longer values are replaced by
// their digest. The full value stays in the stored bytes.
const MaxKeyBytes = 1024

// BoundKey returns s, or "sha256:<hex digest of s>" when s is longer than
// MaxKeyBytes or is not valid UTF-8 (DynamoDB strings must be).
func BoundKey(s string) string {
	if len(s) <= MaxKeyBytes && utf8.ValidString(s) {
		return s
	}
	sum := sha256.Sum256([]byte(s))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// Truncate returns s cut to at most n bytes of valid UTF-8, with "…" marking a
// cut: for reasons and labels stored beside the exact bytes, never for keys.
func Truncate(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= n {
		return s
	}
	const mark = "…"
	cut := n - len(mark)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + mark
}
