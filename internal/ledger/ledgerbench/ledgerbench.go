// Package ledgerbench measures the replicated ledger: three voters on
// loopback, each a real libp2p host and ledger.Service in this process,
// under many concurrent clients (peerpath-bench ledger). It is a harness:
// the daemon does not link it (internal/deptest).
package ledgerbench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"

	"github.com/peerpath/peerpath/internal/ledger"
	"github.com/peerpath/peerpath/internal/p2p"
)

// Result is what Bench measured.
type Result struct {
	N        int           `json:"n"`        // transfers committed
	TPS      float64       `json:"tps"`      // transfers per second
	P50      time.Duration `json:"p50"`      // median submit-to-receipt latency
	P99      time.Duration `json:"p99"`      // 99th percentile latency
	Elapsed  time.Duration `json:"elapsed"`  // wall time for all n
	Failures int           `json:"failures"` // transfers that did not commit
}

// node is one in-process ledger voter on loopback.
type node struct {
	host host.Host
	svc  *ledger.Service
	stop context.CancelFunc
	done chan error
}

// startNode starts a loopback host with key and a ledger service on it.
func startNode(key crypto.PrivKey, cfg ledger.Config) (*node, error) {
	h, err := p2p.NewLoopbackHost(key)
	if err != nil {
		return nil, fmt.Errorf("ledgerbench: loopback host: %w", err)
	}
	cfg.Host = h
	ctx, cancel := context.WithCancel(context.Background())
	svc, err := ledger.New(ctx, cfg)
	if err != nil {
		cancel()
		h.Close()
		return nil, err
	}
	n := &node{host: h, svc: svc, stop: cancel, done: make(chan error, 1)}
	go func() { n.done <- svc.Serve(ctx) }()
	return n, nil
}

// close stops the service, then the host.
func (n *node) close() error {
	n.stop()
	err := <-n.done
	if cerr := n.host.Close(); err == nil {
		err = cerr
	}
	return err
}

// waitLeader waits until one of nodes leads and all of them know it.
func waitLeader(ctx context.Context, nodes []*node) (*node, error) {
	for {
		var leader *node
		for _, n := range nodes {
			if n.svc.IsLeader() {
				leader = n
			}
		}
		if leader != nil {
			agree := true
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
			return nil, fmt.Errorf("ledgerbench: no leader: %w", ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// startCluster starts a voter for each key in dirs under base, introduces
// them to each other and creates a ledger with genesis on the first.
func startCluster(ctx context.Context, base string, keys []crypto.PrivKey, genesis ledger.Genesis) ([]*node, error) {
	ids := make([]peer.ID, len(keys))
	for i, k := range keys {
		id, err := peer.IDFromPrivateKey(k)
		if err != nil {
			return nil, err
		}
		ids[i] = id
	}
	var nodes []*node
	fail := func(err error) ([]*node, error) {
		for _, n := range nodes {
			_ = n.close()
		}
		return nil, err
	}
	for i, k := range keys {
		n, err := startNode(k, ledger.Config{Dir: filepath.Join(base, fmt.Sprintf("voter%d", i)), Voter: true, Voters: ids,
			Logger: slog.New(slog.DiscardHandler),
			// A starved leader must not lose its lease mid-run.
			ElectionTimeout: time.Second})
		if err != nil {
			return fail(err)
		}
		nodes = append(nodes, n)
	}
	for _, a := range nodes {
		for _, b := range nodes {
			if a != b {
				a.host.Peerstore().AddAddrs(b.host.ID(), b.host.Addrs(), peerstore.PermanentAddrTTL)
			}
		}
	}
	if err := nodes[0].svc.Create(ctx, ids, genesis); err != nil {
		return fail(err)
	}
	if _, err := waitLeader(ctx, nodes); err != nil {
		return fail(err)
	}
	return nodes, nil
}

// DefaultClients is the number of concurrent clients Bench runs.
const DefaultClients = 128

// Bench runs three voters on loopback in a temporary directory, submits n
// pre-signed transfers on the leader from DefaultClients concurrent
// clients, and reports throughput and submit-to-receipt latency (signing
// is done before the clock starts; every voter still checks every
// signature).
func Bench(ctx context.Context, n int) (Result, error) {
	return BenchClients(ctx, n, DefaultClients)
}

// BenchClients is Bench with the number of concurrent clients given. More
// clients raise throughput until the voters saturate, and latency with it
// (latency ~ clients / throughput).
func BenchClients(ctx context.Context, n, clients int) (Result, error) {
	if n <= 0 || clients <= 0 {
		return Result{}, errors.New("ledgerbench: n and clients must be positive")
	}
	base, err := os.MkdirTemp("", "peerpath-ledger-bench-")
	if err != nil {
		return Result{}, fmt.Errorf("ledgerbench: %w", err)
	}
	defer os.RemoveAll(base)

	const payers = 64
	keys := make([]crypto.PrivKey, 3+payers)
	accts := make([]string, len(keys))
	genesis := ledger.Genesis{Balances: map[string]int64{}}
	for i := range keys {
		k, _, err := crypto.GenerateEd25519Key(nil)
		if err != nil {
			return Result{}, fmt.Errorf("ledgerbench: %w", err)
		}
		keys[i] = k
		id, _ := peer.IDFromPrivateKey(k)
		accts[i] = id.String()
		if i >= 3 {
			genesis.Balances[accts[i]] = 1_000_000 * ledger.MicroPerCredit
		}
	}
	nodes, err := startCluster(ctx, base, keys[:3], genesis)
	if err != nil {
		return Result{}, err
	}
	defer func() {
		for _, nd := range nodes {
			_ = nd.close()
		}
	}()
	leader, err := waitLeader(ctx, nodes)
	if err != nil {
		return Result{}, err
	}

	rng := rand.New(rand.NewPCG(1, 2))
	txs := make([]ledger.SignedTransfer, n)
	for i := range txs {
		from := 3 + i%payers
		to := 3 + rng.IntN(payers)
		if to == from {
			to = 3 + (to-3+1)%payers
		}
		txs[i], err = ledger.NewTransfer(keys[from], accts[to], 1+int64(rng.IntN(1000)), "bench", "")
		if err != nil {
			return Result{}, err
		}
	}

	workers := clients
	lat := make([]time.Duration, n)
	failed := make([]bool, n)
	work := make(chan int)
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				t0 := time.Now()
				_, err := leader.svc.Submit(ctx, txs[i])
				lat[i] = time.Since(t0)
				failed[i] = err != nil
			}
		}()
	}
	for i := range txs {
		select {
		case work <- i:
		case <-ctx.Done():
		}
	}
	close(work)
	wg.Wait()
	elapsed := time.Since(start)
	res := Result{Elapsed: elapsed}
	var ok []time.Duration
	for i := range lat {
		if failed[i] {
			res.Failures++
		} else {
			ok = append(ok, lat[i])
		}
	}
	res.N = len(ok)
	if len(ok) == 0 {
		return res, fmt.Errorf("ledgerbench: no transfer committed: %w", ctx.Err())
	}
	slices.Sort(ok)
	res.TPS = float64(len(ok)) / elapsed.Seconds()
	res.P50 = ok[len(ok)/2]
	res.P99 = ok[min(len(ok)-1, len(ok)*99/100)]
	return res, nil
}
