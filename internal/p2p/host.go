package p2p

import (
	"crypto/rand"
	"fmt"

	"github.com/libp2p/go-libp2p/config"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/core/transport"
	"github.com/libp2p/go-libp2p/p2p/host/autonat"
	"github.com/libp2p/go-libp2p/p2p/host/peerstore/pstoremem"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	yamux "github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	"github.com/libp2p/go-libp2p/p2p/net/connmgr"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
	tptu "github.com/libp2p/go-libp2p/p2p/net/upgrader"
	circuit "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/proto"
	relayv2 "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/relay"
	"github.com/libp2p/go-libp2p/p2p/protocol/holepunch"
	"github.com/libp2p/go-libp2p/p2p/protocol/identify"
	"github.com/libp2p/go-libp2p/p2p/protocol/ping"
	noise "github.com/libp2p/go-libp2p/p2p/security/noise"
	libp2ptls "github.com/libp2p/go-libp2p/p2p/security/tls"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"
	"go.uber.org/fx"
)

// Hosts are built through go-libp2p's config package, not its root package
// (libp2p.New and the option functions). The root package's defaults name
// the WebSocket, WebTransport and WebRTC transports, so merely importing it
// links them, and everything they use (pion's WebRTC stack, HTTP/3), into
// the binary: 5.8 MB of a 60.6 MB daemon that never enables them. A
// daemon's idle resident memory grows with its binary (see
// docs/performance.md), so peerpath fills in [config.Config] itself. For
// a node's host ([New]) the fields set are exactly what the root package's
// options and FallbackDefaults set for the options peerpath used before.

// newHostConfig returns the settings shared by every peerpath host: the
// identity, TLS then Noise, yamux, the TCP transport (plus extra
// transports), an in-memory peerstore, and go-libp2p's default black-hole
// detectors. It does not listen: callers listen address by address.
func newHostConfig(key crypto.PrivKey, extra ...any) (*config.Config, error) {
	ps, err := pstoremem.NewPeerstore()
	if err != nil {
		return nil, fmt.Errorf("p2p: peerstore: %w", err)
	}
	cfg := &config.Config{
		PeerKey: key,
		// TLS first: it is faster than Noise on this kind of machine; both
		// are offered so any libp2p peer can connect.
		SecurityTransports: []config.Security{
			{ID: libp2ptls.ID, Constructor: libp2ptls.New},
			{ID: noise.ID, Constructor: noise.New},
		},
		Muxers:      []tptu.StreamMuxer{{ID: yamux.ID, Muxer: yamux.DefaultTransport}},
		ListenAddrs: []ma.Multiaddr{},
		Peerstore:   ps,
		// go-libp2p's defaults: a network where 5 of 100 dials succeed is
		// not a black hole.
		UDPBlackHoleSuccessCounter:        &swarm.BlackHoleSuccessCounter{N: 100, MinSuccesses: 5, Name: "UDP"},
		CustomUDPBlackHoleSuccessCounter:  true,
		IPv6BlackHoleSuccessCounter:       &swarm.BlackHoleSuccessCounter{N: 100, MinSuccesses: 5, Name: "IPv6"},
		CustomIPv6BlackHoleSuccessCounter: true,
		// Relay off unless the caller turns it on (as libp2p.NoListenAddrs
		// does).
		RelayCustom: true,
	}
	for _, ctor := range append([]any{tcp.NewTCPTransport}, extra...) {
		cfg.Transports = append(cfg.Transports, fx.Provide(fx.Annotate(ctor,
			fx.As(new(transport.Transport)),
			fx.ResultTags(`group:"transport"`),
		)))
	}
	return cfg, nil
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
	cfg, err := newHostConfig(key)
	if err != nil {
		return nil, err
	}
	if cfg.ResourceManager, err = newResourceManager(false); err != nil {
		return nil, err
	}
	if cfg.ConnManager, err = connmgr.NewConnManager(DefaultLowWater, DefaultHighWater); err != nil {
		_ = cfg.ResourceManager.Close()
		return nil, fmt.Errorf("p2p: connection manager: %w", err)
	}
	cfg.DisableMetrics = true
	cfg.ListenAddrs = []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/tcp/0")}
	h, err := cfg.NewNode()
	if err != nil {
		// NewNode closes the resource and connection managers on error.
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
