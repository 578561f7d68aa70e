package tunnel

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/peerpath/peerpath/internal/p2p"
	"github.com/peerpath/peerpath/internal/peerlimit"
	"github.com/peerpath/peerpath/internal/store"
)

// Errors returned by the Service's methods (wrapped, with details).
var (
	// ErrNotFound: no exposed service or forward by that name.
	ErrNotFound = errors.New("tunnel: not found")
	// ErrExists: a service of that name is already exposed, or a forward
	// to that peer's service already listens.
	ErrExists = errors.New("tunnel: already exists")
	// ErrRefused: the peer does not offer that service to this node (or
	// the peer refused the connection).
	ErrRefused = errors.New("tunnel: refused")
	// ErrBusy: the peer (or this node) is at its connection limit.
	ErrBusy = errors.New("tunnel: busy")
	// ErrPrice: the service costs more per GiB than this node's receipts
	// pay.
	ErrPrice = errors.New("tunnel: price above this node's traffic price")
	// ErrUnreachable: the peer could not be reached over a usable
	// connection.
	ErrUnreachable = errors.New("tunnel: peer unreachable")
	// ErrClosed: the service has stopped.
	ErrClosed = errors.New("tunnel: closed")
)

// Meter is the node's traffic meter (meter.Meter implements it): a priced
// service's bytes are recorded there so that traffic receipts pay for them.
type Meter interface {
	// Sent records n bytes this node gave to p.
	Sent(p peer.ID, n int)
	// Received records n bytes this node took from p.
	Received(p peer.ID, n int)
}

// Default limits.
const (
	// DefaultPerPeer bounds the connections one peer holds to this node's
	// services at once.
	DefaultPerPeer = 256
	// DefaultTotal bounds the connections all peers hold at once.
	DefaultTotal = 1024
	// DialTimeout bounds the dial of an exposed service's address.
	DialTimeout = 10 * time.Second
	// openTimeout bounds opening a stream and reading the owner's answer.
	openTimeout = 15 * time.Second
	// flushEvery is how often changed byte counts are saved.
	flushEvery = 30 * time.Second
	// smallBuf is the copy buffer one direction of a connection starts
	// with; bigBuf the one it moves to once a read fills the small one (a
	// bulk copy: 256 KiB writes cost the libp2p stream far fewer frames and
	// TLS records per byte than 32 KiB ones, measured 0.44-0.45x plain TCP
	// against 0.37-0.41x). At most maxBig big buffers are held at once
	// (64 MiB), so many connections cannot make the node hold 1024 x 2
	// big buffers; a direction that finds none keeps its small one.
	smallBuf = 32 << 10
	bigBuf   = 256 << 10
	maxBig   = 256
)

// Config configures a Service. Host and Path are required.
type Config struct {
	// Host carries Protocol.
	Host host.Host
	// Path is the JSON file that holds the exposures (written atomically).
	Path string
	// Meter receives the bytes of priced services. Nil: not metered.
	Meter Meter
	// PaysPerGiB is what this node's traffic receipts pay, in
	// micro-credits per GiB: the most it connects to a priced service for.
	PaysPerGiB int64
	// Resolve turns what a user typed for a peer (a peer id, or a
	// contact's name) into a peer id. Nil: peer ids only.
	Resolve func(ctx context.Context, who string) (peer.ID, error)
	// Forbidden lists addresses that may never be exposed (the daemon's
	// own API), as host:port.
	Forbidden []string
	// PerPeer and Total bound open connections (see DefaultPerPeer,
	// DefaultTotal). Zero: the default.
	PerPeer, Total int
	// Logger receives logs; nil discards them.
	Logger *slog.Logger
}

// Service exposes this node's local TCP services to allowed peers and
// forwards local ports to services other peers expose. Create it with
// [New] and run [Service.Serve].
type Service struct {
	cfg    Config
	log    *slog.Logger
	slots  *peerlimit.Slots
	ctx    context.Context // ends when the service closes
	cancel context.CancelFunc
	wg     sync.WaitGroup
	saveMu sync.Mutex // serialises saves, so the last one written is the newest

	mu       sync.Mutex
	closed   bool
	exposed  map[string]*exposure
	pipes    map[*pipe]struct{} // connections into our services
	forwards map[string]*forward
	dirty    atomic.Bool // byte counts changed since the last save
}

type exposure struct {
	name    string
	addr    string
	allow   []peer.ID
	price   int64
	idle    time.Duration // close a connection idle this long (0: never)
	created time.Time
	usage   map[peer.ID]*usage
}

func (e *exposure) allows(p peer.ID) bool { return slices.Contains(e.allow, p) }

// usage counts one peer's bytes through one service (or one forward).
type usage struct {
	in, out atomic.Int64 // in: from the peer's side; out: to it
	conns   atomic.Int64
}

func (e *exposure) usageOf(p peer.ID) *usage {
	u := e.usage[p]
	if u == nil {
		u = &usage{}
		e.usage[p] = u
	}
	return u
}

// New loads the exposures saved at cfg.Path (if any).
func New(cfg Config) (*Service, error) {
	if cfg.Host == nil || cfg.Path == "" {
		return nil, errors.New("tunnel: Config needs Host and Path")
	}
	if cfg.PerPeer <= 0 {
		cfg.PerPeer = DefaultPerPeer
	}
	if cfg.Total <= 0 {
		cfg.Total = DefaultTotal
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Service{
		cfg: cfg, log: log, ctx: ctx, cancel: cancel,
		slots:    peerlimit.NewSlots(peerlimit.SlotLimits{PerPeer: cfg.PerPeer, PerConn: cfg.PerPeer, Total: cfg.Total}),
		exposed:  map[string]*exposure{},
		pipes:    map[*pipe]struct{}{},
		forwards: map[string]*forward{},
	}
	if err := s.load(); err != nil {
		cancel()
		return nil, err
	}
	return s, nil
}

// --- persistence ---

type savedFile struct {
	Version  int            `json:"version"`
	Services []savedService `json:"services"`
}

type savedService struct {
	Name        string                `json:"name"`
	Addr        string                `json:"addr"`
	Allow       []string              `json:"allow"`
	PricePerGiB int64                 `json:"price_per_gib,omitempty"`
	IdleTimeout time.Duration         `json:"idle_timeout,omitempty"`
	Created     time.Time             `json:"created"`
	Usage       map[string]savedUsage `json:"usage,omitempty"`
}

type savedUsage struct {
	In  int64 `json:"in"`
	Out int64 `json:"out"`
}

func (s *Service) load() error {
	b, err := os.ReadFile(s.cfg.Path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("tunnel: %w", err)
	}
	var f savedFile
	if err := json.Unmarshal(b, &f); err != nil {
		return fmt.Errorf("tunnel: %s is not a services file (%v); fix or move it away", s.cfg.Path, err)
	}
	for _, sv := range f.Services {
		addr, err := CheckAddr(sv.Addr)
		if err == nil {
			err = CheckName(sv.Name)
		}
		if err != nil {
			s.log.Warn("tunnel: saved service skipped", "name", sv.Name, "err", err)
			continue
		}
		e := &exposure{name: sv.Name, addr: addr, price: max(sv.PricePerGiB, 0), idle: max(sv.IdleTimeout, 0), created: sv.Created, usage: map[peer.ID]*usage{}}
		for _, a := range sv.Allow {
			p, err := peer.Decode(a)
			if err != nil {
				s.log.Warn("tunnel: saved allowed peer skipped", "service", sv.Name, "peer", a, "err", err)
				continue
			}
			if !e.allows(p) && len(e.allow) < MaxAllow {
				e.allow = append(e.allow, p)
			}
		}
		for ps, u := range sv.Usage {
			if p, err := peer.Decode(ps); err == nil {
				x := e.usageOf(p)
				x.in.Store(u.In)
				x.out.Store(u.Out)
			}
		}
		if len(s.exposed) < MaxServices {
			s.exposed[e.name] = e
		}
	}
	return nil
}

// save writes the exposures and their byte counts.
func (s *Service) save() error {
	s.saveMu.Lock()
	defer s.saveMu.Unlock()
	s.mu.Lock()
	f := savedFile{Version: 1, Services: []savedService{}}
	for _, e := range s.exposed {
		sv := savedService{Name: e.name, Addr: e.addr, Allow: []string{}, PricePerGiB: e.price, IdleTimeout: e.idle, Created: e.created,
			Usage: map[string]savedUsage{}}
		for _, p := range e.allow {
			sv.Allow = append(sv.Allow, p.String())
		}
		for p, u := range e.usage {
			sv.Usage[p.String()] = savedUsage{In: u.in.Load(), Out: u.out.Load()}
		}
		f.Services = append(f.Services, sv)
	}
	s.dirty.Store(false)
	s.mu.Unlock()
	sort.Slice(f.Services, func(i, j int) bool { return f.Services[i].Name < f.Services[j].Name })
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return fmt.Errorf("tunnel: %w", err)
	}
	if err := store.WriteFileAtomic(s.cfg.Path, append(b, '\n'), 0o600); err != nil {
		s.dirty.Store(true)
		return fmt.Errorf("tunnel: save %s: %w", s.cfg.Path, err)
	}
	return nil
}

// --- the owner's side ---

// Exposure is one exposed service as [Service.List] reports it.
type Exposure struct {
	Name        string
	Addr        string
	Allow       []peer.ID
	PricePerGiB int64
	// IdleTimeout closes a connection that moved no byte for this long
	// (0: never, the default).
	IdleTimeout time.Duration
	Created     time.Time
	// Peers holds, for every peer that used the service (allowed or not
	// any more), its open connections and bytes.
	Peers []PeerStats
}

// PeerStats is one peer's use of one service or forward.
type PeerStats struct {
	Peer  peer.ID
	Conns int
	// BytesIn went from the peer's side to the service; BytesOut came
	// back.
	BytesIn, BytesOut int64
}

func (s *Service) resolve(ctx context.Context, who string) (peer.ID, error) {
	who = strings.TrimSpace(who)
	// The single point where a typed peer becomes a peer id: the node's
	// contacts resolve names (Config.Resolve).
	if s.cfg.Resolve != nil {
		p, err := s.cfg.Resolve(ctx, who)
		if err != nil {
			return "", fmt.Errorf("%w: %q is neither a peer id nor a contact's name (see peerpath contacts)", ErrInvalid, who)
		}
		return p, nil
	}
	p, err := peer.Decode(who)
	if err != nil {
		return "", fmt.Errorf("%w: peer %q: not a peer id", ErrInvalid, who)
	}
	return p, nil
}

// Expose offers the TCP service at addr under name to the peers in allow
// (peer ids or names Config.Resolve knows), at pricePerGiB micro-credits
// per GiB (0: free). The exposure is saved before Expose returns.
func (s *Service) Expose(ctx context.Context, name, addr string, allow []string, pricePerGiB int64) (Exposure, error) {
	if err := CheckName(name); err != nil {
		return Exposure{}, err
	}
	addr, err := CheckAddr(addr)
	if err != nil {
		return Exposure{}, err
	}
	if s.forbidden(addr) {
		return Exposure{}, fmt.Errorf("%w: %s is this daemon's own API; it is never exposed", ErrInvalid, addr)
	}
	if pricePerGiB < 0 {
		return Exposure{}, fmt.Errorf("%w: negative price", ErrInvalid)
	}
	if len(allow) > MaxAllow {
		return Exposure{}, fmt.Errorf("%w: at most %d allowed peers", ErrInvalid, MaxAllow)
	}
	e := &exposure{name: name, addr: addr, price: pricePerGiB, created: time.Now().UTC().Truncate(time.Second), usage: map[peer.ID]*usage{}}
	for _, a := range allow {
		p, err := s.resolve(ctx, a)
		if err != nil {
			return Exposure{}, err
		}
		if p == s.cfg.Host.ID() {
			return Exposure{}, fmt.Errorf("%w: %s is this node itself", ErrInvalid, p)
		}
		if !e.allows(p) {
			e.allow = append(e.allow, p)
		}
	}
	s.mu.Lock()
	switch {
	case s.closed:
		s.mu.Unlock()
		return Exposure{}, ErrClosed
	case s.exposed[name] != nil:
		s.mu.Unlock()
		return Exposure{}, fmt.Errorf("%w: service %q is already exposed (remove it first, or change who may use it with allow and deny)", ErrExists, name)
	case len(s.exposed) >= MaxServices:
		s.mu.Unlock()
		return Exposure{}, fmt.Errorf("%w: at most %d services", ErrInvalid, MaxServices)
	}
	s.exposed[name] = e
	out := s.snapshot(e)
	s.mu.Unlock()
	if err := s.save(); err != nil {
		s.mu.Lock()
		delete(s.exposed, name)
		s.mu.Unlock()
		return Exposure{}, err
	}
	s.log.Info("tunnel: service exposed", "service", name, "addr", addr, "allow", len(e.allow))
	return out, nil
}

func (s *Service) forbidden(addr string) bool {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return false
	}
	for _, f := range s.cfg.Forbidden {
		fp, err := netip.ParseAddrPort(f)
		if err != nil || fp.Port() != ap.Port() {
			continue
		}
		fa, a := fp.Addr().Unmap(), ap.Addr().Unmap()
		if fa == a || fa.IsUnspecified() || fa.IsLoopback() && a.IsLoopback() {
			return true
		}
	}
	return false
}

// snapshot reports e; s.mu must be held.
func (s *Service) snapshot(e *exposure) Exposure {
	x := Exposure{Name: e.name, Addr: e.addr, Allow: slices.Clone(e.allow), PricePerGiB: e.price, IdleTimeout: e.idle, Created: e.created, Peers: []PeerStats{}}
	for p, u := range e.usage {
		x.Peers = append(x.Peers, PeerStats{Peer: p, Conns: int(u.conns.Load()), BytesIn: u.in.Load(), BytesOut: u.out.Load()})
	}
	sort.Slice(x.Peers, func(i, j int) bool { return x.Peers[i].Peer < x.Peers[j].Peer })
	return x
}

// List returns the exposed services, by name.
func (s *Service) List() []Exposure {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Exposure, 0, len(s.exposed))
	for _, e := range s.exposed {
		out = append(out, s.snapshot(e))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Remove stops exposing name and closes its open connections at once.
func (s *Service) Remove(_ context.Context, name string) error {
	s.mu.Lock()
	if s.exposed[name] == nil {
		s.mu.Unlock()
		return fmt.Errorf("%w: no exposed service %q", ErrNotFound, name)
	}
	delete(s.exposed, name)
	cut := s.cutLocked(name, "")
	s.mu.Unlock()
	s.log.Info("tunnel: service removed", "service", name, "closed", cut)
	return s.save()
}

// SetIdleTimeout makes the service name close a connection that moved no
// byte for d (0: never, the default). It applies to connections opened
// after the call.
func (s *Service) SetIdleTimeout(_ context.Context, name string, d time.Duration) (Exposure, error) {
	if d < 0 {
		return Exposure{}, fmt.Errorf("%w: negative idle timeout", ErrInvalid)
	}
	s.mu.Lock()
	e := s.exposed[name]
	if e == nil {
		s.mu.Unlock()
		return Exposure{}, fmt.Errorf("%w: no exposed service %q", ErrNotFound, name)
	}
	e.idle = d
	out := s.snapshot(e)
	s.mu.Unlock()
	return out, s.save()
}

// Allow lets who use the service name.
func (s *Service) Allow(ctx context.Context, name, who string) (Exposure, error) {
	p, err := s.resolve(ctx, who)
	if err != nil {
		return Exposure{}, err
	}
	if p == s.cfg.Host.ID() {
		return Exposure{}, fmt.Errorf("%w: %s is this node itself", ErrInvalid, p)
	}
	s.mu.Lock()
	e := s.exposed[name]
	switch {
	case e == nil:
		s.mu.Unlock()
		return Exposure{}, fmt.Errorf("%w: no exposed service %q", ErrNotFound, name)
	case !e.allows(p) && len(e.allow) >= MaxAllow:
		s.mu.Unlock()
		return Exposure{}, fmt.Errorf("%w: at most %d allowed peers", ErrInvalid, MaxAllow)
	case !e.allows(p):
		e.allow = append(e.allow, p)
	}
	out := s.snapshot(e)
	s.mu.Unlock()
	return out, s.save()
}

// Deny stops who from using the service name and closes its open
// connections to it at once. It reports how many it closed.
func (s *Service) Deny(ctx context.Context, name, who string) (Exposure, int, error) {
	p, err := s.resolve(ctx, who)
	if err != nil {
		return Exposure{}, 0, err
	}
	s.mu.Lock()
	e := s.exposed[name]
	if e == nil {
		s.mu.Unlock()
		return Exposure{}, 0, fmt.Errorf("%w: no exposed service %q", ErrNotFound, name)
	}
	e.allow = slices.DeleteFunc(e.allow, func(q peer.ID) bool { return q == p })
	cut := s.cutLocked(name, p)
	out := s.snapshot(e)
	s.mu.Unlock()
	s.log.Info("tunnel: peer denied", "service", name, "peer", p, "closed", cut)
	return out, cut, s.save()
}

// cutLocked kills the open connections into service name (of peer p, or
// of everyone when p is empty); s.mu must be held.
func (s *Service) cutLocked(name string, p peer.ID) int {
	n := 0
	for c := range s.pipes {
		if c.service == name && (p == "" || c.peer == p) {
			c.kill()
			delete(s.pipes, c)
			n++
		}
	}
	return n
}

// Serve handles Protocol until ctx ends, saving changed byte counts every
// 30 s; then it closes every connection and forward, saves once more and
// returns nil.
func (s *Service) Serve(ctx context.Context) error {
	h := s.cfg.Host
	h.SetStreamHandler(Protocol, s.handle)
	defer func() {
		h.RemoveStreamHandler(Protocol)
		s.Close()
	}()
	t := time.NewTicker(flushEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.ctx.Done():
			return nil
		case <-t.C:
			if s.dirty.Load() {
				if err := s.save(); err != nil {
					s.log.Warn("tunnel: save", "err", err)
				}
			}
		}
	}
}

// Close closes every connection and forward, waits for them and saves the
// byte counts. Later calls do nothing.
func (s *Service) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	s.cancel()
	for c := range s.pipes {
		c.kill()
	}
	for _, f := range s.forwards {
		f.close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	if err := s.save(); err != nil {
		s.log.Warn("tunnel: final save", "err", err)
	}
}

// goTracked runs fn in a goroutine the service waits for on Close; it
// reports false (and runs nothing) once the service is closed.
func (s *Service) goTracked(fn func()) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		fn()
	}()
	return true
}

func (s *Service) handle(st network.Stream) {
	if !s.goTracked(func() { s.serveStream(st) }) {
		_ = st.Reset()
	}
}

func reply(st network.Stream, r Response) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return p2p.WriteMsg(st, b)
}

func (s *Service) serveStream(st network.Stream) {
	from := st.Conn().RemotePeer()
	_ = st.SetDeadline(time.Now().Add(p2p.FirstRequestTimeout))
	b, err := p2p.ReadMsg(st, MaxRequest)
	if err != nil {
		_ = st.Reset()
		return
	}
	req, err := DecodeRequest(b)
	if err != nil {
		_ = reply(st, Response{Error: err.Error()})
		_ = st.Close()
		return
	}
	if req.Op == OpList {
		offers := s.offersTo(from)
		if req.Service != "" && !slices.ContainsFunc(offers, func(o Offer) bool { return o.Name == req.Service }) {
			s.log.Warn("tunnel: refused a peer not allowed", "peer", from, "service", req.Service, "addr", st.Conn().RemoteMultiaddr())
		}
		_ = reply(st, Response{Offers: offers})
		_ = st.Close()
		return
	}

	// open: the authenticated remote peer decides, before anything is
	// dialled.
	s.mu.Lock()
	e := s.exposed[req.Service]
	allowed := e != nil && e.allows(from)
	var addr string
	var price int64
	var idle time.Duration
	if allowed {
		addr, price, idle = e.addr, e.price, e.idle
	}
	s.mu.Unlock()
	if !allowed {
		s.log.Warn("tunnel: refused a peer not allowed", "peer", from, "service", req.Service, "addr", st.Conn().RemoteMultiaddr())
		_ = reply(st, Response{Error: fmt.Sprintf("service %q is not offered to you (%s); ask its owner to allow you", req.Service, from)})
		_ = st.Close()
		return
	}
	release, err := s.slots.Acquire(st.Conn())
	if err != nil {
		s.log.Debug("tunnel: busy", "peer", from, "service", req.Service, "err", err)
		_ = reply(st, Response{Error: "too many connections, try again later: " + err.Error(), Busy: true})
		_ = st.Close()
		return
	}
	defer release()
	dctx, cancel := context.WithTimeout(s.ctx, DialTimeout)
	var d net.Dialer
	c, err := d.DialContext(dctx, "tcp", addr)
	cancel()
	if err != nil {
		s.log.Info("tunnel: service unreachable", "service", req.Service, "addr", addr, "err", err)
		_ = reply(st, Response{Error: fmt.Sprintf("service %q is not running on its owner's machine now", req.Service)})
		_ = st.Close()
		return
	}
	tcp := c.(*net.TCPConn)
	pp := &pipe{service: req.Service, peer: from, st: st, tcp: tcp}
	// Register, checking the allowlist again: a Deny between the check
	// above and here must not miss this connection.
	s.mu.Lock()
	e = s.exposed[req.Service]
	if s.closed || e == nil || !e.allows(from) {
		s.mu.Unlock()
		tcp.Close()
		_ = reply(st, Response{Error: fmt.Sprintf("service %q is not offered to you (%s)", req.Service, from)})
		_ = st.Close()
		return
	}
	u := e.usageOf(from)
	s.pipes[pp] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.pipes, pp)
		s.mu.Unlock()
	}()
	if err := reply(st, Response{PricePerGiB: price}); err != nil {
		pp.kill()
		return
	}
	_ = st.SetDeadline(time.Time{})
	u.conns.Add(1)
	defer u.conns.Add(-1)
	s.log.Debug("tunnel: connection opened", "service", req.Service, "peer", from)
	var m Meter
	if price > 0 {
		m = s.cfg.Meter
	}
	pp.run(idle, func(n int) { // from the peer to the service
		u.in.Add(int64(n))
		s.markDirty()
		if m != nil {
			m.Sent(from, n)
		}
	}, func(n int) { // from the service to the peer
		u.out.Add(int64(n))
		s.markDirty()
		if m != nil {
			m.Sent(from, n)
		}
	})
}

func (s *Service) markDirty() {
	if !s.dirty.Load() {
		s.dirty.Store(true)
	}
}

// offersTo lists the services p may use.
func (s *Service) offersTo(p peer.ID) []Offer {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []Offer{}
	for _, e := range s.exposed {
		if e.allows(p) {
			out = append(out, Offer{Name: e.name, PricePerGiB: e.price})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// --- one connection ---

// pipe is one TCP connection carried by one stream.
type pipe struct {
	service string
	peer    peer.ID
	st      network.Stream
	tcp     *net.TCPConn
	killed  atomic.Bool
	last    atomic.Int64 // Unix ns of the last byte moved, when idle > 0
}

// kill ends the connection at once, both ways.
func (c *pipe) kill() {
	c.killed.Store(true)
	_ = c.st.Reset()
	_ = c.tcp.Close()
}

var (
	smallPool = sync.Pool{New: func() any { b := make([]byte, smallBuf); return &b }}
	bigPool   = sync.Pool{New: func() any { b := make([]byte, bigBuf); return &b }}
	bigSlots  = make(chan struct{}, maxBig)
)

// copyGrowing copies src to dst until src ends (nil at io.EOF, as io.Copy),
// through a small pooled buffer that becomes a big one, while big ones are
// left, as soon as a read fills it.
func copyGrowing(dst io.Writer, src io.Reader) error {
	bp, big := smallPool.Get().(*[]byte), false
	defer func() {
		if big {
			bigPool.Put(bp)
			<-bigSlots
		} else {
			smallPool.Put(bp)
		}
	}()
	for {
		n, rerr := src.Read(*bp)
		if n > 0 {
			w, werr := dst.Write((*bp)[:n])
			if werr != nil {
				return werr
			}
			if w != n {
				return io.ErrShortWrite
			}
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			return rerr
		}
		if n == len(*bp) && !big {
			select {
			case bigSlots <- struct{}{}:
				smallPool.Put(bp)
				bp, big = bigPool.Get().(*[]byte), true
			default:
			}
		}
	}
}

// countWriter counts what it writes.
type countWriter struct {
	w   io.Writer
	add func(int)
}

func (c countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	if n > 0 {
		c.add(n)
	}
	return n, err
}

// run copies both ways until both directions ended: a direction that ends
// cleanly half-closes its destination; one that fails kills both. fromStream
// counts the bytes the stream delivered to the TCP side, toStream the
// bytes sent the other way. With idle > 0 a connection that moves no byte
// for idle is killed.
func (c *pipe) run(idle time.Duration, fromStream, toStream func(int)) {
	var wg sync.WaitGroup
	if idle > 0 {
		c.last.Store(time.Now().UnixNano())
		from, to := fromStream, toStream
		fromStream = func(n int) { c.last.Store(time.Now().UnixNano()); from(n) }
		toStream = func(n int) { c.last.Store(time.Now().UnixNano()); to(n) }
		done := make(chan struct{})
		var watch sync.WaitGroup
		defer func() { close(done); watch.Wait() }()
		watch.Go(func() {
			t := time.NewTimer(idle)
			defer t.Stop()
			for {
				select {
				case <-done:
					return
				case <-t.C:
					since := time.Since(time.Unix(0, c.last.Load()))
					if since >= idle {
						c.kill()
						return
					}
					t.Reset(idle - since)
				}
			}
		})
	}
	copyHalf := func(dst io.Writer, src io.Reader, add func(int), closeWrite func() error) {
		defer wg.Done()
		err := copyGrowing(countWriter{dst, add}, src)
		if err == nil {
			err = closeWrite()
		}
		if err != nil {
			c.kill()
		}
	}
	wg.Add(2)
	go copyHalf(c.tcp, c.st, fromStream, c.tcp.CloseWrite)
	go copyHalf(c.st, c.tcp, toStream, c.st.CloseWrite)
	wg.Wait()
	_ = c.tcp.Close()
	if c.killed.Load() {
		_ = c.st.Reset()
	} else {
		_ = c.st.Close()
	}
}
