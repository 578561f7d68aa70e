//go:build linux

// Package hostile attacks real peerpath daemons, started from the built
// binary on loopback, as a hostile peer or a hostile local user would: one
// test per class of attack in docs/security.md. A hostile peer is a libp2p
// host inside the test that speaks the real protocols with messages it
// crafts; everything it sends is checked by the daemons alone.
package hostile

import (
	"context"
	"crypto/rand"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/peerpath/peerpath/test/harness"
)

func TestMain(m *testing.M) { harness.Main(m) }

// newPeer starts a throwaway libp2p identity on loopback, connected to d,
// closed when the test ends.
func newPeer(t *testing.T, d *harness.Daemon, opts ...libp2p.Option) (host.Host, crypto.PrivKey) {
	t.Helper()
	key, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	h, err := libp2p.New(append([]libp2p.Option{libp2p.Identity(key), libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0")}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	ai, err := peer.AddrInfoFromString(d.Addr())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := h.Connect(ctx, *ai); err != nil {
		t.Fatalf("hostile peer: connect: %v", err)
	}
	return h, key
}

// mustID is d's peer id.
func mustID(t *testing.T, d *harness.Daemon) peer.ID {
	t.Helper()
	id, err := peer.Decode(d.ID().ID)
	if err != nil {
		t.Fatal(err)
	}
	return id
}
