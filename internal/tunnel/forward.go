package tunnel

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/peerpath/peerpath/internal/p2p"
)

// maxLocalConns bounds the connections one forward carries at once; the
// owner bounds them too, per peer.
const maxLocalConns = 1024

// Forward is one local listener forwarding to a peer's service, as
// [Service.Forwards] reports it.
type Forward struct {
	Peer        peer.ID
	Service     string
	Listen      string
	PricePerGiB int64
	Opened      time.Time
	Conns       int
	// BytesIn came from the service; BytesOut went to it.
	BytesIn, BytesOut int64
	// LastError is why the last connection the owner refused or that could
	// not be opened failed ("" if none did).
	LastError string
}

type forward struct {
	peer    peer.ID
	service string
	ln      net.Listener
	price   int64
	opened  time.Time
	u       usage

	mu      sync.Mutex
	closed  bool
	lastErr string
	pipes   map[*pipe]struct{}
}

// close stops listening and kills the forward's connections.
func (f *forward) close() {
	_ = f.ln.Close()
	f.mu.Lock()
	f.closed = true
	for c := range f.pipes {
		c.kill()
	}
	f.mu.Unlock()
}

func (f *forward) report() Forward {
	f.mu.Lock()
	defer f.mu.Unlock()
	return Forward{Peer: f.peer, Service: f.service, Listen: f.ln.Addr().String(), PricePerGiB: f.price,
		Opened: f.opened, Conns: int(f.u.conns.Load()), BytesIn: f.u.in.Load(), BytesOut: f.u.out.Load(), LastError: f.lastErr}
}

// request opens a stream to p, sends req and reads the answer. For "list"
// the stream is closed; for "open" it is returned, ready for the
// connection's bytes.
func (s *Service) request(ctx context.Context, p peer.ID, req Request) (network.Stream, Response, error) {
	ctx, cancel := context.WithTimeout(ctx, openTimeout)
	defer cancel()
	st, err := s.cfg.Host.NewStream(ctx, p, Protocol)
	if err != nil {
		return nil, Response{}, s.unreachable(p, err)
	}
	_ = st.SetDeadline(time.Now().Add(openTimeout))
	b, _ := json.Marshal(req)
	if err := p2p.WriteMsg(st, b); err != nil {
		_ = st.Reset()
		return nil, Response{}, fmt.Errorf("%w: %s: %v", ErrUnreachable, p, err)
	}
	if req.Op == OpList {
		_ = st.CloseWrite()
	}
	b, err = p2p.ReadMsg(st, MaxResponse)
	if err != nil {
		_ = st.Reset()
		return nil, Response{}, fmt.Errorf("%w: %s did not answer: %v", ErrUnreachable, p, err)
	}
	resp, err := DecodeResponse(b)
	if err != nil {
		_ = st.Reset()
		return nil, Response{}, err
	}
	if resp.Error != "" {
		_ = st.Close()
		kind := ErrRefused
		if resp.Busy {
			kind = ErrBusy
		}
		return nil, resp, fmt.Errorf("%w by %s: %s", kind, p, resp.Error)
	}
	if req.Op == OpList {
		_ = st.Close()
		return nil, resp, nil
	}
	_ = st.SetDeadline(time.Time{})
	return st, resp, nil
}

// unreachable explains a failed stream to p: a peer reached only through a
// relay's limited connection is said to be so (a relay carries a few
// minutes and bytes at most; a tunnel needs a direct connection, which hole
// punching may still bring).
func (s *Service) unreachable(p peer.ID, err error) error {
	conns := s.cfg.Host.Network().ConnsToPeer(p)
	limited := len(conns) > 0
	for _, c := range conns {
		if !c.Stat().Limited {
			limited = false
		}
	}
	if limited {
		return fmt.Errorf("%w: %s is reachable only through a relay with limits; a tunnel needs a direct connection (none could be made): %v", ErrUnreachable, p, err)
	}
	return fmt.Errorf("%w: %s: %v", ErrUnreachable, p, err)
}

// Offers asks who (a peer id, or a name Config.Resolve knows) which of its
// services it offers to this node.
func (s *Service) Offers(ctx context.Context, who string) (peer.ID, []Offer, error) {
	p, err := s.resolve(ctx, who)
	if err != nil {
		return "", nil, err
	}
	if p == s.cfg.Host.ID() {
		return p, nil, fmt.Errorf("%w: %s is this node itself (see service list)", ErrInvalid, p)
	}
	_, resp, err := s.request(ctx, p, Request{Op: OpList})
	if err != nil {
		return p, nil, err
	}
	if resp.Offers == nil {
		resp.Offers = []Offer{}
	}
	return p, resp.Offers, nil
}

// Connect listens on listen (a loopback address; "" or port 0 picks a free
// port) and forwards each TCP connection accepted there to the service name
// of peer who, over a stream of its own. It asks the peer first, so a
// service not offered to this node is refused here ([ErrRefused]).
func (s *Service) Connect(ctx context.Context, who, name, listen string) (Forward, error) {
	if err := CheckName(name); err != nil {
		return Forward{}, err
	}
	listen, err := CheckListen(listen)
	if err != nil {
		return Forward{}, err
	}
	p, err := s.resolve(ctx, who)
	if err != nil {
		return Forward{}, err
	}
	if p == s.cfg.Host.ID() {
		return Forward{}, fmt.Errorf("%w: %s is this node itself", ErrInvalid, p)
	}
	_, resp, err := s.request(ctx, p, Request{Op: OpList, Service: name})
	if err != nil {
		return Forward{}, err
	}
	offers := resp.Offers
	var offer *Offer
	for i := range offers {
		if offers[i].Name == name {
			offer = &offers[i]
		}
	}
	if offer == nil {
		return Forward{}, fmt.Errorf("%w: %s offers no service %q to this node (it offers %d)", ErrRefused, p, name, len(offers))
	}
	if offer.PricePerGiB > s.cfg.PaysPerGiB {
		return Forward{}, fmt.Errorf("%w: service %q costs %d micro-credits per GiB, this node's receipts pay %d (start the daemon with a higher --price-per-gib to use it)",
			ErrPrice, name, offer.PricePerGiB, s.cfg.PaysPerGiB)
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return Forward{}, fmt.Errorf("%w: listen on %s: %v", ErrInvalid, listen, err)
	}
	f := &forward{peer: p, service: name, ln: ln, price: offer.PricePerGiB, opened: time.Now().UTC().Truncate(time.Second), pipes: map[*pipe]struct{}{}}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return Forward{}, ErrClosed
	}
	s.forwards[ln.Addr().String()] = f
	s.mu.Unlock()
	if !s.goTracked(func() { s.accept(f) }) {
		ln.Close()
		return Forward{}, ErrClosed
	}
	s.log.Info("tunnel: forwarding", "listen", ln.Addr().String(), "peer", p, "service", name)
	return f.report(), nil
}

func (s *Service) accept(f *forward) {
	defer func() {
		s.mu.Lock()
		if s.forwards[f.ln.Addr().String()] == f {
			delete(s.forwards, f.ln.Addr().String())
		}
		s.mu.Unlock()
		f.close()
	}()
	for {
		c, err := f.ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return
		}
		tcp := c.(*net.TCPConn)
		if f.u.conns.Load() >= maxLocalConns {
			tcp.Close()
			continue
		}
		if !s.goTracked(func() { s.forwardConn(f, tcp) }) {
			tcp.Close()
			return
		}
	}
}

func (f *forward) fail(err error) {
	f.mu.Lock()
	f.lastErr = err.Error()
	f.mu.Unlock()
}

// forwardConn carries one local connection to the forward's service.
func (s *Service) forwardConn(f *forward, tcp *net.TCPConn) {
	f.u.conns.Add(1)
	defer f.u.conns.Add(-1)
	st, resp, err := s.request(s.ctx, f.peer, Request{Op: OpOpen, Service: f.service})
	if err == nil && resp.PricePerGiB > s.cfg.PaysPerGiB {
		_ = st.Reset()
		err = fmt.Errorf("%w: service %q now costs %d micro-credits per GiB", ErrPrice, f.service, resp.PricePerGiB)
	}
	if err != nil {
		tcp.Close()
		if s.ctx.Err() == nil {
			f.fail(err)
			s.log.Info("tunnel: connection not forwarded", "peer", f.peer, "service", f.service, "err", err)
		}
		return
	}
	pp := &pipe{service: f.service, peer: f.peer, st: st, tcp: tcp}
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		pp.kill()
		return
	}
	f.pipes[pp] = struct{}{}
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		delete(f.pipes, pp)
		f.mu.Unlock()
	}()
	var m Meter
	if resp.PricePerGiB > 0 {
		m = s.cfg.Meter
	}
	pp.run(0, func(n int) { // from the service
		f.u.in.Add(int64(n))
		if m != nil {
			m.Received(f.peer, n)
		}
	}, func(n int) { // to the service
		f.u.out.Add(int64(n))
		if m != nil {
			m.Received(f.peer, n)
		}
	})
}

// Forwards returns the open forwards, by listen address.
func (s *Service) Forwards() []Forward {
	s.mu.Lock()
	fs := make([]*forward, 0, len(s.forwards))
	for _, f := range s.forwards {
		fs = append(fs, f)
	}
	s.mu.Unlock()
	out := make([]Forward, 0, len(fs))
	for _, f := range fs {
		out = append(out, f.report())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Listen < out[j].Listen })
	return out
}

// Disconnect closes the forwards that target names: a listen address
// ("127.0.0.1:PORT") or "PEER/NAME" (every forward to that service). It
// returns the forwards closed.
func (s *Service) Disconnect(ctx context.Context, target string) ([]Forward, error) {
	target = strings.TrimSpace(target)
	match := func(f *forward) bool { return f.ln.Addr().String() == target }
	if who, name, ok := strings.Cut(target, "/"); ok {
		p, err := s.resolve(ctx, who)
		if err != nil {
			return nil, err
		}
		match = func(f *forward) bool { return f.peer == p && f.service == name }
	}
	s.mu.Lock()
	var cut []*forward
	for k, f := range s.forwards {
		if match(f) {
			cut = append(cut, f)
			delete(s.forwards, k)
		}
	}
	s.mu.Unlock()
	if len(cut) == 0 {
		return nil, fmt.Errorf("%w: no forward %q (see service connections)", ErrNotFound, target)
	}
	out := make([]Forward, 0, len(cut))
	for _, f := range cut {
		out = append(out, f.report())
		f.close()
	}
	return out, nil
}
