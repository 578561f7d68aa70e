package compute

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/peerpath/peerpath/internal/compute/memcontent"
	"github.com/peerpath/peerpath/internal/compute/sandbox"
	"github.com/peerpath/peerpath/internal/p2p"
	"github.com/peerpath/peerpath/internal/store"
)

// loopNode is one in-process node on loopback (a libp2p host, GossipSub, a
// database and a store in an in-memory content network) that runs a
// compute Service, for the tests (package computebench has its own, over
// the exported API).
type loopNode struct {
	h       host.Host
	content *memcontent.Store
	ps      *pubsub.PubSub
	psStop  context.CancelFunc
	dbPath  string
	db      *store.DB
	svc     *Service
	stop    context.CancelFunc
	done    chan error
}

// newLoopNode starts a host with GossipSub on 127.0.0.1, opens a database
// in dir and joins the content network cn.
func newLoopNode(dir string, cn *memcontent.Net) (*loopNode, error) {
	h, err := p2p.NewLoopbackHost(nil)
	if err != nil {
		return nil, fmt.Errorf("compute: loopback host: %w", err)
	}
	psCtx, psStop := context.WithCancel(context.Background())
	ps, err := pubsub.NewGossipSub(psCtx, h)
	if err != nil {
		psStop()
		h.Close()
		return nil, fmt.Errorf("compute: gossipsub: %w", err)
	}
	n := &loopNode{h: h, content: cn.Node(h.ID()), ps: ps, psStop: psStop, dbPath: filepath.Join(dir, h.ID().String()+".db")}
	if n.db, err = store.Open(n.dbPath); err != nil {
		psStop()
		h.Close()
		return nil, err
	}
	return n, nil
}

// start creates and serves the node's Service. tweak, if not nil, adjusts
// it before it serves.
func (n *loopNode) start(runner *sandbox.Runner, wc WorkerConfig, payer Payer, log *slog.Logger, tune tunables, tweak func(*Service)) error {
	if n.svc != nil {
		return errors.New("compute: service already running")
	}
	if n.db == nil {
		db, err := store.Open(n.dbPath)
		if err != nil {
			return err
		}
		n.db = db
	}
	ctx, cancel := context.WithCancel(context.Background())
	svc, err := New(ctx, Config{Host: n.h, PubSub: n.ps, DB: n.db, Content: n.content, Runner: runner, Payer: payer, Logger: log, Worker: wc})
	if err != nil {
		cancel()
		return err
	}
	svc.tune = tune
	if tweak != nil {
		tweak(svc)
	}
	n.svc, n.stop, n.done = svc, cancel, make(chan error, 1)
	go func() { n.done <- svc.Serve(ctx) }()
	return nil
}

// stopService stops the Service and closes the database (the host stays).
func (n *loopNode) stopService() error {
	var err error
	if n.svc != nil {
		n.stop()
		err = <-n.done
		n.svc = nil
	}
	if n.db != nil {
		err = errors.Join(err, n.db.Close())
		n.db = nil
	}
	return err
}

// close stops everything.
func (n *loopNode) close() error {
	err := n.stopService()
	n.psStop()
	return errors.Join(err, n.h.Close())
}

// connectAll connects every pair of nodes.
func connectAll(ctx context.Context, nodes []*loopNode) error {
	for i, a := range nodes {
		for _, b := range nodes[i+1:] {
			if err := a.h.Connect(ctx, peer.AddrInfo{ID: b.h.ID(), Addrs: b.h.Addrs()}); err != nil {
				return fmt.Errorf("compute: connecting nodes: %w", err)
			}
		}
	}
	return nil
}

// waitJob polls svc until job id is finished or ctx ends.
func waitJob(ctx context.Context, svc *Service, id string) (JobStatus, error) {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		st, err := svc.Status(ctx, id)
		if err != nil {
			return st, err
		}
		if st.State == StateDone || st.State == StateFailed || st.State == StateCancelled {
			return st, nil
		}
		select {
		case <-ctx.Done():
			return st, fmt.Errorf("compute: job %s still %s (%d/%d validated): %w", id, st.State, st.Validated, st.Units, ctx.Err())
		case <-t.C:
		}
	}
}
