//go:build linux

package hostile

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/peerpath/peerpath/internal/p2p"
	"github.com/peerpath/peerpath/test/harness"
)

// Every protocol a stranger may open closes a stream that sends no request
// within p2p.FirstRequestTimeout (plus slack for a loaded machine), so idle
// streams hold nothing for long on any of them. Search, the ledger's client
// protocol and the receipt protocol used to wait 10–15 s.
func TestIdleStreamClosedOnEveryProtocol(t *testing.T) {
	// A voter serves the ledger's client protocol.
	a := harness.Start(t, "--ledger-voter")
	aID := mustID(t, a)
	h, _ := newPeer(t, a)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	limit := p2p.FirstRequestTimeout + 2*time.Second
	var wg sync.WaitGroup
	var mu sync.Mutex
	late := map[protocol.ID]string{}
	for _, proto := range idleProtocols {
		sts := openIdle(ctx, t, h, aID, proto, 1)
		if len(sts) != 1 {
			t.Fatalf("%s: could not open a stream", proto)
		}
		st, opened := sts[0], time.Now()
		wg.Go(func() {
			st.SetReadDeadline(opened.Add(limit))
			_, err := st.Read(make([]byte, 64))
			if errors.Is(err, os.ErrDeadlineExceeded) || (err != nil && strings.Contains(err.Error(), "deadline")) {
				mu.Lock()
				late[proto] = "still open"
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(late) > 0 {
		t.Fatalf("idle streams not closed within %s: %v", limit, late)
	}
}
