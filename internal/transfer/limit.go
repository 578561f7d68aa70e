package transfer

import (
	"context"
	"io"
	"sync"

	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/time/rate"
)

// limiter is a byte-rate limit shared by all peers, fair between them: each
// peer holds at most one pending reservation at a time (its turnstile), so
// waiting peers take turns whatever the number of streams each one uses. A
// nil *limiter is unlimited.
type limiter struct {
	l     *rate.Limiter
	mu    sync.Mutex
	turns map[peer.ID]*turn
}

type turn struct {
	mu   sync.Mutex
	refs int
}

func newLimiter(bytesPerSec int64) *limiter {
	if bytesPerSec <= 0 {
		return nil
	}
	return &limiter{
		l:     rate.NewLimiter(rate.Limit(bytesPerSec), limitPiece),
		turns: make(map[peer.ID]*turn),
	}
}

// wait blocks until p may move n bytes (n <= limitPiece).
func (l *limiter) wait(ctx context.Context, p peer.ID, n int) error {
	l.mu.Lock()
	t := l.turns[p]
	if t == nil {
		t = &turn{}
		l.turns[p] = t
	}
	t.refs++
	l.mu.Unlock()

	t.mu.Lock()
	err := l.l.WaitN(ctx, n)
	t.mu.Unlock()

	l.mu.Lock()
	t.refs--
	if t.refs == 0 {
		delete(l.turns, p)
	}
	l.mu.Unlock()
	return err
}

// write writes b to w, pacing it under the limit as peer p's traffic.
func (l *limiter) write(ctx context.Context, w io.Writer, p peer.ID, b []byte) error {
	if l == nil {
		_, err := w.Write(b)
		return err
	}
	for len(b) > 0 {
		k := min(len(b), limitPiece)
		if err := l.wait(ctx, p, k); err != nil {
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
	for len(b) > 0 {
		k := min(len(b), limitPiece)
		if err := l.wait(ctx, p, k); err != nil {
			return err
		}
		if _, err := io.ReadFull(r, b[:k]); err != nil {
			return unexpected(err)
		}
		b = b[k:]
	}
	return nil
}
