package p2p

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"
)

// TestProvideQueue: Add never blocks (a full queue drops), Run announces
// every queued id in order, and with no provide function it drains.
func TestProvideQueue(t *testing.T) {
	ids := make([]cid.Cid, 5)
	for i := range ids {
		h, err := multihash.Sum([]byte{byte(i)}, multihash.SHA2_256, -1)
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = cid.NewCidV1(cid.Raw, h)
	}
	q := NewProvideQueue(3)
	for _, c := range ids {
		q.Add(c) // the last two are dropped, without blocking
	}
	var (
		mu  sync.Mutex
		got []cid.Cid
	)
	done := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		q.Run(ctx, func(ctx context.Context, c cid.Cid) error {
			if _, ok := ctx.Deadline(); !ok {
				t.Error("an announcement without a deadline")
			}
			mu.Lock()
			got = append(got, c)
			mu.Unlock()
			return nil
		}, slog.New(slog.DiscardHandler), "test")
		close(done)
	}()
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n == 3 || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	if len(got) != 3 || !got[0].Equals(ids[0]) || !got[2].Equals(ids[2]) {
		t.Fatalf("announced %v, want the first 3 of %v", got, ids)
	}

	// No DHT: the queue drains and nothing blocks.
	q = NewProvideQueue(2)
	q.Add(ids[0])
	q.Add(ids[1])
	ctx, cancel = context.WithCancel(context.Background())
	done = make(chan struct{})
	go func() { q.Run(ctx, nil, slog.New(slog.DiscardHandler), "test"); close(done) }()
	deadline = time.Now().Add(5 * time.Second)
	for len(q.ch) > 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	if n := len(q.ch); n != 0 {
		t.Fatalf("%d ids left in a queue with no provide function", n)
	}
}
