package p2p

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"

	"github.com/libp2p/go-libp2p/core/connmgr"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/metrics"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/libp2p/go-libp2p/core/pnet"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/core/sec"
	"github.com/libp2p/go-libp2p/core/transport"
	"github.com/libp2p/go-libp2p/p2p/host/autonat"
	"github.com/libp2p/go-libp2p/p2p/host/autorelay"
	bhost "github.com/libp2p/go-libp2p/p2p/host/basic"
	blankhost "github.com/libp2p/go-libp2p/p2p/host/blank"
	"github.com/libp2p/go-libp2p/p2p/host/eventbus"
	"github.com/libp2p/go-libp2p/p2p/host/observedaddrs"
	"github.com/libp2p/go-libp2p/p2p/host/peerstore/pstoremem"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	yamux "github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	libp2pconnmgr "github.com/libp2p/go-libp2p/p2p/net/connmgr"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
	tptu "github.com/libp2p/go-libp2p/p2p/net/upgrader"
	"github.com/libp2p/go-libp2p/p2p/protocol/autonatv2"
	relayclient "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/client"
	circuit "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/proto"
	relayv2 "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/relay"
	"github.com/libp2p/go-libp2p/p2p/protocol/holepunch"
	"github.com/libp2p/go-libp2p/p2p/protocol/identify"
	"github.com/libp2p/go-libp2p/p2p/protocol/ping"
	noise "github.com/libp2p/go-libp2p/p2p/security/noise"
	libp2ptls "github.com/libp2p/go-libp2p/p2p/security/tls"
	libp2pquic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/quicreuse"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/quic-go/quic-go"
	"golang.org/x/crypto/hkdf"
)

// Hosts are assembled here from go-libp2p's parts (swarm, upgrader,
// transports, basic host, AutoNAT, AutoRelay), not through its root
// package (libp2p.New) nor its config package. The root package's
// defaults name the WebSocket, WebTransport and WebRTC transports, and the
// config package imports the WebRTC transport and wires everything with
// go.uber.org/fx, so importing either links pion's WebRTC stack and fx's
// reflection-driven dependency injection into the binary and runs their
// package initialisation at every start. A daemon's idle resident memory
// grows with the code its start touches (see docs/performance.md, "Idle
// memory"). What hostSpec builds is what go-libp2p v0.51.0's
// config.Config.NewNode builds for the same settings (check it again when
// go-libp2p is upgraded), in the same order, started and closed in the
// same order.

// hostSpec is what a peerpath host is made of.
type hostSpec struct {
	key        crypto.PrivKey
	quic       bool           // the QUIC transport besides TCP
	listen     []ma.Multiaddr // listened on at start (a node listens later, address by address)
	userAgent  string
	dialRanker network.DialRanker
	connMgr    connmgr.ConnManager     // required; closed on failure
	rm         network.ResourceManager // required; closed on failure
	reporter   metrics.Reporter
	psk        pnet.PSK
	gater      connmgr.ConnectionGater // nil: none
	natManager func(network.Network) bhost.NATManager
	registerer prometheus.Registerer // nil: go-libp2p's metrics are off

	autoNATv2         bool
	autoNATv1         bool // the AutoNAT v1 client (every host of a node)
	autoNATService    bool // answer other peers' AutoNAT v1 dial-back requests
	forceReachability *network.Reachability
	holePunching      bool
	relayClient       bool // dial and listen through /p2p-circuit addresses
	relayService      bool // offer a limited relay once public
	autoRelay         bool // reserve relay slots when private (needs relayClient)
	autoRelayOpts     []autorelay.Option
}

// muxers are the stream multiplexers every peerpath host offers.
var muxers = []tptu.StreamMuxer{{ID: yamux.ID, Muxer: yamux.DefaultTransport}}

// peerHost is a running host and what it owns beside the basic host.
type peerHost struct {
	*bhost.BasicHost
	ar  *autorelay.AutoRelay
	obs *observedaddrs.Manager
	sw  *swarm.Swarm
	qcm *quicreuse.ConnManager
	// after run once the basic host is closed: the AutoNAT dialers'
	// peerstores and QUIC sockets (the AutoNAT services the basic host
	// closes close the dialers' swarms).
	after []func()
}

// Close stops what the host started in the reverse order of its start
// (AutoRelay, observed addresses, the swarm, QUIC sockets), then the
// basic host (identify, AutoNAT, relay, hole punching, the peerstore,
// resource and connection managers), then the AutoNAT dialers' leftovers.
func (h *peerHost) Close() error {
	h.teardown()
	return nil
}

// teardown closes whatever part of the host exists; buildHost uses it
// when construction fails halfway.
func (h *peerHost) teardown() {
	if h.ar != nil {
		_ = h.ar.Close()
	}
	if h.obs != nil {
		_ = h.obs.Close()
	}
	if h.sw != nil {
		_ = h.sw.Close()
	}
	if h.qcm != nil {
		_ = h.qcm.Close()
	}
	if h.BasicHost != nil {
		_ = h.BasicHost.Close()
	}
	for _, f := range h.after {
		f()
	}
}

// buildHost assembles, starts and returns the host s describes. On error
// everything it made is closed, and so are s.connMgr and s.rm.
func buildHost(s *hostSpec) (host.Host, error) {
	h := &peerHost{}
	// Until the basic host exists (and owns them): the peerstore, the
	// resource and connection managers, AutoNAT v2.
	var (
		ps  peerstore.Peerstore
		an2 *autonatv2.AutoNAT
	)
	started := false
	fail := func(err error) (host.Host, error) {
		owned := h.BasicHost == nil
		if !owned && !started {
			// A basic host closes its AutoNAT v2, which cannot be closed
			// before it is started.
			h.BasicHost.Start()
		}
		h.teardown()
		if owned {
			if an2 != nil {
				an2.Close()
			}
			if ps != nil {
				_ = ps.Close()
			}
			_ = s.rm.Close()
			_ = s.connMgr.Close()
		}
		return nil, err
	}
	if s.autoRelay && !s.relayClient {
		return fail(errors.New("p2p: AutoRelay needs the relay client"))
	}
	if pnet.ForcePrivateNetwork && len(s.psk) == 0 {
		return fail(pnet.ErrNotInPrivateNetwork)
	}
	if s.registerer != nil {
		rcmgr.MustRegisterWith(s.registerer)
	}
	var err error
	if ps, err = pstoremem.NewPeerstore(); err != nil {
		return fail(fmt.Errorf("p2p: peerstore: %w", err))
	}
	var busOpts []eventbus.Option
	if s.registerer != nil {
		busOpts = append(busOpts, eventbus.WithMetricsTracer(eventbus.NewMetricsTracer(eventbus.WithRegisterer(s.registerer))))
	}
	bus := eventbus.NewBus(busOpts...)

	// go-libp2p's defaults: a network where 5 of 100 dials succeed is not
	// a black hole. The AutoNAT v2 dialer reads them without updating.
	udpBH := &swarm.BlackHoleSuccessCounter{N: 100, MinSuccesses: 5, Name: "UDP"}
	ip6BH := &swarm.BlackHoleSuccessCounter{N: 100, MinSuccesses: 5, Name: "IPv6"}

	if s.quic {
		if h.qcm, err = newQUICConnManager(s.key, s.rm, s.registerer); err != nil {
			return fail(err)
		}
	}
	swOpts := []swarm.Option{
		swarm.WithUDPBlackHoleSuccessCounter(udpBH),
		swarm.WithIPv6BlackHoleSuccessCounter(ip6BH),
	}
	if s.dialRanker != nil {
		swOpts = append(swOpts, swarm.WithDialRanker(s.dialRanker))
	}
	if s.registerer != nil {
		swOpts = append(swOpts, swarm.WithMetricsTracer(swarm.NewMetricsTracer(swarm.WithRegisterer(s.registerer))))
	}
	if h.sw, err = newSwarm(s, s.key, ps, bus, swOpts...); err != nil {
		return fail(err)
	}
	upgrader, err := addTransports(h.sw, s, s.key, h.qcm)
	if err != nil {
		return fail(err)
	}
	if h.obs, err = observedaddrs.NewManager(bus, h.sw); err != nil {
		return fail(fmt.Errorf("p2p: observed addresses: %w", err))
	}

	if s.autoNATv2 {
		dialer, cleanup, err := newDialerSwarm(s, udpBH, ip6BH,
			// Its failed dials do not count towards black hole detection.
			swarm.WithReadOnlyBlackHoleDetector())
		if err != nil {
			return fail(err)
		}
		h.after = append(h.after, cleanup)
		var mt autonatv2.MetricsTracer
		if s.registerer != nil {
			mt = autonatv2.NewMetricsTracer(s.registerer)
		}
		if an2, err = autonatv2.New(blankhost.NewBlankHost(dialer), autonatv2.WithMetricsTracer(mt)); err != nil {
			_ = dialer.Close()
			return fail(fmt.Errorf("p2p: AutoNAT v2: %w", err))
		}
	}

	bh, err := bhost.NewHost(h.sw, &bhost.HostOpts{
		EventBus:             bus,
		ConnManager:          s.connMgr,
		NATManager:           s.natManager,
		EnablePing:           true,
		UserAgent:            s.userAgent,
		EnableHolePunching:   s.holePunching,
		EnableRelayService:   s.relayService,
		EnableMetrics:        s.registerer != nil,
		PrometheusRegisterer: s.registerer,
		AutoNATv2:            an2,
		ObservedAddrsManager: h.obs,
	})
	if err != nil {
		return fail(fmt.Errorf("p2p: basic host: %w", err))
	}
	h.BasicHost = bh

	if s.relayClient {
		if err = relayclient.AddTransport(bh, upgrader); err != nil {
			return fail(fmt.Errorf("p2p: relay transport: %w", err))
		}
	}
	var ar *autorelay.AutoRelay
	if s.autoRelay {
		opts := s.autoRelayOpts
		if s.registerer != nil {
			opts = append([]autorelay.Option{autorelay.WithMetricsTracer(
				autorelay.NewMetricsTracer(autorelay.WithRegisterer(s.registerer)))}, opts...)
		}
		if ar, err = autorelay.NewAutoRelay(bh, opts...); err != nil {
			return fail(fmt.Errorf("p2p: AutoRelay: %w", err))
		}
	}

	// Start, in config.NewNode's order: listen, observed addresses,
	// AutoRelay, the basic host.
	if len(s.listen) > 0 {
		if err = h.sw.Listen(s.listen...); err != nil {
			return fail(fmt.Errorf("p2p: listen: %w", err))
		}
	}
	h.obs.Start(h.sw)
	if ar != nil {
		ar.Start()
		h.ar = ar
	}
	bh.Start()
	started = true

	if err = addAutoNAT(h, s); err != nil {
		return fail(err)
	}
	return h, nil
}

// addAutoNAT gives the host its AutoNAT v1 client (which judges only
// public addresses) and, when s says so, the service that dials other
// peers back from a swarm of its own.
func addAutoNAT(h *peerHost, s *hostSpec) error {
	if !s.autoNATv1 {
		return nil
	}
	bh := h.BasicHost
	opts := []autonat.Option{
		autonat.UsingAddresses(func() []ma.Multiaddr {
			return slices.DeleteFunc(bh.AllAddrs(), func(a ma.Multiaddr) bool { return !manet.IsPublicAddr(a) })
		}),
	}
	if s.registerer != nil {
		opts = append(opts, autonat.WithMetricsTracer(autonat.NewMetricsTracer(autonat.WithRegisterer(s.registerer))))
	}
	if s.autoNATService {
		// go-libp2p gives this dialer no black hole detection at all.
		dialer, cleanup, err := newDialerSwarm(s, nil, nil)
		if err != nil {
			return err
		}
		h.after = append(h.after, func() { _ = dialer.Close(); cleanup() })
		opts = append(opts, autonat.EnableService(dialer))
	}
	if s.forceReachability != nil {
		opts = append(opts, autonat.WithReachability(*s.forceReachability))
	}
	an, err := autonat.New(bh, opts...)
	if err != nil {
		return fmt.Errorf("p2p: AutoNAT: %w", err)
	}
	bh.SetAutoNat(an)
	return nil
}

// newDialerSwarm returns a swarm with a fresh identity and the host's
// transports, for AutoNAT's dial-backs, and what closes its peerstore and
// QUIC sockets once the swarm is closed (the AutoNAT service closes it).
func newDialerSwarm(s *hostSpec, udpBH, ip6BH *swarm.BlackHoleSuccessCounter, extra ...swarm.Option) (*swarm.Swarm, func(), error) {
	key, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("p2p: AutoNAT dialer key: %w", err)
	}
	ps, err := pstoremem.NewPeerstore()
	if err != nil {
		return nil, nil, fmt.Errorf("p2p: AutoNAT dialer peerstore: %w", err)
	}
	var qcm *quicreuse.ConnManager
	cleanup := func() {
		if qcm != nil {
			_ = qcm.Close()
		}
		_ = ps.Close()
	}
	if s.quic {
		if qcm, err = newQUICConnManager(key, s.rm, nil); err != nil {
			cleanup()
			return nil, nil, err
		}
	}
	opts := append([]swarm.Option{
		swarm.WithUDPBlackHoleSuccessCounter(udpBH),
		swarm.WithIPv6BlackHoleSuccessCounter(ip6BH),
		swarm.WithDialRanker(swarm.NoDelayDialRanker),
	}, extra...)
	sw, err := newSwarm(s, key, ps, eventbus.NewBus(), opts...)
	if err != nil {
		cleanup()
		return nil, nil, err
	}
	if _, err := addTransports(sw, s, key, qcm); err != nil {
		_ = sw.Close()
		cleanup()
		return nil, nil, err
	}
	return sw, cleanup, nil
}

// newSwarm returns a swarm for the identity key with s's resource
// manager, connection gater and bandwidth reporter.
func newSwarm(s *hostSpec, key crypto.PrivKey, ps peerstore.Peerstore, bus event.Bus, opts ...swarm.Option) (*swarm.Swarm, error) {
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("p2p: identity: %w", err)
	}
	if err := ps.AddPrivKey(id, key); err != nil {
		return nil, fmt.Errorf("p2p: peerstore: %w", err)
	}
	if err := ps.AddPubKey(id, key.GetPublic()); err != nil {
		return nil, fmt.Errorf("p2p: peerstore: %w", err)
	}
	opts = append(opts, swarm.WithResourceManager(s.rm))
	if s.reporter != nil {
		opts = append(opts, swarm.WithMetrics(s.reporter))
	}
	if s.gater != nil {
		opts = append(opts, swarm.WithConnectionGater(s.gater))
	}
	sw, err := swarm.NewSwarm(id, ps, bus, opts...)
	if err != nil {
		return nil, fmt.Errorf("p2p: swarm: %w", err)
	}
	return sw, nil
}

// addTransports adds TCP (and QUIC when qcm is set) to sw, upgrading
// connections with TLS then Noise (TLS first: it is faster on this kind
// of machine; both are offered so any libp2p peer can connect), yamux,
// s's private network key and connection gater. It returns the upgrader,
// which the relay transport shares.
func addTransports(sw *swarm.Swarm, s *hostSpec, key crypto.PrivKey, qcm *quicreuse.ConnManager) (transport.Upgrader, error) {
	tlsT, err := libp2ptls.New(libp2ptls.ID, key, muxers)
	if err != nil {
		return nil, fmt.Errorf("p2p: TLS: %w", err)
	}
	noiseT, err := noise.New(noise.ID, key, muxers)
	if err != nil {
		return nil, fmt.Errorf("p2p: Noise: %w", err)
	}
	upgrader, err := tptu.New([]sec.SecureTransport{tlsT, noiseT}, muxers, s.psk, s.rm, s.gater)
	if err != nil {
		return nil, fmt.Errorf("p2p: upgrader: %w", err)
	}
	tcpT, err := tcp.NewTCPTransport(upgrader, s.rm, nil)
	if err != nil {
		return nil, fmt.Errorf("p2p: TCP transport: %w", err)
	}
	tpts := []transport.Transport{tcpT}
	if qcm != nil {
		quicT, err := libp2pquic.NewTransport(key, qcm, s.psk, s.gater, s.rm)
		if err != nil {
			return nil, fmt.Errorf("p2p: QUIC transport: %w", err)
		}
		tpts = append(tpts, quicT)
	}
	for _, t := range tpts {
		if err := sw.AddTransport(t); err != nil {
			return nil, fmt.Errorf("p2p: add transport: %w", err)
		}
	}
	return upgrader, nil
}

// newQUICConnManager returns the QUIC socket manager of one swarm, with
// the stateless reset and token keys derived from its identity as
// go-libp2p derives them, and inbound QUIC connections admitted (and
// source addresses verified) by the resource manager before the handshake.
func newQUICConnManager(key crypto.PrivKey, rm network.ResourceManager, reg prometheus.Registerer) (*quicreuse.ConnManager, error) {
	raw, err := key.Raw()
	if err != nil {
		return nil, fmt.Errorf("p2p: QUIC keys: %w", err)
	}
	var resetKey quic.StatelessResetKey
	var tokenKey quic.TokenGeneratorKey
	for _, k := range []struct {
		info string
		out  []byte
	}{
		{"libp2p quic stateless reset key", resetKey[:]},
		{"libp2p quic token generator key", tokenKey[:]},
	} {
		if _, err := io.ReadFull(hkdf.New(sha256.New, raw, nil, []byte(k.info)), k.out); err != nil {
			return nil, fmt.Errorf("p2p: QUIC keys: %w", err)
		}
	}
	opts := []quicreuse.Option{
		quicreuse.ConnContext(func(ctx context.Context, ci *quic.ClientInfo) (context.Context, error) {
			// An address that does not parse is still the resource
			// manager's to refuse.
			addr, err := quicreuse.ToQuicMultiaddr(ci.RemoteAddr, quic.Version1)
			if err != nil {
				addr = nil
			}
			scope, err := rm.OpenConnection(network.DirInbound, false, addr)
			if err != nil {
				return ctx, err
			}
			ctx = network.WithConnManagementScope(ctx, scope)
			context.AfterFunc(ctx, scope.Done)
			return ctx, nil
		}),
		quicreuse.VerifySourceAddress(func(addr net.Addr) bool { return rm.VerifySourceAddress(addr) }),
	}
	if reg != nil {
		opts = append(opts, quicreuse.EnableMetrics(reg))
	}
	cm, err := quicreuse.NewConnManager(resetKey, tokenKey, opts...)
	if err != nil {
		return nil, fmt.Errorf("p2p: QUIC sockets: %w", err)
	}
	return cm, nil
}

// NewLoopbackHost starts a bare libp2p host listening on 127.0.0.1 (TCP,
// TLS or Noise, yamux; no relay, NAT services, DHT or GossipSub), with a
// random identity when key is nil. It is for the in-process clusters of
// benchmarks and tests; the daemon uses [New]. Unlike go-libp2p's default
// host it has a node's resource limits and connection manager watermarks,
// and no Prometheus metrics.
func NewLoopbackHost(key crypto.PrivKey) (host.Host, error) {
	if key == nil {
		k, _, err := crypto.GenerateEd25519Key(rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("p2p: loopback host: %w", err)
		}
		key = k
	}
	rm, err := newResourceManager(false)
	if err != nil {
		return nil, err
	}
	cm, err := libp2pconnmgr.NewConnManager(DefaultLowWater, DefaultHighWater)
	if err != nil {
		_ = rm.Close()
		return nil, fmt.Errorf("p2p: connection manager: %w", err)
	}
	h, err := buildHost(&hostSpec{
		key:     key,
		listen:  []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/tcp/0")},
		connMgr: cm,
		rm:      rm,
		// As go-libp2p's config package sets up every host.
		autoNATv1: true,
	})
	if err != nil {
		return nil, fmt.Errorf("p2p: loopback host: %w", err)
	}
	return h, nil
}

// setServiceLimits adds the resource limits of libp2p's own services
// (identify, ping, AutoNAT, hole punching, relay). It is a copy of
// libp2p.SetDefaultServiceLimits (go-libp2p v0.51.0, MIT licence), which
// lives in the root package this package does not import; check it again
// when go-libp2p is upgraded.
func setServiceLimits(c *rcmgr.ScalingLimitConfig) {
	both := func(service string, proto protocol.ID, l rcmgr.BaseLimit, inc rcmgr.BaseLimitIncrease) {
		c.AddServiceLimit(service, l, inc)
		c.AddProtocolLimit(proto, l, inc)
	}
	bothPeer := func(service string, proto protocol.ID, l rcmgr.BaseLimit, inc rcmgr.BaseLimitIncrease) {
		c.AddServicePeerLimit(service, l, inc)
		c.AddProtocolPeerLimit(proto, l, inc)
	}

	c.AddServiceLimit(identify.ServiceName,
		rcmgr.BaseLimit{StreamsInbound: 64, StreamsOutbound: 64, Streams: 128, Memory: 4 << 20},
		rcmgr.BaseLimitIncrease{StreamsInbound: 64, StreamsOutbound: 64, Streams: 128, Memory: 4 << 20})
	c.AddServicePeerLimit(identify.ServiceName,
		rcmgr.BaseLimit{StreamsInbound: 16, StreamsOutbound: 16, Streams: 32, Memory: 1 << 20},
		rcmgr.BaseLimitIncrease{})
	for _, id := range [...]protocol.ID{identify.ID, identify.IDPush} {
		c.AddProtocolLimit(id,
			rcmgr.BaseLimit{StreamsInbound: 64, StreamsOutbound: 64, Streams: 128, Memory: 4 << 20},
			rcmgr.BaseLimitIncrease{StreamsInbound: 64, StreamsOutbound: 64, Streams: 128, Memory: 4 << 20})
		c.AddProtocolPeerLimit(id,
			rcmgr.BaseLimit{StreamsInbound: 16, StreamsOutbound: 16, Streams: 32, Memory: 32 * (256<<20 + 16<<10)},
			rcmgr.BaseLimitIncrease{})
	}

	both(ping.ServiceName, ping.ID,
		rcmgr.BaseLimit{StreamsInbound: 64, StreamsOutbound: 64, Streams: 64, Memory: 4 << 20},
		rcmgr.BaseLimitIncrease{StreamsInbound: 64, StreamsOutbound: 64, Streams: 64, Memory: 4 << 20})
	bothPeer(ping.ServiceName, ping.ID,
		rcmgr.BaseLimit{StreamsInbound: 2, StreamsOutbound: 3, Streams: 4, Memory: 32 * (256<<20 + 16<<10)},
		rcmgr.BaseLimitIncrease{})

	both(autonat.ServiceName, autonat.AutoNATProto,
		rcmgr.BaseLimit{StreamsInbound: 64, StreamsOutbound: 64, Streams: 64, Memory: 4 << 20},
		rcmgr.BaseLimitIncrease{StreamsInbound: 4, StreamsOutbound: 4, Streams: 4, Memory: 2 << 20})
	bothPeer(autonat.ServiceName, autonat.AutoNATProto,
		rcmgr.BaseLimit{StreamsInbound: 2, StreamsOutbound: 2, Streams: 2, Memory: 1 << 20},
		rcmgr.BaseLimitIncrease{})

	both(holepunch.ServiceName, holepunch.Protocol,
		rcmgr.BaseLimit{StreamsInbound: 32, StreamsOutbound: 32, Streams: 64, Memory: 4 << 20},
		rcmgr.BaseLimitIncrease{StreamsInbound: 8, StreamsOutbound: 8, Streams: 16, Memory: 4 << 20})
	bothPeer(holepunch.ServiceName, holepunch.Protocol,
		rcmgr.BaseLimit{StreamsInbound: 2, StreamsOutbound: 2, Streams: 2, Memory: 1 << 20},
		rcmgr.BaseLimitIncrease{})

	c.AddServiceLimit(relayv2.ServiceName,
		rcmgr.BaseLimit{StreamsInbound: 256, StreamsOutbound: 256, Streams: 256, Memory: 16 << 20},
		rcmgr.BaseLimitIncrease{StreamsInbound: 256, StreamsOutbound: 256, Streams: 256, Memory: 16 << 20})
	c.AddServicePeerLimit(relayv2.ServiceName,
		rcmgr.BaseLimit{StreamsInbound: 64, StreamsOutbound: 64, Streams: 64, Memory: 1 << 20},
		rcmgr.BaseLimitIncrease{})
	for _, proto := range [...]protocol.ID{circuit.ProtoIDv2Hop, circuit.ProtoIDv2Stop} {
		c.AddProtocolLimit(proto,
			rcmgr.BaseLimit{StreamsInbound: 640, StreamsOutbound: 640, Streams: 640, Memory: 16 << 20},
			rcmgr.BaseLimitIncrease{StreamsInbound: 640, StreamsOutbound: 640, Streams: 640, Memory: 16 << 20})
		c.AddProtocolPeerLimit(proto,
			rcmgr.BaseLimit{StreamsInbound: 128, StreamsOutbound: 128, Streams: 128, Memory: 32 << 20},
			rcmgr.BaseLimitIncrease{})
	}
}
