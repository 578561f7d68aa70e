package storage

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/peerpath/peerpath/internal/p2p"
)

// The client side of get sessions (FetchProtocolID): one long-lived
// stream per holder, shared by every get of every object this node
// fetches from it, with up to FetchWindow requests outstanding. A session
// is retired before the server would end it (fetchRetireAge, fetchRetireIdle,
// MaxFetchesPerStream) and closed once its last reply is read.
const (
	// fetchRetireAge is how long a session takes new gets; the server
	// takes them for fetchStreamLife.
	fetchRetireAge = 20 * time.Second
	// fetchRetireIdle is how long a session may sit with nothing
	// outstanding and still take a get; the server waits fetchIdle.
	fetchRetireIdle = 2 * time.Second
	// holderDownFor is how long a holder whose get failed (no connection,
	// a broken stream, a corrupt share) is asked only after the others.
	holderDownFor = 30 * time.Second
	// holderOldFor is how long a holder that speaks only ProtocolID is
	// asked over it before a session is tried again.
	holderOldFor = 10 * time.Minute
)

// errOldPeer is returned by session when the holder does not speak
// FetchProtocolID; errRetired when a session took its last get meanwhile.
var (
	errOldPeer = errors.New("storage: peer does not speak the get session protocol")
	errRetired = errors.New("storage: get session retired")
)

// fetchConn is a get session with one holder. Requests are written in
// order under wmu; each get then waits for the get written before it
// (prev) to have read its reply, reads its own, and lets the next one go.
type fetchConn struct {
	p      peer.ID
	window chan struct{}
	// ready is closed once the stream is open (st) or could not be (err);
	// st, err and opened are set before and never change after.
	ready  chan struct{}
	st     network.Stream
	err    error
	opened time.Time

	wmu  sync.Mutex
	tail chan struct{} // closed once the last written request's reply is read

	mu       sync.Mutex
	sent     int
	pending  int
	lastRead time.Time
	retired  bool // takes no more gets; closed when pending is 0
	closed   bool
	broken   bool // reset: every pending get fails
}

var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// session returns a session with p that takes gets, opening one if need
// be. Gets that find none at once wait for one opening, not open their own.
func (s *Service) session(ctx context.Context, p peer.ID) (*fetchConn, error) {
	s.mu.Lock()
	c := s.fetchConns[p]
	var sweep []*fetchConn
	if time.Since(s.fetchSwept) > time.Second {
		s.fetchSwept = time.Now()
		for _, o := range s.fetchConns {
			if o != c {
				sweep = append(sweep, o)
			}
		}
	}
	s.mu.Unlock()
	for _, o := range sweep { // sessions no longer used are closed
		if o.isReady() && !o.usable() {
			s.dropConn(o)
		}
	}
	if c != nil {
		select {
		case <-c.ready:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if c.err != nil {
			return nil, c.err
		}
		if c.usable() {
			return c, nil
		}
		s.dropConn(c)
	}
	s.mu.Lock()
	if o := s.fetchConns[p]; o != nil { // another get is opening one
		s.mu.Unlock()
		return o.await(ctx)
	}
	if len(s.fetchConns) >= 4096 {
		s.mu.Unlock()
		return nil, fmt.Errorf("%w: too many get sessions open", ErrRefused)
	}
	c = &fetchConn{p: p, ready: make(chan struct{}), window: make(chan struct{}, FetchWindow), tail: closedChan}
	s.fetchConns[p] = c
	s.mu.Unlock()

	// The opening is not this get's alone: others wait for it, so it runs
	// by its own deadline (and until Close), while this get waits for it
	// only as long as its own context lasts.
	s.mu.Lock()
	life := s.life
	s.mu.Unlock()
	octx, cancel := context.WithTimeout(context.WithoutCancel(ctx), peerDeadline/2)
	stop := context.AfterFunc(life, cancel)
	s.opening.Add(1)
	go func() {
		defer s.opening.Done()
		defer cancel()
		defer stop()
		st, err := s.open(octx, p, FetchProtocolID, ProtocolID)
		if err == nil && st.Protocol() != FetchProtocolID {
			_ = st.Reset()
			s.noteOld(p)
			err = errOldPeer
		}
		if err == nil {
			_ = st.SetDeadline(time.Time{}) // each get sets its own
		}
		c.mu.Lock()
		c.st, c.err = st, err
		c.opened, c.lastRead = time.Now(), time.Now()
		if c.retired { // Close came meanwhile
			c.retireLocked()
		}
		c.mu.Unlock()
		close(c.ready)
		if err != nil {
			s.dropConn(c)
		}
	}()
	return c.await(ctx)
}

// await waits, while ctx lasts, for c's opening to end, and returns c or
// the opening's error.
func (c *fetchConn) await(ctx context.Context) (*fetchConn, error) {
	select {
	case <-c.ready:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if c.err != nil {
		return nil, c.err
	}
	return c, nil
}

func (c *fetchConn) isReady() bool {
	select {
	case <-c.ready:
		return true
	default:
		return false
	}
}

// dropConn forgets c and retires it.
func (s *Service) dropConn(c *fetchConn) {
	s.mu.Lock()
	if s.fetchConns[c.p] == c {
		delete(s.fetchConns, c.p)
	}
	s.mu.Unlock()
	c.retire()
}

func (c *fetchConn) usable() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.usableLocked()
}

func (c *fetchConn) usableLocked() bool {
	return !c.retired && !c.broken && c.sent < MaxFetchesPerStream &&
		time.Since(c.opened) < fetchRetireAge &&
		(c.pending > 0 || time.Since(c.lastRead) < fetchRetireIdle)
}

// retire stops new gets on c and closes it once nothing is pending.
func (c *fetchConn) retire() {
	c.mu.Lock()
	c.retireLocked()
	c.mu.Unlock()
}

func (c *fetchConn) retireLocked() {
	c.retired = true
	if c.pending == 0 && !c.broken && !c.closed && c.st != nil {
		c.closed = true
		_ = c.st.Close()
	}
}

// breakLocked resets c: every get pending on it fails.
func (c *fetchConn) breakLocked() {
	c.retireLocked()
	if !c.broken && c.st != nil {
		c.broken = true
		_ = c.st.Reset()
	}
}

// get asks for share id and reads it into buf (of exactly the share's
// size). It does not check the share against its id; reused says whether
// the session had served gets before this one (a failure on a reused
// session may be the server having ended it, and is worth one retry on a
// fresh one).
func (c *fetchConn) get(ctx context.Context, id ShareID, buf []byte) (reused bool, err error) {
	select {
	case c.window <- struct{}{}:
	case <-ctx.Done():
		return false, ctx.Err()
	}
	defer func() { <-c.window }()

	c.wmu.Lock()
	c.mu.Lock()
	if !c.usableLocked() {
		c.mu.Unlock()
		c.wmu.Unlock()
		return true, errRetired
	}
	reused = c.sent > 0
	c.sent++
	c.pending++
	if c.sent >= MaxFetchesPerStream {
		c.retireLocked()
	}
	c.mu.Unlock()
	prev, mine := c.tail, make(chan struct{})
	c.tail = mine
	_ = c.st.SetWriteDeadline(time.Now().Add(peerDeadline))
	werr := p2p.WriteMsg(c.st, encodeFetch(id))
	c.wmu.Unlock()

	defer c.done(mine)
	<-prev // bounded: the get before this one reads under its own deadline
	if werr != nil {
		c.fail()
		return reused, fmt.Errorf("storage: get from %s: %w", c.p, werr)
	}
	c.mu.Lock()
	broken := c.broken
	c.mu.Unlock()
	if broken {
		return reused, fmt.Errorf("storage: get from %s: session reset", c.p)
	}
	dl := time.Now().Add(peerDeadline)
	if d, ok := ctx.Deadline(); ok && d.Before(dl) {
		dl = d
	}
	_ = c.st.SetReadDeadline(dl)
	status, msg, err := readFetchReply(c.st, buf)
	if err != nil {
		c.fail()
		return reused, fmt.Errorf("storage: get from %s: %w", c.p, err)
	}
	if status != statusOK {
		if status == statusBusy {
			c.retire() // the server ends a session it refuses a get on
		}
		return false, fmt.Errorf("%w (peer %s)", response{Status: status, Msg: msg}.err(), c.p)
	}
	return reused, nil
}

func (c *fetchConn) fail() {
	c.mu.Lock()
	c.breakLocked()
	c.mu.Unlock()
}

// done ends a get: the next get may read, and a retired session with
// nothing pending is closed.
func (c *fetchConn) done(mine chan struct{}) {
	close(mine)
	c.mu.Lock()
	c.pending--
	c.lastRead = time.Now()
	if c.retired {
		c.retireLocked()
	}
	c.mu.Unlock()
}

// closeFetchConns ends the openings under way and retires every session
// (Close).
func (s *Service) closeFetchConns() {
	s.mu.Lock()
	s.endLife()
	s.life, s.endLife = context.WithCancel(context.Background()) // for a Serve after Close
	s.mu.Unlock()
	s.opening.Wait()
	s.mu.Lock()
	cs := make([]*fetchConn, 0, len(s.fetchConns))
	for _, c := range s.fetchConns {
		cs = append(cs, c)
	}
	clear(s.fetchConns)
	s.mu.Unlock()
	for _, c := range cs {
		c.retire()
	}
}

// getInto fetches share id from p into buf (of the share's size) and
// checks it against id: over a get session, or over ProtocolID when p
// speaks only that. How p did is noted for the order of later fetches.
func (s *Service) getInto(ctx context.Context, p peer.ID, id ShareID, buf []byte) error {
	start := time.Now()
	err := s.getVia(ctx, p, id, buf)
	if err == nil && HashShare(buf) != id {
		err = fmt.Errorf("%w: share %s from %s", ErrCorrupt, id, p)
	}
	s.noteHolder(p, time.Since(start), err)
	return err
}

func (s *Service) getVia(ctx context.Context, p peer.ID, id ShareID, buf []byte) error {
	if !s.isOld(p) {
		for range 2 {
			c, err := s.session(ctx, p)
			if errors.Is(err, errOldPeer) {
				break
			}
			if err != nil {
				return err
			}
			reused, err := c.get(ctx, id, buf)
			if err == nil || !reused || ctx.Err() != nil {
				return err
			}
			// The holder may have ended a session that had served gets
			// (idle, age): once more on a fresh one.
		}
		if !s.isOld(p) {
			return fmt.Errorf("storage: get from %s: session failed twice", p)
		}
	}
	data, err := s.getShare(ctx, p, id, len(buf))
	if err != nil {
		return err
	}
	copy(buf, data)
	return nil
}

// holderStat is how a holder did on this node's gets.
type holderStat struct {
	perShare time.Duration // moving average of a get's time, request to checked reply
	down     time.Time     // a get failed at this time
	old      time.Time     // found to speak only ProtocolID at this time
}

func (s *Service) stat(p peer.ID) *holderStat {
	h := s.holders[p]
	if h == nil {
		if len(s.holders) >= 4096 {
			clear(s.holders)
		}
		h = &holderStat{}
		s.holders[p] = h
	}
	return h
}

// noteHolder records a get from p that took d and ended with err.
func (s *Service) noteHolder(p peer.ID, d time.Duration, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.stat(p)
	switch {
	case err == nil:
		h.down = time.Time{}
		if h.perShare == 0 {
			h.perShare = d
		} else {
			h.perShare += (d - h.perShare) / 4
		}
	case errors.Is(err, context.Canceled), errors.Is(err, ErrNotFound), errors.Is(err, ErrRefused):
		// not the holder's failure, or one that says nothing of its speed
	default:
		h.down = time.Now()
	}
}

func (s *Service) noteOld(p peer.ID) {
	s.mu.Lock()
	s.stat(p).old = time.Now()
	s.mu.Unlock()
}

func (s *Service) isOld(p peer.ID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.holders[p]
	return h != nil && !h.old.IsZero() && time.Since(h.old) < holderOldFor
}

// holderRank orders holders for a fetch: the lower, the sooner asked.
// Holders that failed lately come last; the others by their time per
// share, those not yet measured first (so every holder gets measured).
func (s *Service) holderRank(p peer.ID) (down bool, perShare time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.holders[p]
	if h == nil {
		return false, 0
	}
	return !h.down.IsZero() && time.Since(h.down) < holderDownFor, h.perShare
}
