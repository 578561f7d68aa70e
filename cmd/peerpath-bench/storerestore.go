package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/peerpath/peerpath/internal/content"
	"github.com/peerpath/peerpath/internal/p2p"
	"github.com/peerpath/peerpath/internal/storage"
	"github.com/peerpath/peerpath/internal/store"
	"github.com/peerpath/peerpath/internal/transfer"
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

// restoreAhead is the objects a restore fetches at once.
var restoreAhead = 4

// restoreAll gets every ref, restoreAhead at a time, as a restore does,
// and returns each Get's time too.
func restoreAll(ctx context.Context, s *storage.Service, refs []storage.Ref) (time.Duration, []time.Duration, error) {
	start := time.Now()
	sem := make(chan struct{}, restoreAhead)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	took := make([]time.Duration, len(refs))
	for i, r := range refs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			t0 := time.Now()
			_, err := s.Get(ctx, r)
			took[i] = time.Since(t0)
			if err != nil {
				mu.Lock()
				firstErr = err
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	slices.Sort(took)
	return time.Since(start), took, firstErr
}

// memSource serves one file's manifest and chunks from memory, for the
// single-source get the restore is compared with.
type memSource struct {
	manifest []byte
	id       cid.Cid
	chunks   map[cid.Cid][]byte
}

func newMemSource(data []byte) *memSource {
	fm := content.HashBytes(data, content.DefaultChunkSize)
	m := &memSource{manifest: fm.Encode(), id: fm.ID(), chunks: make(map[cid.Cid][]byte, len(fm.Chunks))}
	for i, id := range fm.Chunks {
		off, n := fm.ChunkRange(i)
		m.chunks[id] = data[off : off+n]
	}
	return m
}

func (m *memSource) Manifest(_ context.Context, id cid.Cid) ([]byte, error) {
	if id != m.id {
		return nil, transfer.ErrNotFound
	}
	return m.manifest, nil
}

func (m *memSource) Chunk(_ context.Context, id cid.Cid, buf []byte) ([]byte, error) {
	if b, ok := m.chunks[id]; ok {
		return b, nil
	}
	return nil, transfer.ErrNotFound
}

type oneProvider peer.AddrInfo

func (p oneProvider) FindProviders(context.Context, cid.Cid) ([]peer.AddrInfo, error) {
	return []peer.AddrInfo{peer.AddrInfo(p)}, nil
}

// singleGet times a get of data from one source over the block protocol,
// as peerpath get does it (the daemon's transfer service, writing and
// fsyncing the file), both ends in this process on loopback.
func singleGet(ctx context.Context, dir string, data []byte) (time.Duration, error) {
	hs, err := p2p.NewLoopbackHost(nil)
	if err != nil {
		return 0, err
	}
	defer hs.Close()
	hc, err := p2p.NewLoopbackHost(nil)
	if err != nil {
		return 0, err
	}
	defer hc.Close()
	src := newMemSource(data)
	server, err := transfer.New(transfer.Config{Host: hs, Source: src})
	if err != nil {
		return 0, err
	}
	sctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- server.Serve(sctx) }()
	defer func() { stop(); <-done }()
	client, err := transfer.New(transfer.Config{Host: hc, Finder: oneProvider{ID: hs.ID(), Addrs: hs.Addrs()}})
	if err != nil {
		return 0, err
	}
	if err := hc.Connect(ctx, peer.AddrInfo{ID: hs.ID(), Addrs: hs.Addrs()}); err != nil {
		return 0, err
	}
	time.Sleep(100 * time.Millisecond) // the server's handler is registered
	out := filepath.Join(dir, "get.out")
	start := time.Now()
	if _, err := client.Get(ctx, src.id, transfer.GetOptions{Output: out, Timeout: time.Minute}); err != nil {
		return 0, err
	}
	took := time.Since(start)
	os.Remove(out)
	return took, nil
}

// runStoreRestore measures a restore from n holders with n-k of them gone,
// against a single-source get of the same bytes in the same run, and the
// repair of the lost holders' shares.
func runStoreRestore(size int64, k, n int) error {
	ctx := context.Background()
	if v := os.Getenv("PEERPATH_BENCH_AHEAD"); v != "" {
		fmt.Sscan(v, &restoreAhead)
	}
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
	size = (size + obj - 1) / obj * obj
	data := make([]byte, size)
	rand.Read(data)
	var load [3]float64
	readLoad(&load)
	var refs []storage.Ref
	start := time.Now()
	for off := int64(0); off < size; off += obj {
		r, err := owner.s.Put(ctx, data[off:off+obj], storage.PutOptions{K: k, N: n})
		if err != nil {
			return err
		}
		refs = append(refs, r)
	}
	put := time.Since(start)
	fmt.Printf("store restore, %d MiB in %d objects of 3 MiB, k=%d n=%d, %d storing peers on loopback, one process, load average %.1f %.1f %.1f\n",
		size>>20, len(refs), k, n, n+spare, load[0], load[1], load[2])
	fmt.Printf("  put (encrypt, code, place):              %6.1f MB/s\n", float64(size)/put.Seconds()/1e6)

	// Lose n-k holders of the coded objects.
	killed := 0
	var lostShares int
	kill := n - k
	if v := os.Getenv("PEERPATH_BENCH_KILL"); v != "" {
		fmt.Sscan(v, &kill)
	}
	for _, nd := range nodes[1:] {
		if killed < kill {
			for _, r := range refs {
				for _, h := range r.Holders {
					if h == nd.h.ID().String() {
						lostShares++
					}
				}
			}
			nd.h.Close()
			killed++
		}
	}
	// PEERPATH_BENCH_PROFILE=FILE writes a CPU profile of the restores.
	if pf := os.Getenv("PEERPATH_BENCH_PROFILE"); pf != "" {
		f, err := os.Create(pf)
		if err != nil {
			return err
		}
		pprof.StartCPUProfile(f)
		defer f.Close()
	}
	// Rounds of the limit (the same bytes from one source by get) and the
	// restore, one after the other, so that both see the same machine: on
	// a shared one a single round says more about the load than the code.
	// The first restore also finds out which holders are stopped; later
	// ones (the steady state of a long restore) ask them last.
	rounds := 3
	if v := os.Getenv("PEERPATH_BENCH_ROUNDS"); v != "" {
		fmt.Sscan(v, &rounds)
	}
	gb := float64(size) / 1e9
	var wall, cpu []float64
	for r := range rounds {
		c0 := cpuTime()
		base, err := singleGet(ctx, dir, data)
		baseCPU := cpuTime() - c0
		if err != nil {
			return fmt.Errorf("single-source get: %w", err)
		}
		c0 = cpuTime()
		got, gets, err := restoreAll(ctx, owner.s, refs)
		gotCPU := cpuTime() - c0
		if err != nil {
			return fmt.Errorf("restore: %w", err)
		}
		wall = append(wall, base.Seconds()/got.Seconds())
		cpu = append(cpu, baseCPU.Seconds()/gotCPU.Seconds())
		fmt.Printf("  round %d: single-source get (the limit) %6.1f MB/s, CPU %4.2f s/GB (both ends); restore with %d of %d holders stopped %6.1f MB/s, CPU %4.2f s/GB (all holders and the owner); one object's Get (%d in flight) median %.0f ms, slowest %.0f ms\n",
			r+1, float64(size)/base.Seconds()/1e6, baseCPU.Seconds()/gb, killed, n, float64(size)/got.Seconds()/1e6, gotCPU.Seconds()/gb,
			restoreAhead, float64(gets[len(gets)/2].Microseconds())/1e3, float64(gets[len(gets)-1].Microseconds())/1e3)
		fmt.Printf("           restore / get: %.2f× by wall time, %.2f× by CPU per byte\n", wall[r], cpu[r])
	}
	pprof.StopCPUProfile()
	slices.Sort(wall)
	slices.Sort(cpu)
	fmt.Printf("  restore / single-source get, median of %d rounds: %6.2f× by wall time (target ≥ 0.5×), %.2f× by CPU per byte\n",
		rounds, wall[len(wall)/2], cpu[len(cpu)/2])

	// Repair: the stopped holders' shares, rebuilt where healthy shares
	// fell to k+2, CheckWorkers objects at a time.
	start = time.Now()
	rep, err := owner.s.CheckAll(ctx)
	if err != nil {
		return err
	}
	took := time.Since(start)
	shareSize := int64(refs[0].ShareSize())
	rebuilt := int64(rep.Repaired) * shareSize
	fmt.Printf("  check and repair: %d objects, %d of %d lost shares rebuilt (%.1f MiB) in %.1f s", rep.Objects, rep.Repaired, lostShares, float64(rebuilt)/(1<<20), took.Seconds())
	if rebuilt > 0 {
		fmt.Printf(" = %.1f s per GiB rebuilt (target ≤ 60 s)\n", took.Seconds()/(float64(rebuilt)/(1<<30)))
		fmt.Printf("  repair traffic: %.1f MiB fetched = %.1f × the rebuilt bytes (k = %d), %.1f MiB placed",
			float64(rep.RepairIn)/(1<<20), float64(rep.RepairIn)/float64(rebuilt), k, float64(rep.RepairOut)/(1<<20))
	}
	fmt.Printf("; %d objects still below n\n", rep.Failing)
	return nil
}
