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

	"github.com/libp2p/go-libp2p/core/network"

	"github.com/peerpath/peerpath/internal/content"
	"github.com/peerpath/peerpath/internal/cputime"
	"github.com/peerpath/peerpath/internal/testutil"
)

// benchSize is the file size the benchmarks move.
const benchSize = 64 << 20

// cpuMeter reports the process CPU time per byte moved ("cpu-ns/B"): on a
// shared, loaded machine it compares the paths better than wall time does.
type cpuMeter struct {
	start time.Duration
	bytes int64
}

func (m *cpuMeter) begin()      { m.start = cputime.Process() }
func (m *cpuMeter) add(n int64) { m.bytes += n }
func (m *cpuMeter) report(b *testing.B) {
	if m.bytes > 0 && m.start > 0 {
		b.ReportMetric(float64(cputime.Process()-m.start)/float64(m.bytes), "cpu-ns/B")
	}
}

// The Get benchmarks download a 64 MiB file of 1 MiB chunks from in-memory
// sources (which hand out bytes without re-hashing them, as if from a
// cache) into a file in a temporary folder, with the full path: TLS+yamux
// streams, verification of every chunk, WriteAt, fsync and rename.
func BenchmarkGetOneSource(b *testing.B)    { benchGet(b, 1) }
func BenchmarkGetThreeSources(b *testing.B) { benchGet(b, 3) }

func benchGet(b *testing.B, n int) {
	data := testutil.RandBytes(benchSize)
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
	var cpu cpuMeter
	defer cpu.report(b)
	for i := 0; b.Loop(); i++ {
		if i == 0 {
			cpu.begin()
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		out := filepath.Join(dir, strconv.Itoa(i))
		if _, err := c.Get(ctx, fm.ID(), GetOptions{Output: out}); err != nil {
			b.Fatal(err)
		}
		cancel()
		cpu.add(benchSize)
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
	data := testutil.RandBytes(content.DefaultChunkSize)
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
	var cpu cpuMeter
	cpu.begin()
	for b.Loop() {
		cpu.add(benchSize)
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
	cpu.report(b)
	ln.Close()
	<-done
}

// BenchmarkLibp2pStream copies the same amount over one bare libp2p stream
// (TCP+TLS+yamux, both hosts in this process, 1 MiB writes and reads): the
// ceiling of a single source, without verification or files.
func BenchmarkLibp2pStream(b *testing.B) {
	srv, cli := newHost(b), newHost(b)
	data := testutil.RandBytes(content.DefaultChunkSize)
	const proto = "/peerpath/bench/1"
	srv.SetStreamHandler(proto, func(st network.Stream) {
		defer st.Close()
		for sent := 0; sent < benchSize; sent += len(data) {
			if _, err := st.Write(data); err != nil {
				st.Reset()
				return
			}
		}
	})
	defer srv.RemoveStreamHandler(proto)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := cli.Connect(ctx, addrInfo(srv)); err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, content.DefaultChunkSize)
	b.SetBytes(benchSize)
	var cpu cpuMeter
	cpu.begin()
	defer cpu.report(b)
	for b.Loop() {
		cpu.add(benchSize)
		st, err := cli.NewStream(ctx, srv.ID(), proto)
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{st}, buf)
		st.Close()
		if err != nil || n != benchSize {
			b.Fatalf("copied %d: %v", n, err)
		}
	}
}
