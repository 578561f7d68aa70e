package p2p

import (
	"fmt"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
	"github.com/prometheus/client_golang/prometheus"
)

// PeerInfo describes one connected peer.
type PeerInfo struct {
	// ID is the peer's ID.
	ID string `json:"id"`
	// Addrs are the remote addresses of the open connections to the peer.
	Addrs []string `json:"addrs"`
	// LatencyMS is the smoothed round-trip time in milliseconds, 0 if not
	// yet measured.
	LatencyMS float64 `json:"latency_ms"`
	// LAN is true for a peer found by mDNS or connected over a private or
	// loopback address.
	LAN bool `json:"lan"`
}

// Status summarises the node's network state.
type Status struct {
	// Peers is the number of connected peers.
	Peers int `json:"peers"`
	// RoutingTable is the number of peers in the DHT routing table.
	RoutingTable int `json:"routing_table"`
	// Reachability is "public", "private" or "unknown", as last reported by
	// AutoNAT.
	Reachability string `json:"reachability"`
	// BytesIn and BytesOut count all bytes received and sent since start.
	BytesIn  int64 `json:"bytes_in"`
	BytesOut int64 `json:"bytes_out"`
	// RateIn and RateOut are the recent receive and send rates in bytes/s.
	RateIn  float64 `json:"rate_in"`
	RateOut float64 `json:"rate_out"`
}

// FoundOnLAN reports whether mDNS announced id on the local network (of
// the last [mdnsMaxKnown] peers announced): a neighbour.
func (n *Node) FoundOnLAN(id peer.ID) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.lan[id]
}

// Peers lists the connected peers, sorted by ID.
func (n *Node) Peers() []PeerInfo {
	ps := n.h.Peerstore()
	n.mu.Lock()
	lan := make(map[peer.ID]bool, len(n.lan))
	for id, v := range n.lan {
		lan[id] = v
	}
	n.mu.Unlock()

	ids := n.h.Network().Peers()
	out := make([]PeerInfo, 0, len(ids))
	for _, id := range ids {
		conns := n.h.Network().ConnsToPeer(id)
		if len(conns) == 0 {
			continue
		}
		info := PeerInfo{ID: id.String(), LAN: lan[id], Addrs: make([]string, 0, len(conns))}
		for _, c := range conns {
			ra := c.RemoteMultiaddr()
			info.Addrs = append(info.Addrs, ra.String())
			if isLANAddr(ra) {
				info.LAN = true
			}
		}
		slices.Sort(info.Addrs)
		info.Addrs = slices.Compact(info.Addrs)
		info.LatencyMS = float64(ps.LatencyEWMA(id)) / float64(time.Millisecond)
		out = append(out, info)
	}
	slices.SortFunc(out, func(a, b PeerInfo) int {
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
	return out
}

func isLANAddr(a ma.Multiaddr) bool {
	return manet.IsPrivateAddr(a) || manet.IsIPLoopback(a)
}

// Status returns a snapshot of the node's network state.
func (n *Node) Status() Status {
	bw := n.bw.GetBandwidthTotals()
	n.mu.Lock()
	reach := n.reach
	n.mu.Unlock()
	return Status{
		Peers:        len(n.h.Network().Peers()),
		RoutingTable: n.dht.RoutingTable().Size(),
		Reachability: reachabilityString(reach),
		BytesIn:      bw.TotalIn,
		BytesOut:     bw.TotalOut,
		RateIn:       bw.RateIn,
		RateOut:      bw.RateOut,
	}
}

func reachabilityString(r network.Reachability) string {
	switch r {
	case network.ReachabilityPublic:
		return "public"
	case network.ReachabilityPrivate:
		return "private"
	default:
		return "unknown"
	}
}

// RegisterMetrics registers Prometheus metrics about this node with reg:
// connected peers, routing table size, bytes sent and received, transfer
// rates and open streams per protocol. Values are read from the host when
// reg is scraped. Register a node at most once per registry.
func (n *Node) RegisterMetrics(reg prometheus.Registerer) error {
	if err := reg.Register(&collector{n: n}); err != nil {
		return fmt.Errorf("p2p: register metrics: %w", err)
	}
	return nil
}

var (
	descPeers = prometheus.NewDesc("peerpath_p2p_connected_peers",
		"Number of connected peers.", nil, nil)
	descConns = prometheus.NewDesc("peerpath_p2p_connections",
		"Number of open connections by direction.", []string{"direction"}, nil)
	descRT = prometheus.NewDesc("peerpath_p2p_routing_table_peers",
		"Number of peers in the DHT routing table.", nil, nil)
	descBytes = prometheus.NewDesc("peerpath_p2p_bytes_total",
		"Bytes transferred over libp2p since start, by direction.", []string{"direction"}, nil)
	descRate = prometheus.NewDesc("peerpath_p2p_rate_bytes_per_second",
		"Recent transfer rate over libp2p, by direction.", []string{"direction"}, nil)
	descStreams = prometheus.NewDesc("peerpath_p2p_open_streams",
		"Open streams by protocol and direction.", []string{"protocol", "direction"}, nil)
	descReach = prometheus.NewDesc("peerpath_p2p_reachability",
		"1 for the node's current AutoNAT reachability (public, private or unknown).", []string{"reachability"}, nil)
)

// collector reads host state at scrape time.
type collector struct{ n *Node }

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descPeers, descConns, descRT, descBytes, descRate, descStreams, descReach} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	st := c.n.Status()
	ch <- prometheus.MustNewConstMetric(descPeers, prometheus.GaugeValue, float64(st.Peers))
	ch <- prometheus.MustNewConstMetric(descRT, prometheus.GaugeValue, float64(st.RoutingTable))
	ch <- prometheus.MustNewConstMetric(descBytes, prometheus.CounterValue, float64(st.BytesIn), "in")
	ch <- prometheus.MustNewConstMetric(descBytes, prometheus.CounterValue, float64(st.BytesOut), "out")
	ch <- prometheus.MustNewConstMetric(descRate, prometheus.GaugeValue, st.RateIn, "in")
	ch <- prometheus.MustNewConstMetric(descRate, prometheus.GaugeValue, st.RateOut, "out")
	for _, r := range []string{"public", "private", "unknown"} {
		v := 0.0
		if r == st.Reachability {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(descReach, prometheus.GaugeValue, v, r)
	}

	type key struct{ proto, dir string }
	streams := make(map[key]int)
	conns := map[string]int{"inbound": 0, "outbound": 0}
	for _, conn := range c.n.h.Network().Conns() {
		conns[dirString(conn.Stat().Direction)]++
		for _, s := range conn.GetStreams() {
			p := string(s.Protocol())
			if p == "" {
				p = "negotiating"
			}
			streams[key{p, dirString(s.Stat().Direction)}]++
		}
	}
	for d, v := range conns {
		ch <- prometheus.MustNewConstMetric(descConns, prometheus.GaugeValue, float64(v), d)
	}
	for k, v := range streams {
		ch <- prometheus.MustNewConstMetric(descStreams, prometheus.GaugeValue, float64(v), k.proto, k.dir)
	}
}

func dirString(d network.Direction) string {
	switch d {
	case network.DirInbound:
		return "inbound"
	case network.DirOutbound:
		return "outbound"
	default:
		return "unknown"
	}
}
