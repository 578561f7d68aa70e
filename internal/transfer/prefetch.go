package transfer

import (
	"context"
	"sync"

	"github.com/ipfs/go-cid"
)

// planPrefetch is how many folder manifests the planner fetches ahead of
// its walk at once; well under MaxServingPerPeer, so one source serves
// them all without answering busy.
const planPrefetch = 8

// prefetcher fetches the folder manifests a tree's planner will ask for
// next, ahead of its depth-first walk: as soon as a folder is planned, its
// sub-folders are queued, and a few workers fetch them while the walk goes
// on. Planning Go's src (1,324 folders) one manifest after the other cost a
// round trip per folder before any file moved.
//
// What it fetches is bounded by the walk: only ids named by folders the
// planner has already counted against its limits are queued, each once.
// A fetch the walk asks for and no worker has started runs in the caller,
// so the walk never waits behind the queue.
type prefetcher struct {
	fetch  func(context.Context, cid.Cid) (any, error)
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	queue   []*fetchResult
	byID    map[string]*fetchResult
	wake    chan struct{}
	stopped bool
}

// fetchResult is one manifest, fetched or being fetched.
type fetchResult struct {
	id      cid.Cid
	started bool          // by a worker or the walk
	done    chan struct{} // closed once v and err are set
	v       any
	err     error
}

func newPrefetcher(ctx context.Context, fetch func(context.Context, cid.Cid) (any, error)) *prefetcher {
	p := &prefetcher{fetch: fetch, byID: make(map[string]*fetchResult), wake: make(chan struct{}, 1)}
	p.ctx, p.cancel = context.WithCancel(ctx)
	for range planPrefetch {
		p.wg.Go(p.work)
	}
	return p
}

// close stops the workers and waits for them.
func (p *prefetcher) close() {
	p.mu.Lock()
	p.stopped = true
	p.mu.Unlock()
	p.cancel()
	p.wg.Wait()
}

// want queues id unless it is queued or fetched already.
func (p *prefetcher) want(id cid.Cid) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped || p.byID[id.KeyString()] != nil {
		return
	}
	r := &fetchResult{id: id, done: make(chan struct{})}
	p.byID[id.KeyString()] = r
	p.queue = append(p.queue, r)
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// get returns manifest id: a worker's result, or fetched here if no
// worker has started it. Results are kept until close (the planner holds
// every manifest it planned anyway), so asking again costs no fetch.
func (p *prefetcher) get(ctx context.Context, id cid.Cid) (any, error) {
	p.mu.Lock()
	r := p.byID[id.KeyString()]
	if r == nil {
		r = &fetchResult{id: id, done: make(chan struct{})}
		p.byID[id.KeyString()] = r
	}
	mine := !r.started
	r.started = true
	p.mu.Unlock()
	if mine {
		r.v, r.err = p.fetch(ctx, id)
		close(r.done)
	} else {
		select {
		case <-r.done:
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		}
	}
	return r.v, r.err
}

func (p *prefetcher) work() {
	for {
		p.mu.Lock()
		var r *fetchResult
		for len(p.queue) > 0 && r == nil {
			r, p.queue = p.queue[0], p.queue[1:]
			if r.started {
				r = nil // the walk took it
			}
		}
		if r != nil {
			r.started = true
		}
		more := len(p.queue) > 0
		p.mu.Unlock()
		if r == nil {
			select {
			case <-p.wake:
				continue
			case <-p.ctx.Done():
				return
			}
		}
		if more {
			select { // another worker may take the next one
			case p.wake <- struct{}{}:
			default:
			}
		}
		r.v, r.err = p.fetch(p.ctx, r.id)
		close(r.done)
	}
}
