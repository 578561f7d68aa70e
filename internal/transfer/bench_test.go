package transfer

import (
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/peerpath/peerpath/internal/content"
)

// benchSize is the file size the benchmarks move.
const benchSize = 64 << 20

// The Get benchmarks download a 64 MiB file of 1 MiB chunks from in-memory
// sources (which hand out bytes without re-hashing them, as if from a
// cache) into a file in a temporary folder, with the full path: TLS+yamux
// streams, verification of every chunk, WriteAt, fsync and rename.
func BenchmarkGetOneSource(b *testing.B)    { benchGet(b, 1) }
func BenchmarkGetThreeSources(b *testing.B) { benchGet(b, 3) }

func benchGet(b *testing.B, n int) {
	data := randBytes(benchSize)
	src := newMemSource()
	fm := src.addFile(data, content.DefaultChunkSize)
	f := &staticFinder{}
	for range n {
		s := newMemSource()
		s.copyFrom(src)
		_, h := newServer(b, s, 0)
		f.peers = append(f.peers, addrInfo(h))
	}
	c := newClient(b, f, nil)
	dir := b.TempDir()
	b.SetBytes(benchSize)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		out := filepath.Join(dir, strconv.Itoa(i))
		if _, err := c.Get(ctx, fm.ID(), GetOptions{Output: out}); err != nil {
			b.Fatal(err)
		}
		cancel()
		b.StopTimer()
		os.Remove(out)
		b.StartTimer()
	}
}

// BenchmarkRawTCP copies the same amount over plain loopback TCP, memory to
// memory in 1 MiB writes: the ceiling the Get benchmarks compare with.
func BenchmarkRawTCP(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	data := randBytes(content.DefaultChunkSize)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			for sent := 0; sent < benchSize; sent += len(data) {
				if _, err := c.Write(data); err != nil {
					break
				}
			}
			c.Close()
		}
	}()
	buf := make([]byte, content.DefaultChunkSize)
	b.SetBytes(benchSize)
	for b.Loop() {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{c}, buf)
		c.Close()
		if err != nil || n != benchSize {
			b.Fatalf("copied %d: %v", n, err)
		}
	}
	ln.Close()
	<-done
}
