package peerlimit

import (
	"fmt"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestBurstThenRate(t *testing.T) {
	l := New(10, 3)
	now := time.Unix(1000, 0)
	a, b := peer.ID("a"), peer.ID("b")
	for i := range 3 {
		if !l.allowAt(a, now) {
			t.Fatalf("request %d of a burst of 3 refused", i+1)
		}
	}
	if l.allowAt(a, now) {
		t.Fatal("fourth request at once allowed")
	}
	if !l.allowAt(b, now) {
		t.Fatal("another peer is limited by a's requests")
	}
	if !l.allowAt(a, now.Add(100*time.Millisecond)) {
		t.Fatal("no token after 1/rate")
	}
	if l.allowAt(a, now.Add(100*time.Millisecond)) {
		t.Fatal("two tokens after 1/rate")
	}
}

func TestBounded(t *testing.T) {
	l := New(1, 1)
	now := time.Unix(1000, 0)
	for i := range MaxPeers + 500 {
		l.allowAt(peer.ID(fmt.Sprint("p", i)), now)
	}
	if n := l.Len(); n > MaxPeers {
		t.Fatalf("%d buckets kept, limit %d", n, MaxPeers)
	}
	// Idle buckets go first: a peer active now keeps its (empty) bucket
	// through a prune a minute later.
	busy := peer.ID("busy")
	later := now.Add(idle)
	l.allowAt(busy, later)
	for i := range 10 {
		l.allowAt(peer.ID(fmt.Sprint("q", i)), later)
	}
	if l.allowAt(busy, later) {
		t.Fatal("a busy peer's bucket was forgotten before idle ones")
	}
}
