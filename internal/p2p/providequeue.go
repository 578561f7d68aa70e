package p2p

import (
	"context"
	"log/slog"
	"time"

	"github.com/ipfs/go-cid"
)

// provideTimeout bounds one announcement of a [ProvideQueue].
const provideTimeout = 30 * time.Second

// ProvideQueue announces content ids in the DHT one at a time, so that a
// burst of them costs a bounded number of lookups; what does not fit its
// buffer is dropped (the holder is still found by asking connected peers).
type ProvideQueue struct {
	ch chan cid.Cid
}

// NewProvideQueue returns a queue that buffers up to n ids.
func NewProvideQueue(n int) *ProvideQueue {
	return &ProvideQueue{ch: make(chan cid.Cid, n)}
}

// Add queues c without blocking; a full queue drops it.
func (q *ProvideQueue) Add(c cid.Cid) {
	select {
	case q.ch <- c:
	default:
	}
}

// Run announces what is queued with provide, each within 30 s, until ctx
// ends. A nil provide (no DHT) drains the queue. Failures are logged at
// debug level under what.
func (q *ProvideQueue) Run(ctx context.Context, provide func(context.Context, cid.Cid) error, log *slog.Logger, what string) {
	for {
		select {
		case <-ctx.Done():
			return
		case c := <-q.ch:
			if provide == nil {
				continue
			}
			pctx, cancel := context.WithTimeout(ctx, provideTimeout)
			if err := provide(pctx, c); err != nil {
				log.Debug(what+": provide", "cid", c, "err", err)
			}
			cancel()
		}
	}
}
