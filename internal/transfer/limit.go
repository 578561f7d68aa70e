package transfer

import (
	"context"
	"io"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/time/rate"
)

// priorityHold is how long after serving a piece to a peer of some class
// the peers of lower classes keep waiting: long enough for that peer's next
// request to arrive, so a steady higher-class stream is not interleaved
// with lower-class pieces, even on a loaded machine (20 ms let a loaded
// client's next request come too late, and the lower class shared the
// upload). It costs the lower classes at most this much idle upload once
// the higher class stops.
const priorityHold = 100 * time.Millisecond

// limiter is a byte-rate limit shared by all peers, fair between them: each
// peer holds at most one pending reservation at a time (its turnstile), so
// waiting peers take turns whatever the number of streams each one uses.
// With a priority function, peers are sorted into classes, and a peer waits
// while one of a higher class is waiting or was served within priorityHold.
// A nil *limiter is unlimited.
type limiter struct {
	l    *rate.Limiter
	prio func(peer.ID) int

	mu      sync.Mutex
	turns   map[peer.ID]*turn
	present map[int]int       // class -> pieces waiting or being reserved
	served  map[int]time.Time // class -> when a piece of it was last granted
	changed chan struct{}     // closed (and replaced) when present shrinks
}

type turn struct {
	mu   sync.Mutex
	refs int
}

func newLimiter(bytesPerSec int64, prio func(peer.ID) int) *limiter {
	if bytesPerSec <= 0 {
		return nil
	}
	return &limiter{
		l:       rate.NewLimiter(rate.Limit(bytesPerSec), limitPiece),
		prio:    prio,
		turns:   make(map[peer.ID]*turn),
		present: make(map[int]int),
		served:  make(map[int]time.Time),
		changed: make(chan struct{}),
	}
}

// class returns p's priority class.
func (l *limiter) class(p peer.ID) int {
	if l.prio == nil {
		return 0
	}
	return l.prio(p)
}

// wait blocks until p, of priority class c, may move n bytes
// (n <= limitPiece).
func (l *limiter) wait(ctx context.Context, p peer.ID, c, n int) error {
	l.mu.Lock()
	t := l.turns[p]
	if t == nil {
		t = &turn{}
		l.turns[p] = t
	}
	t.refs++
	l.present[c]++
	l.mu.Unlock()

	t.mu.Lock()
	err := l.gate(ctx, c)
	if err == nil {
		err = l.l.WaitN(ctx, n)
	}
	t.mu.Unlock()

	l.mu.Lock()
	if err == nil {
		l.served[c] = time.Now()
	}
	if l.present[c]--; l.present[c] == 0 {
		delete(l.present, c)
	}
	close(l.changed)
	l.changed = make(chan struct{})
	t.refs--
	if t.refs == 0 {
		delete(l.turns, p)
	}
	l.mu.Unlock()
	return err
}

// gate blocks while a class above c is waiting or was served within
// priorityHold.
func (l *limiter) gate(ctx context.Context, c int) error {
	if l.prio == nil {
		return nil
	}
	for {
		l.mu.Lock()
		var hold time.Duration
		for hc, k := range l.present {
			if hc > c && k > 0 {
				hold = priorityHold
			}
		}
		for hc, at := range l.served {
			if hc <= c {
				continue
			}
			if left := priorityHold - time.Since(at); left > hold {
				hold = left
			} else if left <= 0 && l.present[hc] == 0 {
				delete(l.served, hc)
			}
		}
		ch := l.changed
		l.mu.Unlock()
		if hold <= 0 {
			return nil
		}
		tm := time.NewTimer(hold)
		select {
		case <-ctx.Done():
			tm.Stop()
			return ctx.Err()
		case <-ch:
		case <-tm.C:
		}
		tm.Stop()
	}
}

// write writes b to w, pacing it under the limit as peer p's traffic.
func (l *limiter) write(ctx context.Context, w io.Writer, p peer.ID, b []byte) error {
	if l == nil {
		_, err := w.Write(b)
		return err
	}
	c := l.class(p)
	for len(b) > 0 {
		k := min(len(b), limitPiece)
		if err := l.wait(ctx, p, c, k); err != nil {
			return err
		}
		if _, err := w.Write(b[:k]); err != nil {
			return err
		}
		b = b[k:]
	}
	return nil
}

// readFull fills b from r, pacing it under the limit as peer p's traffic.
func (l *limiter) readFull(ctx context.Context, r io.Reader, p peer.ID, b []byte) error {
	if l == nil {
		_, err := io.ReadFull(r, b)
		return unexpected(err)
	}
	c := l.class(p)
	for len(b) > 0 {
		k := min(len(b), limitPiece)
		if err := l.wait(ctx, p, c, k); err != nil {
			return err
		}
		if _, err := io.ReadFull(r, b[:k]); err != nil {
			return unexpected(err)
		}
		b = b[k:]
	}
	return nil
}
