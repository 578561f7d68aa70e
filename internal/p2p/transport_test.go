package p2p

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	yamux "github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	libp2ptls "github.com/libp2p/go-libp2p/p2p/security/tls"
)

// TestTLSPreferred checks that two peerpath nodes secure their connection
// with TLS (offered first) and multiplex it with yamux.
func TestTLSPreferred(t *testing.T) {
	a := testNode(t, nil)
	b := testNode(t, nil)
	mustConnect(t, a, b)
	for _, c := range a.Host().Network().ConnsToPeer(b.ID()) {
		st := c.ConnState()
		if st.Security != libp2ptls.ID || st.StreamMultiplexer != yamux.ID {
			t.Errorf("connection uses %s + %s, want %s + %s", st.Security, st.StreamMultiplexer, libp2ptls.ID, yamux.ID)
		}
	}
}

// BenchmarkStreamThroughput sends b.N MiB over one stream between two
// nodes in this process (TCP + TLS + yamux on loopback).
func BenchmarkStreamThroughput(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	mk := func() *Node {
		n, err := New(ctx, Config{Identity: newKey(b), ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { n.Close() })
		return n
	}
	src, dst := mk(), mk()
	done := make(chan int64, 1)
	dst.Host().SetStreamHandler("/peerpath/bench/1", func(s network.Stream) {
		n, _ := io.Copy(io.Discard, s)
		s.Close()
		done <- n
	})
	if err := src.Connect(ctx, dst.Addrs()[0]); err != nil {
		b.Fatal(err)
	}
	s, err := src.Host().NewStream(ctx, dst.ID(), "/peerpath/bench/1")
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 1<<20)
	b.SetBytes(int64(len(buf)))
	b.ResetTimer()
	for range b.N {
		if _, err := s.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.CloseWrite(); err != nil {
		b.Fatal(err)
	}
	if got := <-done; got != int64(b.N)*int64(len(buf)) {
		b.Fatalf("received %d bytes, sent %d", got, int64(b.N)*int64(len(buf)))
	}
	s.Close()
}
