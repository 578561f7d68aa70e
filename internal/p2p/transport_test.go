package p2p

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	yamux "github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	libp2ptls "github.com/libp2p/go-libp2p/p2p/security/tls"
	ma "github.com/multiformats/go-multiaddr"
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

// TestTCPPreferredOverQUIC checks that nodes listening on both TCP and QUIC
// connect over TCP (faster for bulk transfer here), and that a QUIC-only
// peer is still reached.
func TestTCPPreferredOverQUIC(t *testing.T) {
	both := func(c *Config) {
		c.ListenAddrs = []string{"/ip4/127.0.0.1/udp/0/quic-v1", "/ip4/127.0.0.1/tcp/0"}
	}
	a := testNode(t, both)
	b := testNode(t, both)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// Give the dialer both addresses, QUIC first.
	var quicAddr string
	for _, s := range b.Addrs() {
		if strings.Contains(s, "/quic-v1/") {
			quicAddr = s
		}
	}
	if quicAddr == "" {
		t.Fatalf("B has no QUIC address: %v", b.Addrs())
	}
	for _, s := range b.Addrs() {
		ai, err := parsePeerAddr(s)
		if err != nil {
			t.Fatal(err)
		}
		a.Host().Peerstore().AddAddrs(ai.ID, ai.Addrs, time.Hour)
	}
	if err := a.Connect(ctx, quicAddr); err != nil {
		t.Fatal(err)
	}
	for _, c := range a.Host().Network().ConnsToPeer(b.ID()) {
		if tr := c.ConnState().Transport; tr != "tcp" {
			t.Errorf("connection over %s, want tcp", tr)
		}
	}

	quicOnly := testNode(t, func(c *Config) { c.ListenAddrs = []string{"/ip4/127.0.0.1/udp/0/quic-v1"} })
	mustConnect(t, a, quicOnly)
	for _, c := range a.Host().Network().ConnsToPeer(quicOnly.ID()) {
		if tr := c.ConnState().Transport; tr != "quic-v1" {
			t.Errorf("connection to QUIC-only peer over %s", tr)
		}
	}
}

func TestTCPFirstRanker(t *testing.T) {
	tcp := ma.StringCast("/ip4/1.2.3.4/tcp/4101")
	quic := ma.StringCast("/ip4/1.2.3.4/udp/4101/quic-v1")
	relay := ma.StringCast("/ip4/5.6.7.8/tcp/4101/p2p/12D3KooWSjSkTkj9tVfMtMXff5LTaZ2wuaU4KYW8UUkSfC2PRFCS/p2p-circuit")
	got := map[string]time.Duration{}
	for _, d := range tcpFirstRanker([]ma.Multiaddr{quic, relay, tcp}) {
		got[d.Addr.String()] = d.Delay
	}
	if len(got) != 3 || got[tcp.String()] != 0 || got[quic.String()] != quicAfterTCP || got[relay.String()] <= quicAfterTCP {
		t.Errorf("delays %v", got)
	}
	only := tcpFirstRanker([]ma.Multiaddr{quic})
	if len(only) != 1 || only[0].Delay != 0 {
		t.Errorf("QUIC-only delays %v, want immediate", only)
	}
	relayOnly := tcpFirstRanker([]ma.Multiaddr{relay})
	if len(relayOnly) != 1 || relayOnly[0].Delay != 0 {
		t.Errorf("relay-only delays %v, want immediate", relayOnly)
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
