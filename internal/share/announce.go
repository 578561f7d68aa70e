package share

import (
	"context"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	"golang.org/x/time/rate"
)

// announceQueue holds ids waiting to be announced: share roots first, then
// the files and folders inside shares. Chunks are never announced: a peer
// finds a file's providers and asks them for its chunks.
//
// An id is not queued again while it waits, nor within minGap of being
// taken for announcing, so a re-announce racing with an announce does not
// announce twice.
type announceQueue struct {
	enabled bool
	minGap  time.Duration
	wake    chan struct{}

	mu          sync.Mutex
	high, low   []cid.Cid
	pending     map[cid.Cid]bool
	recent      map[cid.Cid]time.Time
	done, total int
}

func newAnnounceQueue(enabled bool, minGap time.Duration) *announceQueue {
	return &announceQueue{
		enabled: enabled,
		minGap:  minGap,
		wake:    make(chan struct{}, 1),
		pending: make(map[cid.Cid]bool),
		recent:  make(map[cid.Cid]time.Time),
	}
}

// push queues id unless it is waiting or was announced within minGap.
func (q *announceQueue) push(id cid.Cid, high bool) {
	if !q.enabled {
		return
	}
	q.mu.Lock()
	if at, ok := q.recent[id]; ok && time.Since(at) < q.minGap {
		q.mu.Unlock()
		return
	}
	if !q.pending[id] {
		q.pending[id] = true
		q.total++
		if high {
			q.high = append(q.high, id)
		} else {
			q.low = append(q.low, id)
		}
	}
	q.mu.Unlock()
	signal(q.wake)
}

// pop takes the next id, roots first.
func (q *announceQueue) pop() (cid.Cid, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	var id cid.Cid
	switch {
	case len(q.high) > 0:
		id, q.high = q.high[0], q.high[1:]
	case len(q.low) > 0:
		id, q.low = q.low[0], q.low[1:]
	default:
		return cid.Undef, false
	}
	delete(q.pending, id)
	q.recent[id] = time.Now()
	return id, true
}

// prune forgets announcements older than minGap.
func (q *announceQueue) prune() {
	q.mu.Lock()
	defer q.mu.Unlock()
	for id, at := range q.recent {
		if time.Since(at) >= q.minGap {
			delete(q.recent, id)
		}
	}
}

func (q *announceQueue) empty() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.high) == 0 && len(q.low) == 0
}

func (q *announceQueue) finish() {
	q.mu.Lock()
	q.done++
	q.mu.Unlock()
}

func (q *announceQueue) progress() (done, total int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.done, q.total
}

// enqueueAll queues every id in the catalog: share roots first.
func (s *Service) enqueueAll(ctx context.Context) {
	s.ann.prune()
	for _, q := range []struct {
		sql  string
		high bool
	}{
		{`SELECT root_cid, path FROM share_roots ORDER BY id`, true},
		{`SELECT DISTINCT f.cid, r.path FROM share_files f JOIN share_roots r ON r.id = f.share_id WHERE f.rel_path != ''`, false},
	} {
		rows, err := s.db.QueryContext(ctx, q.sql)
		if err != nil {
			s.log.Warn("share: re-announce", "err", err)
			return
		}
		for rows.Next() {
			var str, path string
			if err := rows.Scan(&str, &path); err != nil || s.isPrivate(path) {
				continue
			}
			if id, err := cid.Decode(str); err == nil {
				s.ann.push(id, q.high)
			}
		}
		rows.Close()
	}
}

// announceLoop runs AnnounceParallel workers that announce queued ids at
// the configured rate (DHT provides are slow, so several are in flight),
// and re-queues the whole catalog every ReannounceEvery.
func (s *Service) announceLoop(ctx context.Context) {
	lim := rate.NewLimiter(s.cfg.AnnounceRate, s.cfg.AnnounceBurst)
	var wg sync.WaitGroup
	defer wg.Wait()
	for range s.cfg.AnnounceParallel {
		wg.Go(func() { s.announceWorker(ctx, lim) })
	}
	tick := time.NewTicker(s.cfg.ReannounceEvery)
	defer tick.Stop()
	s.enqueueAll(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			s.enqueueAll(ctx)
		}
	}
}

func (s *Service) announceWorker(ctx context.Context, lim *rate.Limiter) {
	for {
		if s.ann.empty() {
			select {
			case <-ctx.Done():
				return
			case <-s.ann.wake:
			}
			continue
		}
		// Take the token first, then the most urgent id, so roots go first
		// whichever worker runs.
		if err := lim.Wait(ctx); err != nil {
			return
		}
		id, ok := s.ann.pop()
		if !ok {
			continue
		}
		if !s.ann.empty() {
			signal(s.ann.wake) // let another worker take the next one
		}
		if s.Has(ctx, id) { // removed shares are not announced
			pctx, cancel := context.WithTimeout(ctx, s.cfg.AnnounceTimeout)
			err := s.cfg.Announcer.Provide(pctx, id)
			cancel()
			if err != nil && ctx.Err() == nil {
				s.log.Warn("share: announce failed", "cid", id, "err", err)
			}
		}
		s.ann.finish()
	}
}
