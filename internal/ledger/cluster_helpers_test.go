package ledger

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"

	"github.com/peerpath/peerpath/internal/p2p"
)

// benchNode is one in-process ledger node on loopback, for the tests
// (package ledgerbench has its own, over the exported API).
type benchNode struct {
	key  crypto.PrivKey
	host host.Host
	svc  *Service
	stop context.CancelFunc
	done chan error
}

// newLoopbackHost starts a libp2p host on 127.0.0.1 (TCP only).
func newLoopbackHost(key crypto.PrivKey) (host.Host, error) {
	h, err := p2p.NewLoopbackHost(key)
	if err != nil {
		return nil, fmt.Errorf("ledger: loopback host: %w", err)
	}
	return h, nil
}

// startNode starts a host and a ledger service on it, serving until
// stopNode.
func startNode(key crypto.PrivKey, cfg Config) (*benchNode, error) {
	h, err := newLoopbackHost(key)
	if err != nil {
		return nil, err
	}
	cfg.Host = h
	ctx, cancel := context.WithCancel(context.Background())
	svc, err := New(ctx, cfg)
	if err != nil {
		cancel()
		h.Close()
		return nil, err
	}
	n := &benchNode{key: key, host: h, svc: svc, stop: cancel, done: make(chan error, 1)}
	go func() { n.done <- svc.Serve(ctx) }()
	return n, nil
}

// close stops the service, then the host.
func (n *benchNode) close() error {
	n.stop()
	err := <-n.done
	if cerr := n.host.Close(); err == nil {
		err = cerr
	}
	return err
}

// introduce adds every node's addresses to every other node's peerstore.
func introduce(nodes ...*benchNode) {
	for _, a := range nodes {
		for _, b := range nodes {
			if a != b {
				a.host.Peerstore().AddAddrs(b.host.ID(), b.host.Addrs(), peerstore.PermanentAddrTTL)
			}
		}
	}
}

// waitLeader waits until one of nodes leads and all of them know it.
func waitLeader(ctx context.Context, nodes []*benchNode) (*benchNode, error) {
	for {
		var leader *benchNode
		agree := true
		for _, n := range nodes {
			if n.svc.IsLeader() {
				leader = n
			}
		}
		if leader != nil {
			for _, n := range nodes {
				st, err := n.svc.Status(ctx)
				if err != nil || st.Leader != leader.host.ID().String() {
					agree = false
				}
			}
			if agree {
				return leader, nil
			}
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("ledger: no leader: %w", ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// startCluster starts len(keys) voters in dirs under base and creates a
// ledger with genesis on the first.
func startCluster(ctx context.Context, base string, keys []crypto.PrivKey, genesis Genesis, tune func(*Config)) ([]*benchNode, error) {
	ids := make([]peer.ID, len(keys))
	for i, k := range keys {
		id, err := peer.IDFromPrivateKey(k)
		if err != nil {
			return nil, err
		}
		ids[i] = id
	}
	var nodes []*benchNode
	fail := func(err error) ([]*benchNode, error) {
		for _, n := range nodes {
			_ = n.close()
		}
		return nil, err
	}
	for i, k := range keys {
		cfg := Config{Dir: filepath.Join(base, fmt.Sprintf("voter%d", i)), Voter: true, Voters: ids,
			Logger: slog.New(slog.DiscardHandler), ElectionTimeout: 300 * time.Millisecond}
		if tune != nil {
			tune(&cfg)
		}
		n, err := startNode(k, cfg)
		if err != nil {
			return fail(err)
		}
		nodes = append(nodes, n)
	}
	introduce(nodes...)
	if err := nodes[0].svc.Create(ctx, ids, genesis); err != nil {
		return fail(err)
	}
	if _, err := waitLeader(ctx, nodes); err != nil {
		return fail(err)
	}
	return nodes, nil
}
