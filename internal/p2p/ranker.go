package p2p

import (
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	ma "github.com/multiformats/go-multiaddr"
)

// quicAfterTCP is how long a dial waits for TCP before it also tries QUIC.
const quicAfterTCP = 250 * time.Millisecond

// tcpFirstRanker orders dial attempts TCP first. go-libp2p's default ranker
// prefers QUIC (it delays TCP by 250 ms), but on our machines one stream
// over TCP+TLS+yamux moves about 2.5 times what one QUIC stream does, and
// bulk transfer is what peerpath does most. QUIC addresses are still dialed,
// 250 ms later, so a peer whose TCP port is unreachable (UDP-only NAT
// mapping, firewall) is still reached; relayed addresses come last, 500 ms
// after the direct ones; anything else (if ever present) waits 1 s.
func tcpFirstRanker(addrs []ma.Multiaddr) []network.AddrDelay {
	var tcp, quic, relay, other []ma.Multiaddr
	for _, a := range addrs {
		switch {
		case hasProto(a, ma.P_CIRCUIT):
			relay = append(relay, a)
		case hasProto(a, ma.P_TCP) && !hasProto(a, ma.P_WS) && !hasProto(a, ma.P_WSS):
			tcp = append(tcp, a)
		case hasProto(a, ma.P_QUIC_V1) && !hasProto(a, ma.P_WEBTRANSPORT):
			quic = append(quic, a)
		default:
			other = append(other, a)
		}
	}
	out := make([]network.AddrDelay, 0, len(addrs))
	var quicDelay time.Duration
	if len(tcp) > 0 {
		quicDelay = quicAfterTCP
	}
	for _, a := range tcp {
		out = append(out, network.AddrDelay{Addr: a})
	}
	for _, a := range quic {
		out = append(out, network.AddrDelay{Addr: a, Delay: quicDelay})
	}
	direct := len(tcp)+len(quic) > 0
	for _, a := range other {
		d := time.Duration(0)
		if direct {
			d = quicDelay + time.Second
		}
		out = append(out, network.AddrDelay{Addr: a, Delay: d})
	}
	for _, a := range relay {
		d := time.Duration(0)
		if direct || len(other) > 0 {
			d = quicDelay + 500*time.Millisecond
		}
		out = append(out, network.AddrDelay{Addr: a, Delay: d})
	}
	return out
}

func hasProto(a ma.Multiaddr, code int) bool {
	_, err := a.ValueForProtocol(code)
	return err == nil
}
