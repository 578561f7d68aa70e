// Package peerlimit bounds what remote peers may take from a node: [Limiter]
// the rate of requests each peer may make, with a token bucket per peer
// (golang.org/x/time/rate), and [Slots] what peers hold at once (open
// streams, requests in service), per peer, per connection, per remote
// address and in all. Their memory stays bounded however many peer IDs a
// hostile network invents.
package peerlimit

import (
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/time/rate"
)

// MaxPeers is how many peers' buckets a Limiter keeps. Past it, buckets idle
// for a minute are forgotten first, then any; a forgotten peer starts again
// with a full bucket.
const MaxPeers = 10000

// idle is how long a bucket goes unused before it may be forgotten.
const idle = time.Minute

// Limiter allows each peer rate requests per second, in bursts of up to
// burst. It is safe for concurrent use.
type Limiter struct {
	rate  rate.Limit
	burst int

	mu     sync.Mutex
	peers  map[peer.ID]*bucket
	pruned time.Time
}

type bucket struct {
	l    *rate.Limiter
	last time.Time
}

// New returns a Limiter of rate requests per second per peer, in bursts of
// up to burst (at least 1).
func New(r rate.Limit, burst int) *Limiter {
	return &Limiter{rate: r, burst: max(burst, 1), peers: make(map[peer.ID]*bucket)}
}

// Allow reports whether p may make one more request now, and counts it if so.
func (l *Limiter) Allow(p peer.ID) bool { return l.allowAt(p, time.Now()) }

func (l *Limiter) allowAt(p peer.ID, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.peers[p]
	if b == nil {
		if len(l.peers) >= MaxPeers {
			l.evict(now)
		}
		b = &bucket{l: rate.NewLimiter(l.rate, l.burst)}
		l.peers[p] = b
	}
	b.last = now
	return b.l.AllowN(now, 1)
}

// evict makes room for one more bucket: it forgets idle buckets (at most
// once a minute, so a full table does not cost a scan per request), then,
// if none was idle, an arbitrary one.
func (l *Limiter) evict(now time.Time) {
	if now.Sub(l.pruned) >= idle {
		l.pruned = now
		for id, b := range l.peers {
			if now.Sub(b.last) >= idle {
				delete(l.peers, id)
			}
		}
	}
	for id := range l.peers {
		if len(l.peers) < MaxPeers {
			break
		}
		delete(l.peers, id)
	}
}

// Len returns the number of peers tracked.
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.peers)
}
