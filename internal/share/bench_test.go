package share

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/peerpath/peerpath/internal/content"
)

// BenchmarkChunk measures serving verified 1 MiB chunks of a shared 64 MiB
// file (catalog lookup, open, ReadAt, BLAKE3 check):
//
//	go test -run '^$' -bench Chunk ./internal/share
func BenchmarkChunk(b *testing.B) {
	const size = 64 << 20
	ctx := context.Background()
	dir := b.TempDir()
	data := randData(5, size)
	p := filepath.Join(dir, "f.bin")
	if err := writeFileErr(p, data); err != nil {
		b.Fatal(err)
	}
	db := openDBB(b, filepath.Join(dir, "db"))
	s, err := New(ctx, Config{DB: db})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := s.Add(ctx, p); err != nil {
		b.Fatal(err)
	}
	m := content.HashBytes(data, content.DefaultChunkSize)
	b.Run("serial", func(b *testing.B) {
		b.SetBytes(content.DefaultChunkSize)
		buf := make([]byte, content.DefaultChunkSize)
		i := 0
		for b.Loop() {
			if _, err := s.Chunk(ctx, m.Chunks[i%len(m.Chunks)], buf); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.SetBytes(content.DefaultChunkSize)
		var next atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			buf := make([]byte, content.DefaultChunkSize)
			for pb.Next() {
				i := int(next.Add(1)) % len(m.Chunks)
				if _, err := s.Chunk(ctx, m.Chunks[i], buf); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// BenchmarkIndex measures indexing a folder of 2,000 small files: a first
// index (hash and store everything) and a re-index with nothing changed
// (stat only).
func BenchmarkIndex(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	root := filepath.Join(dir, "share")
	const files = 2000
	for i := range files {
		p := filepath.Join(root, fmt.Sprintf("d%02d", i%20), fmt.Sprintf("f%04d.txt", i))
		if err := writeFileErr(p, randData(uint64(i), 4096)); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("first", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			db := openDBB(b, filepath.Join(b.TempDir(), "db"))
			s, err := New(ctx, Config{DB: db})
			if err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			if _, err := s.Add(ctx, root); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(files*b.N)/b.Elapsed().Seconds(), "files/s")
	})
	b.Run("unchanged", func(b *testing.B) {
		db := openDBB(b, filepath.Join(b.TempDir(), "db"))
		s, err := New(ctx, Config{DB: db})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.Add(ctx, root); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if _, err := s.Add(ctx, root); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(files*b.N)/b.Elapsed().Seconds(), "files/s")
	})
}
