package p2p

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	dht "github.com/libp2p/go-libp2p-kad-dht"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/metrics"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	drouting "github.com/libp2p/go-libp2p/p2p/discovery/routing"
	"github.com/libp2p/go-libp2p/p2p/host/autorelay"
	bhost "github.com/libp2p/go-libp2p/p2p/host/basic"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	"github.com/libp2p/go-libp2p/p2p/net/connmgr"
	circuit "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/proto"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
	"github.com/prometheus/client_golang/prometheus"
)

// DHTPrefix is the protocol prefix of peerpath's Kademlia DHT. It differs
// from IPFS's "/ipfs", so a peerpath node never joins (or pollutes) the IPFS
// DHT even when it meets IPFS nodes.
const DHTPrefix = "/peerpath"

// MDNSServiceName is the service name advertised and browsed for on the LAN.
const MDNSServiceName = "peerpath"

// Default connection manager watermarks (see [Config.LowWater]).
const (
	DefaultLowWater  = 100
	DefaultHighWater = 400
)

// DefaultListenAddrs are the addresses a Node listens on when
// [Config.ListenAddrs] is empty.
var DefaultListenAddrs = []string{
	"/ip4/0.0.0.0/tcp/4101",
	"/ip4/0.0.0.0/udp/4101/quic-v1",
	"/ip6/::/tcp/4101",
	"/ip6/::/udp/4101/quic-v1",
}

// ErrClosed is returned by [Node.Serve] and [Node.Connect] after [Node.Close].
var ErrClosed = fmt.Errorf("p2p: node closed: %w", net.ErrClosed)

// Config configures a Node. Zero values give the documented defaults.
// A Config must not be changed after it is passed to [New].
type Config struct {
	// Identity is the node's private key. Required; must be Ed25519
	// (see [LoadOrCreateIdentity]).
	Identity crypto.PrivKey
	// ListenAddrs are multiaddr strings to listen on. Empty means
	// [DefaultListenAddrs]. Use port 0 for a random free port.
	ListenAddrs []string
	// Bootstrap lists peers to connect to at start, as multiaddrs ending in
	// /p2p/<peer ID>. An entry naming this node itself is ignored, so one
	// list can be shared by all nodes. There are no built-in bootstrap peers.
	Bootstrap []string
	// MDNS enables discovery of peers on the local network by multicast DNS.
	MDNS bool
	// SwarmKey is the content of a swarm.key file (see [NewSwarmKey]).
	// Nil means the public peerpath network. With a key the node only talks
	// to peers holding the same key; QUIC addresses are dropped because the
	// pnet protector only wraps stream transports (TCP).
	SwarmKey []byte
	// AllowPeers, when non-nil, is the only set of peers this node connects
	// to or accepts connections from (see [ReadAllowPeers]). A non-nil empty
	// slice refuses everyone.
	AllowPeers []peer.ID
	// Logger receives the node's logs. Nil discards them.
	Logger *slog.Logger
	// LowWater and HighWater are the connection manager's watermarks: above
	// HighWater connections it trims down to LowWater. Zero gives
	// [DefaultLowWater] and [DefaultHighWater].
	LowWater, HighWater int
	// NoPortMap disables UPnP / NAT-PMP port mapping. Port mapping is also
	// off whenever every listen address is a loopback address.
	NoPortMap bool
	// LibP2PMetrics, when non-nil, receives go-libp2p's own detailed
	// Prometheus metrics (swarm, identify, holepunch, ...). Nil turns them
	// off; [Node.RegisterMetrics] provides the summary metrics either way.
	LibP2PMetrics prometheus.Registerer
	// UserAgent is announced through identify. Empty means "peerpath".
	UserAgent string
	// NoRelayService stops this node from offering a circuit relay to
	// peers behind NAT when it is itself publicly reachable.
	NoRelayService bool
	// Reachability, when not unknown, overrides what AutoNAT would find:
	// public makes the node offer its relay at once, private makes it look
	// for relays at once. For servers whose operators know, and for tests.
	// Such a node does not answer other peers' AutoNAT dial-back requests.
	Reachability network.Reachability
	// relayBootDelay overrides AutoRelay's wait for candidates (tests).
	relayBootDelay time.Duration
}

// Node is a running libp2p host with peerpath's DHT, GossipSub and
// discovery. Create it with [New], run its background work with
// [Node.Serve] and stop it with [Node.Close]. Its methods are safe for
// concurrent use.
type Node struct {
	log       *slog.Logger
	cfg       Config
	h         host.Host
	dht       *dht.IpfsDHT
	ps        *pubsub.PubSub
	bw        *metrics.BandwidthCounter
	bootstrap []peer.AddrInfo
	listen    []ma.Multiaddr // what New listened on
	gater     *allowGater    // nil without AllowPeers

	ctx    context.Context // canceled by Close
	cancel context.CancelFunc

	mu      sync.Mutex
	closed  bool
	wg      sync.WaitGroup // goroutines started through n.spawn
	serving bool
	lan     map[peer.ID]bool
	reach   network.Reachability
	closeMu sync.Mutex
	done    bool
	closeEr error
}

// New builds a libp2p host from cfg, starts listening, and creates the DHT
// and GossipSub on it. Background work (bootstrap, discovery, mDNS) starts
// with [Node.Serve]. A bad multiaddr, a bad swarm key or an address already
// in use gives an error; on error nothing is left running.
func New(ctx context.Context, cfg Config) (_ *Node, err error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("p2p: new node: %w", err)
	}
	if cfg.Identity == nil {
		return nil, errors.New("p2p: config: Identity is required")
	}
	if cfg.Identity.Type() != crypto.Ed25519 {
		return nil, fmt.Errorf("p2p: config: Identity is a %s key, want Ed25519", cfg.Identity.Type())
	}
	self, err := peer.IDFromPrivateKey(cfg.Identity)
	if err != nil {
		return nil, fmt.Errorf("p2p: config: identity: %w", err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.LowWater <= 0 {
		cfg.LowWater = DefaultLowWater
	}
	if cfg.HighWater <= 0 {
		cfg.HighWater = DefaultHighWater
	}
	if cfg.HighWater < cfg.LowWater {
		return nil, fmt.Errorf("p2p: config: HighWater %d is below LowWater %d", cfg.HighWater, cfg.LowWater)
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "peerpath"
	}

	userAddrs := len(cfg.ListenAddrs) > 0
	addrStrs := cfg.ListenAddrs
	if !userAddrs {
		addrStrs = DefaultListenAddrs
	}
	listen, err := parseListenAddrs(addrStrs)
	if err != nil {
		return nil, err
	}

	var psk []byte
	if cfg.SwarmKey != nil {
		if psk, err = parseSwarmKey(cfg.SwarmKey); err != nil {
			return nil, err
		}
		kept := listen[:0:0]
		for _, a := range listen {
			if isUDP(a) {
				log.Info("private network: not listening on UDP/QUIC address", "addr", a)
				continue
			}
			kept = append(kept, a)
		}
		if len(kept) == 0 {
			return nil, errors.New("p2p: config: a private network (swarm key) needs at least one TCP listen address")
		}
		listen = kept
	}

	bootstrap, err := parseBootstrap(self, cfg.Bootstrap)
	if err != nil {
		return nil, err
	}

	rm, err := newResourceManager(cfg.LibP2PMetrics != nil)
	if err != nil {
		return nil, err
	}
	cm, err := connmgr.NewConnManager(cfg.LowWater, cfg.HighWater, connmgr.WithGracePeriod(time.Minute))
	if err != nil {
		_ = rm.Close()
		return nil, fmt.Errorf("p2p: connection manager: %w", err)
	}
	bw := metrics.NewBandwidthCounter()

	spec := &hostSpec{
		key: cfg.Identity,
		// QUIC except on a private network, whose protector wraps stream
		// transports only.
		quic:       psk == nil,
		userAgent:  cfg.UserAgent,
		dialRanker: tcpFirstRanker,
		connMgr:    cm,
		rm:         rm,
		reporter:   bw,
		psk:        psk,
		registerer: cfg.LibP2PMetrics,
		autoNATv2:  true,
		autoNATv1:  true,
		// Peers are equal: every node answers other nodes' AutoNAT v1
		// dial-back requests (rate-limited by go-libp2p), so reachability
		// can be learnt inside a peerpath network.
		autoNATService: true,
		holePunching:   true,
		relayClient:    true, // use relays other peers offer
		// NAT traversal. A node that AutoNAT finds publicly reachable
		// offers a limited circuit relay (go-libp2p's default limits: 2
		// minutes and 128 KiB per relayed connection, enough to coordinate
		// a hole punch, not to carry downloads). A node that finds itself
		// behind NAT reserves slots on such relays among its peers
		// (AutoRelay), so others can reach it at a /p2p-circuit address,
		// and hole punching (DCUtR) then upgrades the relayed connection
		// to a direct one.
		relayService: !cfg.NoRelayService,
		autoRelay:    true,
	}
	var relayHost atomic.Pointer[host.Host]
	spec.autoRelayOpts = []autorelay.Option{
		autorelay.WithPeerSource(func(ctx context.Context, num int) <-chan peer.AddrInfo {
			return relayCandidates(ctx, relayHost.Load(), num)
		}),
		// A peer turns relay only once AutoNAT finds it public, which can
		// take minutes after it starts: one that had no relay yet is asked
		// again after relayRetry, not after go-libp2p's default hour.
		autorelay.WithBackoff(relayRetry),
	}
	if cfg.relayBootDelay > 0 {
		spec.autoRelayOpts = append(spec.autoRelayOpts, autorelay.WithBootDelay(cfg.relayBootDelay),
			autorelay.WithMinCandidates(1), autorelay.WithMinInterval(cfg.relayBootDelay),
			autorelay.WithBackoff(cfg.relayBootDelay))
	}
	if cfg.Reachability != network.ReachabilityUnknown {
		r := cfg.Reachability
		spec.forceReachability = &r
		// go-libp2p's AutoNAT with a forced reachability never runs the
		// dial-back service, so the node goes without.
		spec.autoNATService = false
	}
	var gater *allowGater
	if cfg.AllowPeers != nil {
		gater = newAllowGater(cfg.AllowPeers)
		spec.gater = gater
	}
	if !cfg.NoPortMap && !allLoopback(listen) {
		spec.natManager = bhost.NewNATManager
	}

	h, err := buildHost(spec)
	if err != nil {
		// buildHost closes rm and cm when construction fails.
		return nil, fmt.Errorf("p2p: create host: %w", err)
	}
	relayHost.Store(&h)
	defer func() {
		if err != nil {
			_ = h.Close()
		}
	}()

	for _, a := range listen {
		lerr := probeTCP(a)
		if lerr == nil {
			lerr = h.Network().Listen(a)
		}
		if lerr != nil {
			if !userAddrs && isIP6(a) {
				// The default IPv6 addresses are best effort: many hosts
				// have IPv6 disabled.
				log.Info("not listening on IPv6", "addr", a, "err", lerr)
				continue
			}
			return nil, fmt.Errorf("p2p: listen on %s: %w", a, lerr)
		}
	}

	nctx, cancel := context.WithCancel(context.Background())
	defer func() {
		if err != nil {
			cancel()
		}
	}()

	kad, err := dht.New(h,
		dht.ProtocolPrefix(DHTPrefix),
		dht.Mode(dht.ModeServer),
		dht.BootstrapPeers(bootstrap...),
	)
	if err != nil {
		return nil, fmt.Errorf("p2p: create DHT: %w", err)
	}
	defer func() {
		if err != nil {
			_ = kad.Close()
		}
	}()

	scoreParams, scoreThresholds := gossipScore()
	ps, err := pubsub.NewGossipSub(nctx, h,
		pubsub.WithDiscovery(drouting.NewRoutingDiscovery(kad)),
		pubsub.WithPeerExchange(true),
		pubsub.WithPeerScore(scoreParams, scoreThresholds),
	)
	if err != nil {
		return nil, fmt.Errorf("p2p: create gossipsub: %w", err)
	}

	n := &Node{
		log:       log,
		cfg:       cfg,
		h:         h,
		dht:       kad,
		ps:        ps,
		bw:        bw,
		bootstrap: bootstrap,
		listen:    listen,
		gater:     gater,
		ctx:       nctx,
		cancel:    cancel,
		lan:       make(map[peer.ID]bool),
		reach:     network.ReachabilityUnknown,
	}
	sub, err := h.EventBus().Subscribe(new(event.EvtLocalReachabilityChanged))
	if err != nil {
		return nil, fmt.Errorf("p2p: subscribe to reachability events: %w", err)
	}
	n.spawn(func() { n.watchReachability(sub) })
	log.Info("p2p node started", "id", h.ID(), "addrs", n.Addrs())
	return n, nil
}

// newResourceManager returns go-libp2p's resource manager with its default
// limits scaled to this machine's memory and file descriptors, plus the
// default limits for libp2p's own services (identify, ping, relay, ...),
// with higher per-peer stream limits (see the package doc).
// Loopback connections are exempt from the per-IP connection limits, so
// tests with many local nodes do not hit them.
func newResourceManager(withMetrics bool) (network.ResourceManager, error) {
	scaling := rcmgr.DefaultLimits
	// Services fan out: a swarm download may hold hundreds of streams of
	// one protocol to one peer. The defaults (64 inbound streams per
	// protocol and peer) are tuned for IPFS; raise the per-peer stream
	// limits so one busy peer is bounded by the peer limit, not by the
	// protocol it happens to use. Memory limits are left as they are.
	perPeer := rcmgr.BaseLimit{StreamsInbound: 1024, StreamsOutbound: 1024, Streams: 2048}
	scaling.PeerBaseLimit.StreamsInbound = perPeer.StreamsInbound
	scaling.PeerBaseLimit.StreamsOutbound = perPeer.StreamsOutbound
	scaling.PeerBaseLimit.Streams = perPeer.Streams
	for _, l := range []*rcmgr.BaseLimit{&scaling.ProtocolPeerBaseLimit, &scaling.ServicePeerBaseLimit} {
		l.StreamsInbound = perPeer.StreamsInbound / 2
		l.StreamsOutbound = perPeer.StreamsOutbound / 2
		l.Streams = perPeer.Streams / 2
	}
	setServiceLimits(&scaling)
	limits := scaling.AutoScale()
	var opts []rcmgr.Option
	if !withMetrics {
		// Its metrics are process-wide counters updated on every stream
		// event; skip that work unless someone reads them.
		opts = append(opts, rcmgr.WithMetricsDisabled())
	}
	rm, err := rcmgr.NewResourceManager(rcmgr.NewFixedLimiter(limits), opts...)
	if err != nil {
		return nil, fmt.Errorf("p2p: resource manager: %w", err)
	}
	return rm, nil
}

func parseListenAddrs(strs []string) ([]ma.Multiaddr, error) {
	out := make([]ma.Multiaddr, 0, len(strs))
	for _, s := range strs {
		a, err := ma.NewMultiaddr(s)
		if err != nil {
			return nil, fmt.Errorf("p2p: config: listen address %q: %w", s, err)
		}
		if _, err := a.ValueForProtocol(ma.P_TCP); err != nil && !isUDP(a) {
			return nil, fmt.Errorf("p2p: config: listen address %q: need a /tcp or /udp/.../quic-v1 address", s)
		}
		out = append(out, a)
	}
	return out, nil
}

// probeTCP binds a's TCP address once without SO_REUSEPORT and releases
// it. go-libp2p's TCP transport listens with SO_REUSEPORT (so that hole
// punching can dial from the listen port), which lets a second node bind a
// port that another node already serves, the kernel then splitting incoming
// connections between them. The probe turns that into an "address already
// in use" error. Port 0 and non-TCP addresses are not probed.
func probeTCP(a ma.Multiaddr) error {
	if _, err := a.ValueForProtocol(ma.P_TCP); err != nil {
		return nil
	}
	na, err := manet.ToNetAddr(a)
	if err != nil {
		return nil // let the transport report it
	}
	tcp, ok := na.(*net.TCPAddr)
	if !ok || tcp.Port == 0 {
		return nil
	}
	network := "tcp4"
	if tcp.IP.To4() == nil {
		network = "tcp6"
	}
	l, err := net.ListenTCP(network, tcp)
	if err != nil {
		return err
	}
	return l.Close()
}

func parseBootstrap(self peer.ID, strs []string) ([]peer.AddrInfo, error) {
	byID := make(map[peer.ID]*peer.AddrInfo)
	var order []peer.ID
	for _, s := range strs {
		info, err := parsePeerAddr(s)
		if err != nil {
			return nil, fmt.Errorf("p2p: config: bootstrap %w", err)
		}
		if info.ID == self {
			continue
		}
		if prev, ok := byID[info.ID]; ok {
			prev.Addrs = append(prev.Addrs, info.Addrs...)
			continue
		}
		byID[info.ID] = info
		order = append(order, info.ID)
	}
	out := make([]peer.AddrInfo, 0, len(order))
	for _, id := range order {
		out = append(out, *byID[id])
	}
	return out, nil
}

// parsePeerAddr parses a multiaddr that ends in /p2p/<peer ID>.
func parsePeerAddr(s string) (*peer.AddrInfo, error) {
	a, err := ma.NewMultiaddr(s)
	if err != nil {
		return nil, fmt.Errorf("address %q: %w", s, err)
	}
	info, err := peer.AddrInfoFromP2pAddr(a)
	if err != nil {
		return nil, fmt.Errorf("address %q: must end in /p2p/<peer ID>: %w", s, err)
	}
	return info, nil
}

func isUDP(a ma.Multiaddr) bool {
	_, err := a.ValueForProtocol(ma.P_UDP)
	return err == nil
}

func isIP6(a ma.Multiaddr) bool {
	_, err := a.ValueForProtocol(ma.P_IP6)
	return err == nil
}

func allLoopback(addrs []ma.Multiaddr) bool {
	for _, a := range addrs {
		if !manet.IsIPLoopback(a) {
			return false
		}
	}
	return true
}

// spawn runs fn in a goroutine that Close waits for. It reports false (and
// does not run fn) once the node is closing.
func (n *Node) spawn(fn func()) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return false
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		fn()
	}()
	return true
}

func (n *Node) watchReachability(sub event.Subscription) {
	defer sub.Close()
	for {
		select {
		case <-n.ctx.Done():
			return
		case ev, ok := <-sub.Out():
			if !ok {
				return
			}
			r := ev.(event.EvtLocalReachabilityChanged).Reachability
			n.mu.Lock()
			n.reach = r
			n.mu.Unlock()
			n.log.Info("reachability changed", "reachability", reachabilityString(r))
		}
	}
}

// ID returns this node's peer ID.
func (n *Node) ID() peer.ID { return n.h.ID() }

// Host returns the underlying libp2p host, for services that register
// stream handlers or open streams.
func (n *Node) Host() host.Host { return n.h }

// DHT returns the node's Kademlia DHT (protocol prefix [DHTPrefix], server
// mode). Its value store accepts no record namespaces; use it for peer and
// provider routing.
func (n *Node) DHT() *dht.IpfsDHT { return n.dht }

// PubSub returns the node's GossipSub router. Topics find peers through the
// DHT, so services can Join a topic without knowing who else is on it.
func (n *Node) PubSub() *pubsub.PubSub { return n.ps }

// Addrs returns the node's dialable addresses, each ending in /p2p/<ID>.
// Unspecified listen addresses (0.0.0.0, ::) are expanded to the interface
// addresses they cover, so every entry can be given to [Node.Connect].
func (n *Node) Addrs() []string {
	p2pPart, err := ma.NewComponent("p2p", n.h.ID().String())
	if err != nil {
		return nil
	}
	addrs := n.h.Addrs()
	if len(addrs) == 0 {
		// The host's address manager updates asynchronously; fall back to
		// the interface addresses of the listeners.
		addrs, _ = n.h.Network().InterfaceListenAddresses()
	}
	out := make([]string, 0, len(addrs))
	for _, a := range addrs {
		if manet.IsIPUnspecified(a) {
			continue
		}
		out = append(out, a.Encapsulate(p2pPart.Multiaddr()).String())
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Connect dials the peer at addr, a multiaddr ending in /p2p/<peer ID>, and
// returns once a connection is up (or ctx ends). Connecting to a peer that is
// already connected succeeds at once.
func (n *Node) Connect(ctx context.Context, addr string) error {
	info, err := parsePeerAddr(addr)
	if err != nil {
		return fmt.Errorf("p2p: connect: %w", err)
	}
	return n.connect(ctx, *info)
}

// Disconnect closes every connection to id.
func (n *Node) Disconnect(id peer.ID) error { return n.h.Network().ClosePeer(id) }

func (n *Node) connect(ctx context.Context, info peer.AddrInfo) error {
	if n.isClosed() {
		return ErrClosed
	}
	if info.ID == n.h.ID() {
		return errors.New("p2p: connect: that address is this node itself")
	}
	if n.gater != nil && !n.gater.ok(info.ID) {
		return fmt.Errorf("p2p: connect %s: peer is not in the allow list", info.ID)
	}
	// Callers decide when to retry (Serve backs off by itself), so skip the
	// swarm's own per-address dial backoff, which would otherwise refuse a
	// retry for several seconds after a failure.
	// A /p2p-circuit address is dialled through its relay, which a forced
	// direct dial would refuse.
	if !slices.ContainsFunc(info.Addrs, isCircuit) {
		ctx = network.WithForceDirectDial(ctx, "peerpath connect")
	}
	if err := n.h.Connect(ctx, info); err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("p2p: connect %s: no handshake in time (peer down or firewalled, or on another private network): %w", info.ID, err)
		}
		return fmt.Errorf("p2p: connect %s: %w", info.ID, err)
	}
	// A connection through a mismatched private network or a gater can be
	// torn down right after it was reported up; only report success for a
	// connection that is still there.
	if c := n.h.Network().Connectedness(info.ID); c != network.Connected && c != network.Limited {
		return fmt.Errorf("p2p: connect %s: connection closed by the remote peer", info.ID)
	}
	return nil
}

func (n *Node) isClosed() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.closed
}

// Close stops Serve, the DHT, GossipSub and the host, and closes every
// connection. It is idempotent: later calls return the first call's result.
func (n *Node) Close() error {
	n.closeMu.Lock()
	defer n.closeMu.Unlock()
	if n.done {
		return n.closeEr
	}
	n.done = true
	n.mu.Lock()
	n.closed = true
	n.mu.Unlock()
	n.cancel()
	n.wg.Wait()
	var errs []error
	if err := n.dht.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close DHT: %w", err))
	}
	if err := n.h.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close host: %w", err))
	}
	if err := errors.Join(errs...); err != nil {
		n.closeEr = fmt.Errorf("p2p: close: %w", err)
	}
	return n.closeEr
}

var _ io.Closer = (*Node)(nil)

// relayCandidates offers AutoRelay up to num connected peers, those that
// advertise the relay protocol first; AutoRelay checks each before it
// reserves a slot. h is nil until the host exists.
func relayCandidates(ctx context.Context, h *host.Host, num int) <-chan peer.AddrInfo {
	out := make(chan peer.AddrInfo, max(num, 0))
	defer close(out)
	if h == nil || num <= 0 {
		return out
	}
	hh := *h
	var relays, others []peer.ID
	for _, p := range hh.Network().Peers() {
		if ok, _ := hh.Peerstore().SupportsProtocols(p, circuit.ProtoIDv2Hop); len(ok) > 0 {
			relays = append(relays, p)
		} else {
			others = append(others, p)
		}
	}
	for _, p := range append(relays, others...) {
		if len(out) == num || ctx.Err() != nil {
			break
		}
		out <- peer.AddrInfo{ID: p, Addrs: hh.Peerstore().Addrs(p)}
	}
	return out
}

// isCircuit reports whether a is a relayed (/p2p-circuit) address.
func isCircuit(a ma.Multiaddr) bool {
	_, err := a.ValueForProtocol(ma.P_CIRCUIT)
	return err == nil
}

// relayRetry is how long AutoRelay waits before asking again a candidate
// that gave no reservation.
const relayRetry = 5 * time.Minute
