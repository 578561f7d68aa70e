package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/peerpath/peerpath/internal/p2p"
	"github.com/peerpath/peerpath/internal/storage"
	"github.com/peerpath/peerpath/internal/store"
)

// storeNode is one in-process storage service on a loopback host.
type storeNode struct {
	h  host.Host
	s  *storage.Service
	db *store.DB
}

func startStoreNodes(ctx context.Context, dir string, n int) ([]*storeNode, error) {
	nodes := make([]*storeNode, n)
	for i := range nodes {
		h, err := p2p.NewLoopbackHost(nil)
		if err != nil {
			return nil, err
		}
		d := filepath.Join(dir, fmt.Sprint(i))
		os.MkdirAll(d, 0o700)
		db, err := store.Open(filepath.Join(d, "db.sqlite"))
		if err != nil {
			return nil, err
		}
		s, err := storage.New(ctx, storage.Config{Host: h, DB: db, Dir: d, CheckEvery: -1})
		if err != nil {
			return nil, err
		}
		if i > 0 {
			s.SetOffer(ctx, storage.Offer{Bytes: 8 << 30, PerClient: 8 << 30})
		}
		nodes[i] = &storeNode{h, s, db}
	}
	for i, a := range nodes {
		for _, b := range nodes[i+1:] {
			if err := a.h.Connect(ctx, peer.AddrInfo{ID: b.h.ID(), Addrs: b.h.Addrs()}); err != nil {
				return nil, err
			}
		}
	}
	return nodes, nil
}

func (n *storeNode) close() { n.s.Close(); n.h.Close(); n.db.Close() }

// restoreAll gets every ref, four at a time, as a restore does.
func restoreAll(ctx context.Context, s *storage.Service, refs []storage.Ref) (time.Duration, error) {
	start := time.Now()
	sem := make(chan struct{}, 4)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for _, r := range refs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if _, err := s.Get(ctx, r); err != nil {
				mu.Lock()
				firstErr = err
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return time.Since(start), firstErr
}

// runStoreRestore measures a restore from 16 holders with 6 of them gone,
// against a single-source restore of the same bytes (one holder, k=1) in
// the same run, and the repair after 4 holders of 20 are lost.
func runStoreRestore(size int64, k, n int) error {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "peerpath-bench-store-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	const spare = 4
	nodes, err := startStoreNodes(ctx, dir, 1+n+spare)
	if err != nil {
		return err
	}
	defer func() {
		for _, nd := range nodes {
			nd.close()
		}
	}()
	owner := nodes[0]
	const obj = 3 << 20
	buf := make([]byte, obj)
	var refs, single []storage.Ref
	start := time.Now()
	for off := int64(0); off < size; off += obj {
		rand.Read(buf)
		r, err := owner.s.Put(ctx, buf, storage.PutOptions{K: k, N: n})
		if err != nil {
			return err
		}
		refs = append(refs, r)
	}
	put := time.Since(start)
	fmt.Printf("store restore, %d MiB in %d objects of 3 MiB, k=%d n=%d, %d storing peers on loopback, one process\n", size>>20, len(refs), k, n, n+spare)
	fmt.Printf("  put (encrypt, code, place):            %6.1f MB/s\n", float64(size)/put.Seconds()/1e6)

	// Single source: the same bytes, one full copy each on one peer (k=1,
	// n=2 on a separate pair whose second holder is stopped before the
	// restore), through the same protocol.
	pair, err := startStoreNodes(ctx, filepath.Join(dir, "pair"), 3)
	if err != nil {
		return err
	}
	defer func() {
		for _, nd := range pair {
			nd.close()
		}
	}()
	for off := int64(0); off < size; off += obj {
		rand.Read(buf)
		r, err := pair[0].s.Put(ctx, buf, storage.PutOptions{K: 1, N: 2})
		if err != nil {
			return err
		}
		single = append(single, r)
	}
	pair[2].h.Close()
	// Lose n-k holders of the coded objects.
	killed := 0
	for _, nd := range nodes[1:] {
		if killed < n-k {
			nd.h.Close()
			killed++
		}
	}
	base, err := restoreAll(ctx, pair[0].s, single)
	if err != nil {
		return fmt.Errorf("single-source restore: %w", err)
	}
	got, err := restoreAll(ctx, owner.s, refs)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	fmt.Printf("  single-source restore (limit):         %6.1f MB/s\n", float64(size)/base.Seconds()/1e6)
	fmt.Printf("  restore with %d of %d holders stopped:   %6.1f MB/s = %.2f× the single source (target ≥ 0.5×)\n",
		killed, n, float64(size)/got.Seconds()/1e6, base.Seconds()/got.Seconds())

	// Repair: the stopped holders' shares, rebuilt where healthy shares
	// fell to k+2.
	start = time.Now()
	rep, err := owner.s.CheckAll(ctx)
	if err != nil {
		return err
	}
	took := time.Since(start)
	shareSize := int64(refs[0].ShareSize())
	rebuilt := int64(rep.Repaired) * shareSize
	fmt.Printf("  check and repair: %d objects, %d shares rebuilt (%.1f MiB) in %.1f s", rep.Objects, rep.Repaired, float64(rebuilt)/(1<<20), took.Seconds())
	if rebuilt > 0 {
		fmt.Printf(" = %.1f s per GiB rebuilt (target ≤ 60 s); traffic in ≈ k × rebuilt = %.1f MiB", took.Seconds()/(float64(rebuilt)/(1<<30)), float64(int64(k)*rebuilt)/(1<<20))
	}
	fmt.Printf("; %d objects still below n\n", rep.Failing)
	return nil
}
