package searchsim

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ipfs/go-cid"
	dht "github.com/libp2p/go-libp2p-kad-dht"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	mocknet "github.com/libp2p/go-libp2p/p2p/net/mock"

	"golang.org/x/time/rate"

	"github.com/peerpath/peerpath/internal/p2p"
	"github.com/peerpath/peerpath/internal/search"
	"github.com/peerpath/peerpath/internal/share"
	"github.com/peerpath/peerpath/internal/store"
)

// RealConfig configures SimulateReal. Zero fields take the defaults shown.
type RealConfig struct {
	// Peers is N (default 100); every peer is honest and shares files.
	Peers int
	// FilesPerPeer is how many catalogue files each peer shares (default
	// 1,000), drawn by popularity.
	FilesPerPeer int
	// Files is the catalogue's size (default 50,000 names, Zipf).
	Files int
	// Queries is the number of probe queries of each recall round
	// (default 40); the same queries run in every round.
	Queries int
	// Latency is the one-way link latency (default 20 ms).
	Latency time.Duration
	// BucketSize and Alpha are the DHT's k and lookup concurrency; zero
	// keeps kad-dht's defaults (20 and 10), which the daemon uses.
	BucketSize, Alpha int
	// AnnounceRate is each peer's keyword announcements per second (zero:
	// the search service's default, 20/s).
	AnnounceRate float64
	// Bootstraps is how many bootstrap peers every peer joins through
	// (default 3: the first three peers).
	Bootstraps int
	// JoinConcurrency is how many peers join at once (default 16).
	JoinConcurrency int
	// Timeout bounds the announce phase: recall rounds stop when every
	// keyword is announced and recall reached 95%, or at Timeout
	// (default 10 min).
	Timeout time.Duration
	// ProbeEvery is the pause between recall rounds (default 2 s).
	ProbeEvery time.Duration
	// QueryTimeout bounds each probe query (zero: the search service's
	// default, as the daemon's).
	QueryTimeout time.Duration
	Seed         uint64
	// Dir holds the peers' databases (default: a temporary folder, in
	// /dev/shm when there is one).
	Dir    string
	Logger *slog.Logger
}

// RecallPoint is the recall of one round of probe queries, At after the
// announcements started (at the round's end).
type RecallPoint struct {
	At     time.Duration
	Recall float64
}

// RealResult holds the figures of one SimulateReal run. Messages are
// requests sent over streams (a DHT request and its response count as
// one message, as search.Stats counts them): DHT requests are counted by
// their type as each peer writes them, search requests as streams opened.
type RealResult struct {
	Peers, FilesPerPeer, Held int
	// Keywords is the number of keyword announcements the peers have to
	// make (each peer's distinct keywords, summed); Announced how many
	// were made by the end.
	Keywords, Announced int
	// Bootstrap: every peer joins through the bootstrap peers and refreshes
	// its routing table (kad-dht's Bootstrap), then all refresh once more,
	// as the periodic refresh would.
	BootstrapTime     time.Duration
	BootstrapMessages int64
	// RoutingTableMean is the mean routing table size after bootstrap.
	RoutingTableMean float64
	// Announce phase, from the moment every service starts.
	Curve         []RecallPoint
	TimeTo95      time.Duration // first round at or above 95%; 0 if never
	Reached95     bool
	AnnounceTime  time.Duration // until every keyword was announced; 0 if not by Timeout
	AnnounceMsgs  int64         // FIND_NODE + ADD_PROVIDER requests of the announce phase
	AddProviders  int64
	PerFile       float64 // AnnounceMsgs / (Peers × FilesPerPeer)
	PerKeyword    float64 // AnnounceMsgs / Announced
	FinalRecall   float64
	PerQuery      float64 // search.Stats messages, mean over the last round
	DHTPerQuery   float64
	AskedPerQuery float64
	// HeapMB is the process's heap in use after bootstrap (MB = 10^6 bytes),
	// SysMB the memory obtained from the OS at the end.
	HeapMB, SysMB float64
	// QueriesTimedOut counts probe queries that ended with their timeout
	// (what they had found counts towards recall).
	QueriesTimedOut int
	Total           time.Duration
}

// msgCounts counts the requests one simulation's peers send.
type msgCounts struct {
	byType [8]atomic.Int64 // kad-dht message types 0..5; 6 = other
	search atomic.Int64
}

func (c *msgCounts) dht() int64 {
	var n int64
	for i := range c.byType {
		n += c.byType[i].Load()
	}
	return n
}

// kad-dht's message types (pb.Message_MessageType).
const (
	kadAddProvider = 2
	kadGetProvider = 3
	kadFindNode    = 4
)

// countHost counts the requests a peer sends: every message written on a
// DHT stream it opened (kad-dht writes each message with one Write, and a
// peer only writes requests on the streams it opens) and every search
// stream.
type countHost struct {
	host.Host
	c *msgCounts
}

func (h countHost) NewStream(ctx context.Context, p peer.ID, pids ...protocol.ID) (network.Stream, error) {
	s, err := h.Host.NewStream(ctx, p, pids...)
	if err != nil {
		return nil, err
	}
	switch {
	case len(pids) > 0 && strings.HasPrefix(string(pids[0]), p2p.DHTPrefix+"/"):
		return &countStream{Stream: s, c: h.c}, nil
	case len(pids) > 0 && pids[0] == search.ProtocolID:
		h.c.search.Add(1)
	}
	return s, nil
}

type countStream struct {
	network.Stream
	c *msgCounts
}

func (s *countStream) Write(b []byte) (int, error) {
	s.c.byType[kadType(b)].Add(1)
	return s.Stream.Write(b)
}

// kadType reads the type of a length-delimited kad-dht message (field 1,
// a varint, serialised first; absent means 0); 6 when it cannot tell.
func kadType(b []byte) int {
	_, n := binary.Uvarint(b)
	if n <= 0 || n >= len(b) {
		return 6
	}
	b = b[n:]
	if b[0] != 0x08 {
		return 0
	}
	t, m := binary.Uvarint(b[1:])
	if m <= 0 || t > 5 {
		return 6
	}
	return int(t)
}

// realFetcher serves every catalogue manifest (every peer is honest).
type realFetcher struct {
	cat     *catalogue
	latency time.Duration
}

func (f realFetcher) FetchManifest(ctx context.Context, _ peer.ID, id cid.Cid) ([]byte, error) {
	select { // one round trip
	case <-time.After(2 * f.latency):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if b := f.cat.manifest(id.String()); b != nil {
		return b, nil
	}
	return nil, errors.New("sim: not found")
}

type realPeer struct {
	h      host.Host
	d      *dht.IpfsDHT
	db     *store.DB
	svc    *search.Service
	holds  []int
	cancel context.CancelFunc
	done   chan struct{}
}

// SimulateReal is the real-announce simulation: cfg.Peers libp2p hosts on
// a go-libp2p mocknet (links with cfg.Latency), each with a kad-dht and a
// search Service as the daemon builds them, join through bootstrap peers
// and fill their routing tables themselves (kad-dht's refresh), then every
// service starts at once and announces its own keywords through the DHT
// (no table filled or record placed from outside). Meanwhile rounds of
// probe queries from random peers measure recall against the files every
// peer shares, until 95% recall and every announcement is out, or
// cfg.Timeout. It reports the time until 95% recall, the messages per
// announced file and per query.
func SimulateReal(ctx context.Context, cfg RealConfig) (res RealResult, err error) {
	if cfg.Peers <= 0 {
		cfg.Peers = 100
	}
	if cfg.FilesPerPeer <= 0 {
		cfg.FilesPerPeer = 1000
	}
	if cfg.Files <= 0 {
		cfg.Files = 50000
	}
	if cfg.Queries <= 0 {
		cfg.Queries = 40
	}
	if cfg.Latency == 0 {
		cfg.Latency = 20 * time.Millisecond
	}
	if cfg.Bootstraps <= 0 {
		cfg.Bootstraps = 3
	}
	if cfg.JoinConcurrency <= 0 {
		cfg.JoinConcurrency = 16
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Minute
	}
	if cfg.ProbeEvery <= 0 {
		cfg.ProbeEvery = 2 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.FilesPerPeer > cfg.Files {
		return res, fmt.Errorf("searchsim: %d files per peer from a catalogue of %d", cfg.FilesPerPeer, cfg.Files)
	}
	if cfg.Dir == "" {
		base := ""
		if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
			base = "/dev/shm"
		}
		dir, err := os.MkdirTemp(base, "peerpath-search-real-")
		if err != nil {
			return res, fmt.Errorf("searchsim: %w", err)
		}
		defer os.RemoveAll(dir)
		cfg.Dir = dir
	}
	start := time.Now()
	log := cfg.Logger
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x7ea1))
	cat := genCatalogue(rng, cfg.Files)
	res.Peers, res.FilesPerPeer = cfg.Peers, cfg.FilesPerPeer
	counts := &msgCounts{}

	mn := mocknet.New()
	mn.SetLinkDefaults(mocknet.LinkOptions{Latency: cfg.Latency})
	peers := make([]*realPeer, 0, cfg.Peers)
	defer func() {
		for _, p := range peers {
			if p.cancel != nil {
				p.cancel()
				<-p.done
			}
		}
		for _, p := range peers {
			if p.d != nil {
				_ = p.d.Close()
			}
			if p.db != nil {
				_ = p.db.Close()
			}
		}
		_ = mn.Close()
	}()
	dhtOpts := []dht.Option{dht.Mode(dht.ModeServer), dht.ProtocolPrefix(p2p.DHTPrefix), dht.DisableAutoRefresh()}
	if cfg.BucketSize > 0 {
		dhtOpts = append(dhtOpts, dht.BucketSize(cfg.BucketSize))
	}
	if cfg.Alpha > 0 {
		dhtOpts = append(dhtOpts, dht.Concurrency(cfg.Alpha))
	}
	for range cfg.Peers {
		h, err := mn.GenPeer()
		if err != nil {
			return res, fmt.Errorf("searchsim: %w", err)
		}
		p := &realPeer{h: h}
		have := map[int]bool{}
		for len(p.holds) < cfg.FilesPerPeer {
			if f := sampleCum(rng, cat.pop); !have[f] {
				have[f] = true
				p.holds = append(p.holds, f)
			}
		}
		peers = append(peers, p)
	}
	if err := mn.LinkAll(); err != nil {
		return res, fmt.Errorf("searchsim: %w", err)
	}
	held := map[int]bool{}
	for _, p := range peers {
		for _, f := range p.holds {
			held[f] = true
		}
	}
	res.Held = len(held)

	// Services first (each indexes its files; nothing runs yet), so that
	// the join below is all the bootstrap does.
	var wg sync.WaitGroup
	var firstErr error
	var errMu sync.Mutex
	fail := func(err error) {
		errMu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		errMu.Unlock()
	}
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	kwTotal := 0
	for i, p := range peers {
		ch := countHost{Host: p.h, c: counts}
		d, err := dht.New(ch, dhtOpts...)
		if err != nil {
			return res, fmt.Errorf("searchsim: dht: %w", err)
		}
		p.d = d
		db, err := store.Open(filepath.Join(cfg.Dir, fmt.Sprintf("peer%d.db", i)))
		if err != nil {
			return res, fmt.Errorf("searchsim: %w", err)
		}
		p.db = db
		c := &simCatalog{}
		kws := map[string]bool{}
		for _, f := range p.holds {
			c.files = append(c.files, share.FileEntry{CID: cat.cid(f), Name: cat.names[f], RelPath: cat.names[f],
				Size: cat.sizes[f], Share: "/sim", ShareCID: "sim"})
			for _, k := range search.Keywords(cat.names[f]) {
				kws[k] = true
			}
		}
		kwTotal += len(kws)
		// The daemon's settings (sync every 10 s, which also retries the
		// announcements that failed), names only.
		svc, err := search.New(ctx, search.Config{Host: ch, Routing: d, DB: db, Catalog: c,
			Fetcher: realFetcher{cat: cat, latency: cfg.Latency}, Logger: log, NoMetadata: true,
			AnnounceRate: rate.Limit(cfg.AnnounceRate)})
		if err != nil {
			return res, err
		}
		p.svc = svc
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := svc.SyncIndex(ctx); err != nil {
				fail(err)
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return res, firstErr
	}
	res.Keywords = kwTotal
	log.Info("real: indexed", "peers", cfg.Peers, "held", res.Held, "keywords", kwTotal, "took", time.Since(start))

	// Bootstrap: the first peers know each other; every other peer joins
	// through them, JoinConcurrency at a time.
	t0 := time.Now()
	nb := min(cfg.Bootstraps, len(peers))
	boot := make([]peer.AddrInfo, nb)
	for i := range nb {
		boot[i] = peer.AddrInfo{ID: peers[i].h.ID(), Addrs: peers[i].h.Addrs()}
	}
	join := func(p *realPeer) {
		for _, b := range boot {
			if b.ID == p.h.ID() {
				continue
			}
			if err := p.h.Connect(ctx, b); err != nil {
				fail(fmt.Errorf("searchsim: join: %w", err))
				return
			}
		}
		// A refresh fills the table from lookups; a just-connected
		// bootstrap peer may not be in it yet, so wait for one.
		for deadline := time.Now().Add(10 * time.Second); p.d.RoutingTable().Size() == 0 && time.Now().Before(deadline); {
			time.Sleep(10 * time.Millisecond)
		}
		if err := <-p.d.RefreshRoutingTable(); err != nil && ctx.Err() == nil {
			log.Debug("real: refresh", "err", err)
		}
	}
	jsem := make(chan struct{}, cfg.JoinConcurrency)
	for i, p := range peers {
		if i < nb {
			join(p)
			continue
		}
		wg.Add(1)
		jsem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-jsem }()
			join(p)
		}()
	}
	wg.Wait()
	// The periodic refresh, once, now that everyone is in.
	for _, p := range peers {
		wg.Add(1)
		jsem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-jsem }()
			if err := <-p.d.RefreshRoutingTable(); err != nil && ctx.Err() == nil {
				log.Debug("real: refresh", "err", err)
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return res, firstErr
	}
	if ctx.Err() != nil {
		return res, ctx.Err()
	}
	res.BootstrapTime = time.Since(t0)
	res.BootstrapMessages = counts.dht()
	var rt int
	for _, p := range peers {
		rt += p.d.RoutingTable().Size()
	}
	res.RoutingTableMean = float64(rt) / float64(len(peers))
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	res.HeapMB = float64(ms.HeapInuse) / 1e6
	log.Info("real: bootstrapped", "took", res.BootstrapTime, "dht msgs", res.BootstrapMessages, "rt mean", res.RoutingTableMean, "heap MB", res.HeapMB)

	// Probe queries and their answers, known from the catalogue.
	queries, truths := realQueries(rng, cat, held, cfg.Queries)
	baseFind, baseAdd := counts.byType[kadFindNode].Load(), counts.byType[kadAddProvider].Load()

	// Announce phase: every service starts now.
	t1 := time.Now()
	for _, p := range peers {
		sctx, cancel := context.WithCancel(ctx)
		p.cancel, p.done = cancel, make(chan struct{})
		svc := p.svc
		go func() {
			defer close(p.done)
			_ = svc.Serve(sctx)
		}()
	}
	deadline := t1.Add(cfg.Timeout)
	var timedOut atomic.Int64
	for round := 0; ; round++ {
		var (
			mu                    sync.Mutex
			recall, msgs, dn, ask float64
		)
		qsem := make(chan struct{}, 4)
		for i, q := range queries {
			origin := peers[rng.IntN(len(peers))]
			wg.Add(1)
			qsem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-qsem }()
				var st search.Stats
				got := map[string]bool{}
				var gmu sync.Mutex
				err := origin.svc.Search(ctx, q, search.Options{Stats: &st, Timeout: cfg.QueryTimeout}, func(r search.Result) {
					gmu.Lock()
					got[r.CID] = true
					gmu.Unlock()
				})
				switch {
				case err != nil && errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
					// The query ran out of its time (on a loaded machine,
					// even its local match can): what it found counts, and
					// the timeout is reported.
					timedOut.Add(1)
				case err != nil:
					fail(fmt.Errorf("searchsim: query %q: %w", q, err))
					return
				}
				hit := 0
				for c := range truths[i] {
					if got[c] {
						hit++
					}
				}
				mu.Lock()
				recall += float64(hit) / float64(len(truths[i]))
				msgs += float64(st.Messages())
				dn += float64(st.DHTRequests)
				ask += float64(st.PeersAsked)
				mu.Unlock()
			}()
		}
		wg.Wait()
		if firstErr != nil {
			return res, firstErr
		}
		nq := float64(len(queries))
		at := time.Since(t1)
		pt := RecallPoint{At: at, Recall: recall / nq}
		res.Curve = append(res.Curve, pt)
		res.FinalRecall, res.PerQuery, res.DHTPerQuery, res.AskedPerQuery = pt.Recall, msgs/nq, dn/nq, ask/nq
		if pt.Recall >= 0.95 && !res.Reached95 {
			res.Reached95, res.TimeTo95 = true, at
		}
		announced := 0
		for _, p := range peers {
			announced += p.svc.Announced()
		}
		res.Announced = announced
		if announced >= kwTotal && res.AnnounceTime == 0 {
			res.AnnounceTime = at
		}
		log.Info("real: round", "round", round, "at", at.Round(time.Millisecond), "recall", pt.Recall, "announced", announced, "of", kwTotal, "msgs/query", res.PerQuery)
		if (res.Reached95 && res.AnnounceTime > 0) || time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(cfg.ProbeEvery):
		}
	}
	if ctx.Err() != nil {
		return res, ctx.Err()
	}
	res.AddProviders = counts.byType[kadAddProvider].Load() - baseAdd
	res.AnnounceMsgs = counts.byType[kadFindNode].Load() - baseFind + res.AddProviders
	res.PerFile = float64(res.AnnounceMsgs) / float64(cfg.Peers*cfg.FilesPerPeer)
	if res.Announced > 0 {
		res.PerKeyword = float64(res.AnnounceMsgs) / float64(res.Announced)
	}
	res.QueriesTimedOut = int(timedOut.Load())
	runtime.ReadMemStats(&ms)
	res.SysMB = float64(ms.Sys) / 1e6
	res.Total = time.Since(start)
	return res, nil
}

// realQueries picks n query texts for files that are held, as genQueries
// does (the name's rarest word and one or two others), with the CIDs of
// every held file matching each.
func realQueries(rng *rand.Rand, cat *catalogue, held map[int]bool, n int) ([]string, []map[string]bool) {
	df := map[string]int{}
	toks := make([]map[string]bool, len(cat.names))
	for f, name := range cat.names {
		for _, w := range search.Keywords(name) {
			df[w]++
		}
		if held[f] {
			toks[f] = map[string]bool{}
			for _, t := range search.Tokenize(name) {
				toks[f][t] = true
			}
		}
	}
	list := make([]int, 0, len(held))
	for f := range held {
		list = append(list, f)
	}
	sort.Ints(list)
	var qs []string
	var truths []map[string]bool
	for len(qs) < n {
		f := list[rng.IntN(len(list))]
		if len(qs)%2 == 0 {
			if f = sampleCum(rng, cat.pop); !held[f] {
				continue
			}
		}
		ws := search.Keywords(cat.names[f])
		if len(ws) < 2 {
			continue
		}
		sort.SliceStable(ws, func(i, j int) bool { return df[ws[i]] < df[ws[j]] })
		rest := ws[1:]
		rng.Shuffle(len(rest), func(i, j int) { rest[i], rest[j] = rest[j], rest[i] })
		ws = ws[:min(len(ws), 2+rng.IntN(2))]
		truth := map[string]bool{}
	files:
		for _, g := range list {
			for _, w := range ws {
				if !toks[g][w] {
					continue files
				}
			}
			truth[cat.cid(g)] = true
		}
		qs = append(qs, strings.Join(ws, " "))
		truths = append(truths, truth)
	}
	return qs, truths
}
