package ledger

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"sync"
)

// An event's bytes are stored gzipped, so that a typical event's record stays
// under 1 KB (one write unit per write). Bodies whose gzip does not fit one
// item are split into parts, each an item of its own beside the record.
const (
	maxInlineBody = 300 * 1024 // gzip bytes kept in the record itself
	partBytes     = 350 * 1024 // gzip bytes per part item (DynamoDB allows 400 KB per item)
)

// storeBelow is the body size under which compressing buys no write unit:
// the record of such an event fits 1 KB with its body stored, and building
// Huffman tables for a few hundred bytes was most of ingest's CPU per event
// (BenchmarkLatencyModelledIngest). Stored blocks are still a gzip stream, so
// every reader gunzips as before.
const storeBelow = 640

var (
	gzipWriters = sync.Pool{New: func() any {
		w, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed) // a valid level never fails
		return w
	}}
	storeWriters = sync.Pool{New: func() any {
		w, _ := gzip.NewWriterLevel(nil, gzip.NoCompression)
		return w
	}}
)

func gzipBytes(b []byte) ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(len(b)/2 + 64)
	pool := &gzipWriters
	if len(b) < storeBelow {
		pool = &storeWriters
		buf.Grow(len(b) + 64)
	}
	w := pool.Get().(*gzip.Writer)
	defer pool.Put(w)
	w.Reset(&buf)
	if _, err := w.Write(b); err != nil {
		return nil, fmt.Errorf("gzip event: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("gzip event: %w", err)
	}
	return buf.Bytes(), nil
}

func gunzip(b []byte) ([]byte, error) {
	r, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("gunzip event: %w", err)
	}
	defer r.Close()
	out, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("gunzip event: %w", err)
	}
	return out, nil
}

// split cuts b into parts of at most n bytes.
func split(b []byte, n int) [][]byte {
	var parts [][]byte
	for len(b) > n {
		parts = append(parts, b[:n])
		b = b[n:]
	}
	return append(parts, b)
}

// digest is the hex SHA-256 of b.
func digest(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// partKey names part i (1-based) of a record's body. The body's digest is in
// the key, so a different body under the same id never overwrites the parts of
// the one recorded.
func partKey(key, sha string, i int) string {
	return fmt.Sprintf("%s#body:%s:%d", key, sha[:16], i)
}
