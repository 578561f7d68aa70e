package transfer

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/peerpath/peerpath/internal/content"
)

// errBadChunk is the cause a source is cancelled with when it sent a chunk
// that failed verification.
var errBadChunk = errors.New("transfer: peer sent a chunk that does not match its id")

// layout is the chunk layout of one file.
type layout struct {
	size      int64
	chunkSize int64
	chunks    []cid.Cid
}

func layoutOf(m *content.FileManifest) (layout, error) {
	if m.Size < 0 || m.ChunkSize <= 0 || m.ChunkSize > content.MaxChunkSize ||
		int64(len(m.Chunks)) != content.NumChunks(m.Size, m.ChunkSize) {
		return layout{}, fmt.Errorf("%w: file layout out of bounds", ErrBadContent)
	}
	return layout{size: m.Size, chunkSize: int64(m.ChunkSize), chunks: m.Chunks}, nil
}

func (l layout) rangeOf(i int) (off, n int64) {
	off = int64(i) * l.chunkSize
	return off, min(l.chunkSize, l.size-off)
}

// chunkState tracks one chunk: done, or held (requested) by up to two
// sources.
type chunkState struct {
	done    bool
	holders [2]*source
	since   time.Time // when holders[0] took it
}

// source is one provider taking part in one file's download.
type source struct {
	ai     peer.AddrInfo
	ctx    context.Context
	cancel context.CancelCauseFunc
}

type sourceEvent struct {
	src *source
	err error
}

type verifyJob struct {
	i   int
	buf *[]byte
	src *source
}

// fileJob downloads the missing chunks of one file into its part file.
type fileJob struct {
	ss     *session
	lay    layout
	f      *os.File
	lookup []cid.Cid
	clog   chunkLog

	verifyCh chan verifyJob
	commitCh chan int

	mu        sync.Mutex
	state     []chunkState
	cursor    int
	remaining int
	changed   chan struct{}
	lastProg  time.Time
	err       error         // fatal (local) error
	fetched   int           // chunks fetched and written in this run
	lat       time.Duration // moving average of take-to-done time
}

// dupAfterLocked is how long a chunk must have been in flight before an idle
// source duplicates it in the end game: a few times the usual time, so only
// a straggler is duplicated, not every last chunk.
func (j *fileJob) dupAfterLocked() time.Duration {
	if j.lat == 0 {
		return time.Second
	}
	return max(3*j.lat, 50*time.Millisecond)
}

func (j *fileJob) waitCh() <-chan struct{} {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.changed
}

func (j *fileJob) broadcastLocked() {
	close(j.changed)
	j.changed = make(chan struct{})
}

// finished reports whether every chunk is done, or a fatal error occurred.
func (j *fileJob) finished() (bool, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.remaining == 0 || j.err != nil, j.err
}

func (j *fileJob) fail(err error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.err == nil {
		j.err = err
		j.broadcastLocked()
	}
}

// take assigns src a chunk to request: the first chunk nobody holds, or, when
// every missing chunk is held (the end game), one held by a single other
// source for longer than dupAfterLocked.
func (j *fileJob) take(src *source) (int, bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.err != nil {
		return 0, false
	}
	for i := j.cursor; i < len(j.state); i++ {
		c := &j.state[i]
		if !c.done && c.holders[0] == nil {
			c.holders[0] = src
			c.since = time.Now()
			j.cursor = i + 1
			return i, true
		}
	}
	j.cursor = len(j.state)
	old := time.Now().Add(-j.dupAfterLocked())
	for i := range j.state {
		c := &j.state[i]
		if !c.done && c.holders[0] != src && c.holders[1] == nil && c.since.Before(old) {
			c.holders[1] = src
			return i, true
		}
	}
	return 0, false
}

// release gives up src's hold on chunk i.
func (j *fileJob) release(src *source, i int) {
	j.mu.Lock()
	defer j.mu.Unlock()
	c := &j.state[i]
	switch src {
	case c.holders[0]:
		c.holders[0], c.holders[1] = c.holders[1], nil
	case c.holders[1]:
		c.holders[1] = nil
	}
	if !c.done && c.holders[0] == nil {
		j.cursor = min(j.cursor, i)
		j.broadcastLocked()
	}
}

func (j *fileJob) isDone(i int) bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.state[i].done
}

// markDone records chunk i as written; it reports false if it already was.
func (j *fileJob) markDone(i int) bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	c := &j.state[i]
	if c.done {
		return false
	}
	c.done = true
	if c.holders[0] != nil {
		lat := time.Since(c.since)
		if j.lat == 0 {
			j.lat = lat
		} else {
			j.lat = (4*j.lat + lat) / 5
		}
	}
	c.holders = [2]*source{}
	j.remaining--
	j.fetched++
	j.lastProg = time.Now()
	j.broadcastLocked()
	return true
}

// run fetches every missing chunk from the swarm. It returns when all are
// written and recorded, on a fatal local error, when no source made progress
// for the session's timeout (ErrNoProviders), or when ctx is done.
func (j *fileJob) run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	j.verifyCh = make(chan verifyJob, runtime.GOMAXPROCS(0))
	j.commitCh = make(chan int, 1024)
	var workers sync.WaitGroup
	for range max(2, runtime.GOMAXPROCS(0)) {
		workers.Go(func() {
			for v := range j.verifyCh {
				j.verify(v)
				j.ss.s.putBuf(v.buf)
			}
		})
	}
	commitErr := make(chan error, 1)
	go func() { commitErr <- j.committer(context.WithoutCancel(ctx)) }()

	err := j.manage(ctx)

	close(j.verifyCh) // every stream has returned: nothing sends any more
	workers.Wait()
	close(j.commitCh)
	if cerr := <-commitErr; err == nil && cerr != nil {
		err = cerr
	}
	if _, ferr := j.finished(); err == nil && ferr != nil {
		err = ferr
	}
	return err
}

// manage starts and stops sources until the job is finished, and returns
// only once every source goroutine has returned.
func (j *fileJob) manage(ctx context.Context) error {
	ss := j.ss
	log := ss.s.log
	events := make(chan sourceEvent)
	active := make(map[peer.ID]*source)
	type retry struct {
		at    time.Time
		fails int
	}
	retries := make(map[peer.ID]retry)
	skip := make(map[peer.ID]bool) // not usable for this file
	refused := false               // a source refused by its content policy
	backoff := 250 * time.Millisecond
	var nextAsk time.Time
	lastFull := time.Now()

	var result error
	for {
		ch := j.waitCh()
		if done, err := j.finished(); done {
			result = err
			break
		}
		now := time.Now()
		// Start a source for every usable candidate not running.
		cands := ss.candidates()
		usable := 0
		for _, ai := range cands {
			if !skip[ai.ID] {
				usable++
			}
			if active[ai.ID] != nil || skip[ai.ID] || now.Before(retries[ai.ID].at) {
				continue
			}
			sctx, scancel := context.WithCancelCause(ctx)
			src := &source{ai: ai, ctx: sctx, cancel: scancel}
			active[ai.ID] = src
			ss.addSources(1)
			go func() { events <- sourceEvent{src, j.runSource(src)} }()
		}
		if refused && usable == 0 {
			// Every provider known is out, and one refused by its
			// content policy: say so now rather than wait out the
			// timeout for a provider that may never come.
			result = ss.noDelivery("chunks of %s", j.lookup[0])
			break
		}
		if len(active) >= 3 {
			lastFull = now
		}
		// Ask the finder again when nobody is serving us, with backoff, and
		// now and then when few are.
		if (len(active) == 0 && !now.Before(nextAsk)) || (len(active) < 3 && now.Sub(lastFull) > 30*time.Second && !now.Before(nextAsk)) {
			ss.ask(ctx, j.lookup...)
			if len(active) == 0 {
				nextAsk = now.Add(backoff)
				backoff = min(2*backoff, 5*time.Second)
			} else {
				nextAsk = now.Add(30 * time.Second)
				lastFull = now
			}
			continue
		}
		j.mu.Lock()
		stall := j.lastProg.Add(ss.timeout)
		j.mu.Unlock()
		if !now.Before(stall) {
			result = ss.noDelivery("no chunk arrived for %v", ss.timeout)
			break
		}
		wake := stall
		if len(active) == 0 && nextAsk.Before(wake) {
			wake = nextAsk
		}
		for id, r := range retries {
			if active[id] == nil && !skip[id] && r.at.After(now) && r.at.Before(wake) {
				wake = r.at
			}
		}
		timer := time.NewTimer(time.Until(wake))
		select {
		case ev := <-events:
			delete(active, ev.src.ai.ID)
			ss.addSources(-1)
			id := ev.src.ai.ID
			err := ev.err
			if cause := context.Cause(ev.src.ctx); cause != nil && !errors.Is(cause, context.Canceled) {
				err = cause
			}
			ss.noteAnswer(id, err)
			var re *RemoteError
			switch {
			case err == nil:
			case errors.Is(err, errBadChunk):
				skip[id] = true // already dropped by the verifier
			case errors.Is(err, ErrProtocol):
				log.Warn("transfer: dropping peer for protocol violation", "peer", id, "err", err)
				ss.s.addScore(id, scoreProtocol)
				ss.drop(id)
				skip[id] = true
			case errors.As(err, &re) && re.Refused():
				skip[id] = true
				refused = true
			case errors.As(err, &re) && re.NotFound():
				skip[id] = true
			case errors.As(err, &re) && re.Busy():
				retries[id] = retry{at: time.Now().Add(2 * time.Second), fails: retries[id].fails}
			case ctx.Err() != nil:
			default:
				r := retries[id]
				r.fails++
				r.at = time.Now().Add(time.Duration(r.fails) * time.Second)
				retries[id] = r
				if r.fails >= 3 {
					skip[id] = true
				}
				log.Debug("transfer: source failed", "peer", id, "err", err)
			}
		case <-ch:
		case <-timer.C:
		case <-ctx.Done():
			result = context.Cause(ctx)
		}
		timer.Stop()
		if result != nil {
			break
		}
	}
	// Stop every source and wait for it.
	for _, src := range active {
		src.cancel(context.Canceled)
	}
	for len(active) > 0 {
		ev := <-events
		delete(active, ev.src.ai.ID)
		ss.addSources(-1)
	}
	return result
}

// runSource downloads chunks from one provider over a few streams until
// nothing is left to take or a stream fails.
func (j *fileJob) runSource(src *source) error {
	defer src.cancel(context.Canceled)
	j.mu.Lock()
	n := min(streamsPerSource, j.remaining)
	j.mu.Unlock()
	if n == 0 {
		return nil
	}
	st, err := j.ss.openStream(src.ctx, src.ai)
	if err != nil {
		return err
	}
	errs := make(chan error, n)
	go func() { errs <- j.runStream(src, st) }()
	for k := 1; k < n; k++ {
		go func() {
			st, err := j.ss.openStream(src.ctx, src.ai)
			if err != nil {
				errs <- err
				return
			}
			err = j.runStream(src, st)
			var re *RemoteError
			if errors.As(err, &re) && re.Busy() {
				// The peer limits our streams: carry on with fewer.
				err = nil
			}
			errs <- err
		}()
	}
	var first error
	for range n {
		err := <-errs
		if err != nil && first == nil {
			first = err
			src.cancel(err)
		}
	}
	return first
}

// runStream pipelines chunk requests over one stream: it keeps up to
// pipelineDepth requests outstanding and hands each response to the
// verifiers while it reads the next one.
func (j *fileJob) runStream(src *source, st network.Stream) (err error) {
	ctx := src.ctx
	stop := context.AfterFunc(ctx, func() { st.Reset() })
	defer stop()
	defer func() {
		if err != nil {
			st.Reset() // mid-response: the stream cannot be reused
		}
	}()
	p := src.ai.ID
	var q []int // requested, in order
	defer func() {
		for _, i := range q {
			j.release(src, i)
		}
	}()
	r := deadlineStream{st: st, d: idleTimeout}
	req := make([]byte, 0, pipelineDepth*(2+MaxCIDLen))
	for {
		ch := j.waitCh()
		req = req[:0]
		for len(q) < pipelineDepth {
			i, ok := j.take(src)
			if !ok {
				break
			}
			req = appendRequest(req, opChunk, j.lay.chunks[i])
			q = append(q, i)
		}
		if len(req) > 0 {
			if _, err := st.Write(req); err != nil {
				return errorf("request from %s: %w", p, err)
			}
		}
		if len(q) == 0 {
			if done, _ := j.finished(); done {
				st.Close()
				return nil
			}
			// Wait for a chunk to come free, or for a straggler to be
			// worth duplicating.
			j.mu.Lock()
			wait := j.dupAfterLocked() / 2
			j.mu.Unlock()
			t := time.NewTimer(wait)
			select {
			case <-ch:
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return context.Cause(ctx)
			}
			t.Stop()
			continue
		}
		i := q[0]
		_, n := j.lay.rangeOf(i)
		if _, err := readResponseHeader(r, int(n), int(n)); err != nil {
			return fmt.Errorf("transfer: chunk %d from %s: %w", i, p, err)
		}
		buf := j.ss.s.getBuf(int(n))
		if err := j.ss.s.down.Load().readFull(ctx, r, p, *buf); err != nil {
			j.ss.s.putBuf(buf)
			return fmt.Errorf("transfer: chunk %d from %s: %w", i, p, err)
		}
		q = q[1:]
		j.ss.addFetched(n)
		select {
		case j.verifyCh <- verifyJob{i: i, buf: buf, src: src}:
		case <-ctx.Done():
			j.ss.s.putBuf(buf)
			j.release(src, i)
			return context.Cause(ctx)
		}
	}
}

// verify checks one received chunk and writes it if it is good.
func (j *fileJob) verify(v verifyJob) {
	data := *v.buf
	p := v.src.ai.ID
	if err := content.Verify(j.lay.chunks[v.i], data); err != nil {
		j.ss.s.log.Warn("transfer: dropping peer that sent a bad chunk", "peer", p, "chunk", v.i, "err", err)
		j.ss.s.addScore(p, scoreBadChunk)
		j.ss.drop(p)
		v.src.cancel(errBadChunk)
		j.release(v.src, v.i)
		return
	}
	if m := j.ss.s.cfg.Meter; m != nil {
		m.Received(p, len(data))
	}
	if j.isDone(v.i) {
		return // a duplicate from the end game
	}
	off, _ := j.lay.rangeOf(v.i)
	if _, err := j.f.WriteAt(data, off); err != nil {
		j.fail(err) // an *os.PathError: "write PATH: ..."
		return
	}
	if j.markDone(v.i) {
		j.ss.s.addScore(p, scoreChunk)
		j.ss.addDone(int64(len(data)), p)
		j.commitCh <- v.i
	}
}

// committer records written chunks durably in batches: it fsyncs the data
// file first, then appends the batch to the chunk log.
func (j *fileJob) committer(ctx context.Context) error {
	var (
		batch []int
		err   error
	)
	flush := func() {
		if len(batch) == 0 || err != nil {
			return
		}
		if e := j.f.Sync(); e != nil {
			err = errorf("sync %s: %w", j.f.Name(), e)
		} else {
			DropCache(j.f)
			if e := j.clog.record(ctx, batch); e != nil {
				err = e
			}
		}
		if err != nil {
			j.fail(err)
		}
		batch = batch[:0]
	}
	tick := time.NewTicker(commitInterval)
	defer tick.Stop()
	for {
		select {
		case i, ok := <-j.commitCh:
			if !ok {
				flush()
				return err
			}
			batch = append(batch, i)
			if len(batch) >= commitEvery {
				flush()
			}
		case <-tick.C:
			flush()
		}
	}
}
