package storage

import (
	"bytes"
	"io"
	"testing"

	"github.com/restic/chunker"

	"github.com/peerpath/peerpath/internal/testutil"
)

// BenchmarkEncodeObject is the per-object work of a put: pad, seal, code
// and hash, for objects of about restic's average chunk size.
func BenchmarkEncodeObject(b *testing.B) {
	data := testutil.RandBytes(1 << 20)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	var e Encoder
	for b.Loop() {
		if _, _, err := e.Encode(data, 10, 16); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSealOnly is the AEAD alone over the same object size: the
// limit the pipeline is compared with.
func BenchmarkSealOnly(b *testing.B) {
	data := testutil.RandBytes(1 << 20)
	var key [32]byte
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		Seal(&key, data)
	}
}

// BenchmarkPipeline is the backup pipeline over 64 MiB: content-defined
// chunking, then EncodeObject for every chunk.
func BenchmarkPipeline(b *testing.B) {
	data := testutil.RandBytes(64 << 20)
	pol := chunker.Pol(0x3DA3358B4DC173)
	buf := make([]byte, chunker.MaxSize)
	c := chunker.New(bytes.NewReader(data), pol)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	var e Encoder
	for b.Loop() {
		c.Reset(bytes.NewReader(data), pol)
		for {
			ch, err := c.Next(buf)
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			if _, _, err := e.Encode(ch.Data, 10, 16); err != nil {
				b.Fatal(err)
			}
		}
	}
}
