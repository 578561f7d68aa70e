// Package p2p is the libp2p foundation every peerpath service builds on: the
// node's identity, its libp2p host, the Kademlia DHT, GossipSub, LAN
// discovery, private networks, and the framing of control messages.
//
// # Using it
//
// Build a [Node] with [New] from a [Config], run its background work with
// [Node.Serve] under the daemon's supervisor, and stop it with [Node.Close].
// Services register stream handlers on [Node.Host], route through [Node.DHT]
// and broadcast through [Node.PubSub]. Every protocol frames its control
// messages with [WriteMsg] and [ReadMsg], which bound a message's size
// before reading it.
//
// # Design choices
//
// Transports and security. A node listens on TCP and QUIC (port 4101 by
// default, IPv4 and IPv6). Connections are secured by TLS 1.3 or Noise and
// multiplexed by yamux. TLS is offered first because on our machines one
// TCP+TLS+yamux stream moves 0.75-0.82 GB/s against 0.70-0.76 GB/s for Noise
// and about 0.3 GB/s for QUIC (see DESIGN.md); Noise is kept so any libp2p
// peer can connect, and QUIC for NAT traversal. For the same reason dials
// try TCP first and QUIC 250 ms later (go-libp2p's default ranker does the
// opposite), so two nodes that both offer TCP end up on TCP. No WebSocket,
// WebRTC or WebTransport: nothing in peerpath runs in a browser. The host
// is assembled from go-libp2p's parts (swarm, upgrader, transports, basic
// host, AutoNAT, AutoRelay; host.go) rather than through libp2p.New or
// go-libp2p's config package: the root package links those three
// transports into any binary that imports it, and the config package
// links the WebRTC transport (pion) and go.uber.org/fx, whose code and
// package initialisation cost an idle daemon resident memory (see
// docs/performance.md). host.go builds what config.NewNode built for the
// same settings, in the same order. [NewLoopbackHost] gives in-process
// test and benchmark clusters a bare host built the same way.
//
// Our own network. The DHT uses the protocol prefix [DHTPrefix]
// ("/peerpath"), so peerpath nodes form their own Kademlia network and never
// join IPFS's, and there are no built-in bootstrap peers: a node meets the
// network through [Config.Bootstrap], mDNS or an explicit [Node.Connect].
// Every node runs the DHT in server mode: peers are equal, and in small
// networks (a LAN, a test) every node must answer queries. The DHT's value
// store has no record validators, so it serves peer and provider routing
// only.
//
// Discovery. A node that knows a single bootstrap peer learns the rest of
// the network through the DHT: once connected, Serve looks up its own ID
// (which returns, and connects it to, its neighbours in the key space, and
// makes it known to them) and a random ID (a random walk that fills the far
// buckets). Rounds start every 2 s and back off to every 5 min while they
// bring no new peers. Bootstrap peers are redialled with exponential backoff
// while the node has few peers, and left alone otherwise so they are not
// overloaded. Our own dials (bootstrap, mDNS, [Node.Connect]) skip the
// swarm's per-address dial backoff: the caller or Serve decides when to
// retry, and a user retrying by hand should get a real dial, not a cached
// failure. On a LAN, mDNS (service name [MDNSServiceName]) finds peers with
// no configuration at all; such peers are reported as LAN peers. Two nodes
// that start together find each other in the same instant, and if both
// dialled, their TCP dials from the listen ports would cross into one
// connection on which both act as TLS clients: so the lower peer ID dials,
// the other dials only if no connection arrives within 2 s, and a failed
// LAN dial is retried within a second or so (five dials, backing off),
// without waiting for mDNS to report the peer again. A node that
// listens on loopback only is unreachable from the LAN, so it runs mDNS only
// where every multicast interface is a loopback one (a network namespace
// made for tests): mDNS announces on every multicast interface, and must not
// send packets off the machine for a node nobody there could reach.
//
// Private networks. With [Config.SwarmKey] (a standard libp2p swarm.key)
// every connection is wrapped by libp2p's pnet protector before any other
// byte is exchanged, so nodes without the key cannot even complete a
// handshake, in either direction. Such a handshake may stall rather than
// fail (each side reads the other's bytes as noise), so a dial to a node on
// another network ends at the caller's deadline; [Node.Connect] then says
// that another private network is one possible cause. pnet protects stream
// transports only, so such a node drops its QUIC addresses.
// [Config.AllowPeers] adds a connection gater that refuses every other peer
// ID: outbound dials are refused before a packet is sent, inbound ones right
// after the security handshake proves the remote identity.
//
// Limits. The resource manager runs with go-libp2p's default limits scaled
// to the machine (1/8 of its memory, half its file descriptors), except that
// the per-peer stream limits are raised (1024 inbound streams per peer, 512
// per protocol and peer, where IPFS's defaults allow about 70 per protocol
// and peer): a swarm download legitimately holds hundreds of streams of one
// protocol to one peer. Loopback connections are exempt from its per-IP
// limits, so tests with many local nodes work. The connection manager trims
// to [Config.LowWater] above [Config.HighWater]. Remote input on our own
// protocols is bounded by [ReadMsg]'s limit, checked before any allocation.
//
// Ports. go-libp2p listens on TCP with SO_REUSEPORT (hole punching dials
// from the listen port), which would let a second node bind a fixed port
// that another node already serves and silently share its connections; New
// first binds each fixed TCP port once without it, so a port in use is an
// error. The default IPv6 addresses are best effort (a host without IPv6
// still starts); every other listen failure is an error.
//
// NAT traversal. AutoNAT (v1, whose result is [Status].Reachability, and v2
// for individual addresses) tells the node whether it is reachable; as peers
// are equal, every node also answers the others' AutoNAT requests. Hole
// punching (DCUtR) upgrades relayed connections to direct ones, and the
// relay client can use relays that other peers offer; a node offers no relay
// service by default. UPnP / NAT-PMP port mapping is tried only when some
// listen address is not a loopback address and [Config.NoPortMap] is false:
// it sends SSDP multicast on the LAN, so tests that listen on 0.0.0.0 must
// set NoPortMap.
//
// GossipSub. The router is built with peer scoring on, because per-topic
// score parameters (Topic.SetScoreParams) can only be attached to a router
// that scores. The global parameters penalise protocol misbehaviour and many
// peers behind one public IP (LAN and loopback addresses exempt). Topics
// find their peers through DHT provider records (pubsub's discovery option),
// and peer exchange on PRUNE helps meshes heal.
//
// Observability. A bandwidth counter feeds [Node.Status] and
// [Node.RegisterMetrics]; the Prometheus collector reads the host's state at
// scrape time, so nothing runs between scrapes. go-libp2p's own detailed
// metrics are off unless [Config.LibP2PMetrics] names a registry, because
// they register on a process-wide registry by default.
package p2p
