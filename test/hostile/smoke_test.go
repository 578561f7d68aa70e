//go:build linux

package hostile

import (
	"testing"

	"github.com/peerpath/peerpath/test/harness"
)

// A hostile peer reaches a daemon at all: the harness the attack tests
// build on works.
func TestHostilePeerConnects(t *testing.T) {
	d := harness.Start(t)
	h, _ := newPeer(t, d)
	if len(h.Network().ConnsToPeer(mustID(t, d))) == 0 {
		t.Fatal("no connection to the daemon")
	}
}
