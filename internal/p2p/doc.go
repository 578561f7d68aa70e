// Package p2p is the libp2p foundation every peerpath service builds on: the
// node's identity, its libp2p host, the Kademlia DHT, GossipSub, LAN
// discovery, private networks, and the framing of control messages.
//
// # Using it
//
// Build a [Node] with [New] from a [Config], run its background work with
// [Node.Serve] under the daemon's supervisor, and stop it with [Node.Close].
// Services register stream handlers on [Node.Host], route through
// [Node.DHT] and broadcast through [Node.PubSub]. Every protocol frames its
// control messages with [WriteMsg] and [ReadMsg], which bound a message's
// size before reading it.
//
// # Design choices
//
// Transports and security. A node listens on TCP and QUIC (port 4101 by
// default, IPv4 and IPv6). Connections are secured by TLS 1.3 or Noise and
// multiplexed by yamux. TLS is offered first because on our machines one
// TCP+TLS+yamux stream moves 0.75-0.82 GB/s against 0.70-0.76 GB/s for
// Noise and about 0.3 GB/s for QUIC (see DESIGN.md); Noise is kept so any
// libp2p peer can connect, and QUIC for NAT traversal. No WebSocket, WebRTC
// or WebTransport: nothing in peerpath runs in a browser.
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
// overloaded. On a LAN, mDNS (service name [MDNSServiceName]) finds peers
// with no configuration at all; such peers are reported as LAN peers.
//
// Private networks. With [Config.SwarmKey] (a standard libp2p swarm.key)
// every connection is wrapped by libp2p's pnet protector before any other
// byte is exchanged, so nodes without the key cannot even complete a
// handshake, in either direction. pnet protects stream transports only, so
// such a node drops its QUIC addresses. [Config.AllowPeers] adds a
// connection gater that refuses every other peer ID: outbound dials are
// refused before a packet is sent, inbound ones right after the security
// handshake proves the remote identity.
//
// Limits. The resource manager runs with go-libp2p's default limits scaled
// to the machine (1/8 of its memory, half its file descriptors); loopback
// connections are exempt from its per-IP limits so tests with many local
// nodes work. The connection manager trims to [Config.LowWater] above
// [Config.HighWater]. Remote input on our own protocols is bounded by
// [ReadMsg]'s limit, checked before any allocation.
//
// NAT traversal. AutoNAT v2 tells the node whether it is reachable
// ([Status].Reachability), hole punching (DCUtR) upgrades relayed
// connections to direct ones, and the relay client can use relays that
// other peers offer; a node offers no relay service by default. UPnP port
// mapping is tried only when some listen address is not a loopback address.
//
// Observability. A bandwidth counter feeds [Node.Status] and
// [Node.RegisterMetrics]; the Prometheus collector reads the host's state at
// scrape time, so nothing runs between scrapes. go-libp2p's own detailed
// metrics are off unless [Config.LibP2PMetrics] names a registry, because
// they register on a process-wide registry by default.
package p2p
