// Package tunnel shares local TCP services with chosen peers: the printer's
// IPP port, a game server, an SSH server, a web app, reached by the peers
// the owner names as if it ran on their own machine, with no port
// forwarding and no central relay.
//
// # Exposing
//
// The owner exposes a service under a name ([Service.Expose]): the TCP
// address it listens on (loopback or a private LAN address, checked by
// [CheckAddr]; a host name is refused, since DNS may point anywhere) and
// the peers allowed to use it. Exposures are kept in one JSON file
// (Config.Path, written atomically) and loaded again at start, with the
// bytes each peer moved through each service.
//
// # The protocol
//
// A peer that wants a service opens a stream of [Protocol] and sends one
// length-prefixed JSON [Request] (p2p framing, at most [MaxRequest] bytes,
// within p2p.FirstRequestTimeout): "list" (what do you offer me) or "open"
// a service by name. The handler decides with the stream's authenticated
// remote peer id, never with anything the request says: a peer not on the
// service's allowlist gets a refusal ([Response].Error, "not offered to
// you", the same answer as for a service that does not exist, so names do
// not leak) and the owner's log says who tried; the TCP address is dialled
// only after that check. An allowed peer takes a slot of
// peerlimit.Slots (per peer, per connection and in all) for as long as its
// connection lives, so no peer holds more than its share. After an "ok"
// answer the stream carries the connection's bytes both ways, unframed.
//
// # Forwarding
//
// Bytes are copied through a 32 KiB buffer per direction that becomes a
// 256 KiB one when a read fills it (a bulk copy; at most 256 big buffers
// in the process, so memory stays bounded however many connections are
// open): the libp2p stream's flow control (yamux windows) and TCP's
// push back on a fast sender, so nothing buffers without bound. A side
// that finishes sending closes its write half (CloseWrite on the stream,
// on the TCP connection), so half-closed protocols (an HTTP/1.0 client, a
// bulk copy that waits for the answer) behave as over plain TCP.
// Connections are long-lived: nothing closes an idle one. Revoking a
// peer ([Service.Deny], [Service.Remove]) resets its open streams at once.
//
// The consumer's side ([Service.Connect]) listens on a loopback port and
// forwards each accepted TCP connection over a stream of its own. It asks
// the owner first ("list") so a refusal is reported at connect time, not
// as a silently closed connection later.
//
// # Metering
//
// Both ends count the bytes of each connection per service and peer
// (shown by [Service.List] and [Service.Forwards]). A priced service's bytes
// also go to the node's traffic meter ([Meter]): the owner counts them as
// sent to the consumer, the consumer as received from the owner, so the
// consumer's signed traffic receipts pay for them exactly as for
// downloaded chunks. A consumer connects to a priced service only if its
// own traffic price (what its receipts pay) is at least the service's.
package tunnel
