package p2p

import (
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/time/rate"

	"github.com/peerpath/peerpath/internal/peerlimit"
)

// AdmitConfig configures an [Admission]. Every field but Slots is required.
type AdmitConfig struct {
	// Rate and Burst bound the streams each peer may open per second.
	Rate  rate.Limit
	Burst int
	// Concurrent bounds the streams served at once over all peers.
	Concurrent int
	// Slots, if set, also bounds what each peer (connection, address)
	// holds at once; nil leaves only Concurrent.
	Slots *peerlimit.SlotLimits
	// Deadline bounds a whole stream, from its admission on.
	Deadline time.Duration
	// MaxRequest is the first request's limit, checked before it is read.
	MaxRequest int
	// Busy is the message written (framed by [WriteMsg]) to a stream that
	// finds no free slot: the protocol's own "busy, try later".
	Busy []byte
}

// Admission is how a request-response protocol's handler lets in a stream
// another peer opened, in one place for every such protocol: a deadline
// on the whole stream and a shorter one ([FirstRequestTimeout]) for its
// first request, a rate per peer (a stream over it is reset unanswered),
// a bound on the streams served at once (one over it is answered Busy and
// closed, never left waiting), and a first request read against a limit
// this side chose. It is safe for concurrent use.
type Admission struct {
	cfg   AdmitConfig
	limit *peerlimit.Limiter
	sem   chan struct{}
	slots *peerlimit.Slots
}

// NewAdmission returns an Admission with cfg.
func NewAdmission(cfg AdmitConfig) *Admission {
	a := &Admission{
		cfg:   cfg,
		limit: peerlimit.New(cfg.Rate, cfg.Burst),
		sem:   make(chan struct{}, max(cfg.Concurrent, 1)),
	}
	if cfg.Slots != nil {
		a.slots = peerlimit.NewSlots(*cfg.Slots)
	}
	return a
}

// Admit lets st in: it sets the stream's deadlines, checks the remote
// peer's rate and takes a slot, then reads the first request. On success
// it returns the request and the slot's release (call it once, when the
// stream is done) and the stream's read deadline is the whole stream's
// again. Otherwise the stream was reset (over the rate, no request in
// time, a request over MaxRequest) or answered Busy, and ok is false; the
// caller only closes it.
func (a *Admission) Admit(st network.Stream) (req []byte, release func(), ok bool) {
	start := time.Now()
	_ = st.SetDeadline(start.Add(a.cfg.Deadline))
	_ = st.SetReadDeadline(start.Add(FirstRequestTimeout))
	if !a.limit.Allow(st.Conn().RemotePeer()) {
		_ = st.Reset()
		return nil, nil, false
	}
	if release, ok = a.take(st.Conn()); !ok {
		_ = WriteMsg(st, a.cfg.Busy)
		return nil, nil, false
	}
	req, err := ReadMsg(st, a.cfg.MaxRequest)
	if err != nil {
		release()
		_ = st.Reset()
		return nil, nil, false
	}
	_ = st.SetReadDeadline(start.Add(a.cfg.Deadline))
	return req, release, true
}

// take takes a slot of the semaphore (and of Slots, if any) without
// waiting.
func (a *Admission) take(c network.Conn) (func(), bool) {
	select {
	case a.sem <- struct{}{}:
	default:
		return nil, false
	}
	if a.slots == nil {
		return sync.OnceFunc(func() { <-a.sem }), true
	}
	rel, err := a.slots.Acquire(c)
	if err != nil {
		<-a.sem
		return nil, false
	}
	return sync.OnceFunc(func() { rel(); <-a.sem }), true
}

// Allow reports whether p may make one more request now, counted against
// the same rate as the streams it opens: a handler that serves several
// requests on one stream asks before each after the first.
func (a *Admission) Allow(p peer.ID) bool { return a.limit.Allow(p) }

// Held returns the streams admitted and not yet released.
func (a *Admission) Held() int { return len(a.sem) }
