package searchsim

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	dht "github.com/libp2p/go-libp2p-kad-dht"
	kb "github.com/libp2p/go-libp2p-kbucket"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	mocknet "github.com/libp2p/go-libp2p/p2p/net/mock"

	"github.com/peerpath/peerpath/internal/content"
	"github.com/peerpath/peerpath/internal/p2p"
	"github.com/peerpath/peerpath/internal/search"
	"github.com/peerpath/peerpath/internal/share"
	"github.com/peerpath/peerpath/internal/store"
)

// Config configures Simulate. Zero fields take the defaults shown.
type Config struct {
	// Peers is N, the number of peers (default 100). SpamFraction of them
	// are spammers that hold nothing.
	Peers int
	// Files is the size of the generated catalogue of names (default
	// 50,000); popularity is Zipf distributed.
	Files int
	// FilesPerPeer is how many catalogue files each honest peer holds
	// (default 40).
	FilesPerPeer int
	// Queries is the number of queries per phase (default 50).
	Queries int
	// Latency is the one-way link latency (default 20 ms).
	Latency time.Duration
	// BucketSize is the DHT's k (default 10): the replication of provider
	// records and the routing table's bucket size.
	BucketSize int
	// Alpha is the DHT lookups' concurrency (default 3, Kademlia's; kad-dht's
	// own default is 10).
	Alpha int
	// Churn is the fraction of peers that leave during the churn phase
	// (default 0.2).
	Churn float64
	// SpamFraction is the fraction of peers that are spammers (default 0.3).
	SpamFraction float64
	// SmartSpam makes the spammers evade canaries: they answer only queries
	// whose words are all in the catalogue's vocabulary, which leaves the
	// manifest cross-checks and the ranking to stop them.
	SmartSpam bool
	// SpamOrigins is how many peers run the spam phase's queries (default 5):
	// each learns who the spammers are from its own queries.
	SpamOrigins int
	// Seed makes the catalogue, placement and queries reproducible.
	Seed uint64
	// Dir holds the peers' databases (default: a temporary folder).
	Dir string
	// Logger receives progress (default: discard).
	Logger *slog.Logger
}

// Result holds the figures of one simulation.
type Result struct {
	Peers, Spammers, Files, Held int
	// Baseline phase: every peer online, spammers silent.
	Recall             float64
	P50, P95           time.Duration
	MessagesPerQuery   float64 // DHT RPCs + search requests + manifest fetches
	DHTPerQuery        float64
	AskedPerQuery      float64
	ResultsPerQuery    float64
	EmptyQueryDuration time.Duration // a query nothing matches
	// Churn phase: Churn of the peers leave while the queries run.
	ChurnRecall float64
	ChurnP95    time.Duration
	// Spam phase: SpamFraction of the peers answer every query with fakes.
	Precision10      float64 // genuine share of the top 10, over all spam-phase queries
	Precision10First float64 // on each origin's first query
	SpamRecall       float64
	// SpamAnswersByRound is the mean number of spammer answers accepted per
	// query in each round of queries (round i = every origin's i-th query).
	SpamAnswersByRound []float64
	// SpammersFlagged is the mean number of spammers each origin flagged.
	SpammersFlagged float64
	SetupTime       time.Duration
}

// Simulate builds a network of cfg.Peers real libp2p hosts on a go-libp2p
// mocknet (links with cfg.Latency), each with a kad-dht and a search
// Service over a generated catalogue, and measures recall, latency and
// messages per query in three phases: baseline, churn and spam.
//
// Shortcuts, to fit N = 1000 in a few minutes on two cores, are these: the
// routing tables are filled from global knowledge (each peer offers every
// other peer to its table; the table keeps what Kademlia would), not by
// bootstrapping; and keyword provider records are seeded directly into the
// BucketSize peers closest to each keyword key, which is where kad-dht's
// Provide puts them. Query traffic, which is what is measured, is real:
// kad-dht GET_PROVIDERS lookups and search requests over mocknet streams.
func Simulate(ctx context.Context, cfg Config) (res Result, err error) {
	if cfg.Peers <= 0 {
		cfg.Peers = 100
	}
	if cfg.Files <= 0 {
		cfg.Files = 50000
	}
	if cfg.FilesPerPeer <= 0 {
		cfg.FilesPerPeer = 40
	}
	if cfg.Queries <= 0 {
		cfg.Queries = 50
	}
	if cfg.Latency == 0 {
		cfg.Latency = 20 * time.Millisecond
	}
	if cfg.BucketSize <= 0 {
		cfg.BucketSize = 10
	}
	if cfg.Alpha <= 0 {
		cfg.Alpha = 3
	}
	if cfg.Churn == 0 {
		cfg.Churn = 0.2
	}
	if cfg.SpamFraction == 0 {
		cfg.SpamFraction = 0.3
	}
	if cfg.SpamOrigins <= 0 {
		cfg.SpamOrigins = 5
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.Dir == "" {
		base := ""
		if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
			base = "/dev/shm" // databases in memory: setup is I/O bound otherwise
		}
		dir, err := os.MkdirTemp(base, "peerpath-search-sim-")
		if err != nil {
			return res, fmt.Errorf("searchsim: %w", err)
		}
		defer os.RemoveAll(dir)
		cfg.Dir = dir
	}
	start := time.Now()
	defer func() { cfg.Logger.Info("sim: done", "took", time.Since(start)) }()
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x5ea4c4))
	cat := genCatalogue(rng, cfg.Files)
	nSpam := int(math.Round(cfg.SpamFraction * float64(cfg.Peers)))
	sn, err := newSimNet(ctx, cfg, cat, nSpam, rng)
	if sn != nil {
		defer sn.close()
	}
	if err != nil {
		return res, err
	}
	res.Peers, res.Spammers, res.Files = cfg.Peers, nSpam, cfg.Files
	res.Held = len(sn.heldFiles())
	res.SetupTime = time.Since(start)
	cfg.Logger.Info("sim: network ready", "peers", cfg.Peers, "held", res.Held, "setup", res.SetupTime)

	// Baseline.
	queries := sn.genQueries(rng, cfg.Queries)
	honest := sn.honestOnline()
	var lat []time.Duration
	var recallSum, msgs, dhtN, asked, nres float64
	for i, q := range queries {
		origin := honest[rng.IntN(len(honest))]
		r, err := sn.run(ctx, origin, q)
		if err != nil {
			return res, err
		}
		lat = append(lat, r.dur)
		recallSum += r.recall
		msgs += float64(r.stats.Messages())
		dhtN += float64(r.stats.DHTRequests)
		asked += float64(r.stats.PeersAsked)
		nres += float64(r.found)
		if r.recall < 1 {
			cfg.Logger.Info("sim: partial recall", "query", q.text, "recall", r.recall, "found", r.found, "candidates", r.stats.Candidates, "asked", r.stats.PeersAsked, "answered", r.stats.Answered, "dropped", r.stats.Dropped)
		}
		if i%10 == 0 {
			cfg.Logger.Info("sim: baseline", "query", i, "recall", r.recall, "dur", r.dur, "msgs", r.stats.Messages())
		}
	}
	nq := float64(len(queries))
	res.Recall, res.MessagesPerQuery, res.DHTPerQuery, res.AskedPerQuery, res.ResultsPerQuery = recallSum/nq, msgs/nq, dhtN/nq, asked/nq, nres/nq
	res.P50, res.P95 = percentile(lat, 0.5), percentile(lat, 0.95)
	{
		origin := honest[0]
		t0 := time.Now()
		if err := sn.svcs[origin].Search(ctx, "qqxyzzy vvplugh", search.Options{}, func(search.Result) {}); err != nil {
			return res, err
		}
		res.EmptyQueryDuration = time.Since(t0)
	}

	// Churn: peers leave in steps while the queries run.
	leaving := sn.pickLeaving(rng, int(math.Round(cfg.Churn*float64(cfg.Peers))))
	steps := 5
	lat = lat[:0]
	recallSum = 0
	for i, q := range queries {
		if k := i * steps / len(queries); i > 0 && i*steps%len(queries) < steps && k <= steps {
			lo, hi := (k-1)*len(leaving)/steps, k*len(leaving)/steps
			sn.leave(leaving[lo:hi])
		}
		online := sn.honestOnline()
		origin := online[rng.IntN(len(online))]
		r, err := sn.run(ctx, origin, q)
		if err != nil {
			return res, err
		}
		lat = append(lat, r.dur)
		recallSum += r.recall
	}
	sn.leave(leaving)
	res.ChurnRecall = recallSum / nq
	res.ChurnP95 = percentile(lat, 0.95)
	cfg.Logger.Info("sim: churn done", "recall", res.ChurnRecall, "left", len(leaving))

	// Spam: spammers announce the queries' keywords and answer everything.
	if nSpam > 0 {
		if err := sn.startSpam(ctx, queries); err != nil {
			return res, err
		}
		online := sn.honestOnline()
		origins := online[:min(cfg.SpamOrigins, len(online))]
		rounds := (len(queries) + len(origins) - 1) / len(origins)
		res.SpamAnswersByRound = make([]float64, rounds)
		var precSum, precFirst, good, top float64
		var firsts int
		recallSum = 0
		for i, q := range queries {
			origin := origins[i%len(origins)]
			r, err := sn.run(ctx, origin, q)
			if err != nil {
				return res, err
			}
			res.SpamAnswersByRound[i/len(origins)] += float64(r.spamAccepted) / float64(len(origins))
			recallSum += r.recall
			if r.top > 0 {
				precSum += float64(r.genuineTop) / float64(r.top)
				good += float64(r.genuineTop)
				top += float64(r.top)
			} else {
				precSum++
			}
			if i < len(origins) {
				firsts++
				if r.top > 0 {
					precFirst += float64(r.genuineTop) / float64(r.top)
				} else {
					precFirst++
				}
			}
		}
		_ = precSum
		if top > 0 {
			res.Precision10 = good / top
		} else {
			res.Precision10 = 1
		}
		res.Precision10First = precFirst / float64(max(firsts, 1))
		res.SpamRecall = recallSum / nq
		var flagged float64
		for _, o := range origins {
			for _, sp := range sn.spammers {
				if sn.svcs[o].IsSpammer(sp) {
					flagged++
				}
			}
		}
		res.SpammersFlagged = flagged / float64(len(origins))
	}
	return res, nil
}

func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(math.Ceil(p*float64(len(s)))) - 1
	return s[max(i, 0)]
}

// catalogue is the generated universe of file names.
type catalogue struct {
	names []string
	sizes []int64
	pop   []float64 // cumulative Zipf weights, for sampling
	cids  []string
	man   map[string][]byte // cid -> manifest bytes
	mu    sync.Mutex
}

func pseudoWord(rng *rand.Rand) string {
	const cons, vows = "bcdfghjklmnprstvwyz", "aeiouy"
	var b strings.Builder
	for range 2 + rng.IntN(2) {
		b.WriteByte(cons[rng.IntN(len(cons))])
		b.WriteByte(vows[rng.IntN(len(vows))])
		if rng.IntN(3) == 0 {
			b.WriteByte(cons[rng.IntN(len(cons))])
		}
	}
	return b.String()
}

// accent puts an accent on a word's first vowel, so queries typed without
// accents must still match.
func accent(w string) string {
	r := strings.NewReplacer("a", "á", "e", "é", "i", "í", "o", "ö", "u", "ü")
	for i := range w {
		if strings.ContainsRune("aeiou", rune(w[i])) {
			return w[:i] + r.Replace(w[i:i+1]) + w[i+1:]
		}
	}
	return w
}

func zipfCum(n int, s float64) []float64 {
	c := make([]float64, n)
	var sum float64
	for i := range n {
		sum += 1 / math.Pow(float64(i+1), s)
		c[i] = sum
	}
	for i := range c {
		c[i] /= sum
	}
	return c
}

func sampleCum(rng *rand.Rand, c []float64) int {
	return min(sort.SearchFloat64s(c, rng.Float64()), len(c)-1)
}

func genCatalogue(rng *rand.Rand, n int) *catalogue {
	vocab := make([]string, 6000)
	seen := map[string]bool{}
	for i := range vocab {
		w := pseudoWord(rng)
		for seen[w] || len(search.Keywords(w)) != 1 || len(w) < 3 {
			w = pseudoWord(rng)
		}
		seen[w] = true
		vocab[i] = w
	}
	title := func(w string) string {
		if rng.IntN(20) == 0 {
			w = accent(w)
		}
		return strings.ToUpper(w[:1]) + w[1:]
	}
	wordCum := zipfCum(len(vocab), 0.8)
	artists := make([]string, n/10+1)
	for i := range artists {
		artists[i] = title(vocab[rng.IntN(len(vocab))]) + " " + title(vocab[rng.IntN(len(vocab))])
	}
	exts := []string{"mp3", "mp3", "flac", "ogg", "mkv", "mp4", "avi", "jpg", "png", "pdf", "epub", "zip", "iso"}
	c := &catalogue{names: make([]string, n), sizes: make([]int64, n), cids: make([]string, n), man: map[string][]byte{}}
	used := map[string]bool{}
	for i := range n {
		for {
			var b strings.Builder
			b.WriteString(artists[rng.IntN(len(artists))])
			b.WriteString(" - ")
			for j := range 2 + rng.IntN(3) {
				if j > 0 {
					b.WriteByte(' ')
				}
				b.WriteString(title(vocab[sampleCum(rng, wordCum)]))
			}
			b.WriteString("." + exts[rng.IntN(len(exts))])
			if name := b.String(); !used[name] {
				used[name] = true
				c.names[i] = name
				break
			}
		}
		c.sizes[i] = int64(math.Exp(math.Log(50e3) + rng.Float64()*(math.Log(100e6)-math.Log(50e3))))
	}
	c.pop = zipfCum(n, 0.9)
	return c
}

// cid returns file i's content id (the id of a manifest of made-up chunks),
// computing and remembering its manifest.
func (c *catalogue) cid(i int) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cids[i] != "" {
		return c.cids[i]
	}
	m := &content.FileManifest{Size: c.sizes[i], ChunkSize: content.ChooseChunkSize(c.sizes[i], 4<<20)}
	for j := range content.NumChunks(m.Size, m.ChunkSize) {
		var d [content.DigestSize]byte
		binary.BigEndian.PutUint64(d[:], uint64(i))
		binary.BigEndian.PutUint64(d[8:], uint64(j))
		m.Chunks = append(m.Chunks, content.IDFromDigest(content.CodecRaw, d))
	}
	id := m.ID().String()
	c.cids[i] = id
	c.man[id] = m.Encode()
	return id
}

func (c *catalogue) manifest(id string) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.man[id]
}

// simCatalog is a peer's in-memory Catalog.
type simCatalog struct{ files []share.FileEntry }

func (c *simCatalog) Files(context.Context) ([]share.FileEntry, error) { return c.files, nil }

type simPeer struct {
	h       host.Host
	d       *dht.IpfsDHT
	db      *store.DB
	cancel  context.CancelFunc
	done    chan struct{}
	holds   []int
	spammer bool
	online  bool
}

type simNet struct {
	cfg      Config
	cat      *catalogue
	mn       mocknet.Mocknet
	ids      []peer.ID
	peers    map[peer.ID]*simPeer
	svcs     map[peer.ID]*search.Service
	spammers []peer.ID
	mu       sync.Mutex
	// spamQueries marks the fakes spammers produce, to measure precision.
	fakeCIDs map[string]bool

	vocabOnce sync.Once
	vocab     map[string]bool
}

// simFetcher serves manifests the way the transfer protocol would: an
// honest peer returns the manifest of a file it holds; a spammer returns
// bytes of its own making.
type simFetcher struct{ sn *simNet }

func (f simFetcher) FetchManifest(ctx context.Context, p peer.ID, id cid.Cid) ([]byte, error) {
	sn := f.sn
	sn.mu.Lock()
	sp := sn.peers[p]
	sn.mu.Unlock()
	if sp == nil || !sp.online {
		return nil, errors.New("sim: peer offline")
	}
	select { // one round trip
	case <-time.After(2 * sn.cfg.Latency):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if sp.spammer {
		fake := &content.FileManifest{Size: 1234, ChunkSize: content.DefaultChunkSize,
			Chunks: []cid.Cid{content.ChunkID([]byte(id.String()))}}
		return fake.Encode(), nil
	}
	if b := sn.cat.manifest(id.String()); b != nil {
		return b, nil
	}
	return nil, errors.New("sim: not found")
}

func newSimNet(ctx context.Context, cfg Config, cat *catalogue, nSpam int, rng *rand.Rand) (*simNet, error) {
	sn := &simNet{cfg: cfg, cat: cat, mn: mocknet.New(), peers: map[peer.ID]*simPeer{}, svcs: map[peer.ID]*search.Service{}, fakeCIDs: map[string]bool{}}
	t0 := time.Now()
	sn.mn.SetLinkDefaults(mocknet.LinkOptions{Latency: cfg.Latency})
	for i := range cfg.Peers {
		h, err := sn.mn.GenPeer()
		if err != nil {
			return sn, fmt.Errorf("searchsim: %w", err)
		}
		sn.ids = append(sn.ids, h.ID())
		sn.peers[h.ID()] = &simPeer{h: h, spammer: i < nSpam, online: true}
		if i < nSpam {
			sn.spammers = append(sn.spammers, h.ID())
		}
	}
	if err := sn.mn.LinkAll(); err != nil {
		return sn, fmt.Errorf("searchsim: %w", err)
	}
	// Placement: each honest peer holds FilesPerPeer files drawn by
	// popularity.
	for _, id := range sn.ids {
		sp := sn.peers[id]
		if sp.spammer {
			continue
		}
		have := map[int]bool{}
		for len(sp.holds) < cfg.FilesPerPeer {
			f := sampleCum(rng, cat.pop)
			if !have[f] {
				have[f] = true
				sp.holds = append(sp.holds, f)
			}
		}
	}
	cfg.Logger.Info("sim: hosts linked", "took", time.Since(t0))
	// DHTs, routing tables filled from global knowledge.
	for _, id := range sn.ids {
		sp := sn.peers[id]
		d, err := dht.New(sp.h, dht.Mode(dht.ModeServer), dht.ProtocolPrefix(p2p.DHTPrefix),
			dht.BucketSize(cfg.BucketSize), dht.Concurrency(cfg.Alpha), dht.DisableAutoRefresh())
		if err != nil {
			return sn, fmt.Errorf("searchsim: dht: %w", err)
		}
		sp.d = d
	}
	for _, id := range sn.ids {
		sp := sn.peers[id]
		order := rng.Perm(len(sn.ids))
		for _, j := range order {
			if other := sn.ids[j]; other != id {
				_, _ = sp.d.RoutingTable().TryAddPeer(other, true, false)
			}
		}
		for _, p := range sp.d.RoutingTable().ListPeers() {
			sp.h.Peerstore().AddAddrs(p, sn.peers[p].h.Addrs(), peerstore.PermanentAddrTTL)
		}
	}
	cfg.Logger.Info("sim: routing tables filled", "took", time.Since(t0))
	// Services.
	var wg sync.WaitGroup
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	var firstErr error
	var errMu sync.Mutex
	for i, id := range sn.ids {
		sp := sn.peers[id]
		db, err := store.Open(filepath.Join(cfg.Dir, fmt.Sprintf("peer%d.db", i)))
		if err != nil {
			return sn, fmt.Errorf("searchsim: %w", err)
		}
		sp.db = db
		c := &simCatalog{}
		for _, f := range sp.holds {
			c.files = append(c.files, share.FileEntry{CID: cat.cid(f), Name: cat.names[f], RelPath: cat.names[f],
				Size: cat.sizes[f], Share: "/sim", ShareCID: "sim"})
		}
		svc, err := search.New(ctx, search.Config{Host: sp.h, Routing: sp.d, DB: db, Catalog: c, Fetcher: simFetcher{sn},
			Logger: cfg.Logger, NoAnnounce: true, NoMetadata: true, SyncInterval: time.Hour, QueryRate: 1000, QueryBurst: 1000})
		if err != nil {
			return sn, err
		}
		sn.svcs[id] = svc
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := svc.SyncIndex(ctx); err != nil {
				errMu.Lock()
				firstErr = err
				errMu.Unlock()
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return sn, firstErr
	}
	for _, id := range sn.ids {
		sp := sn.peers[id]
		sctx, cancel := context.WithCancel(ctx)
		sp.cancel, sp.done = cancel, make(chan struct{})
		svc := sn.svcs[id]
		go func() {
			defer close(sp.done)
			_ = svc.Serve(sctx)
		}()
	}
	cfg.Logger.Info("sim: services up", "took", time.Since(t0))
	// Keyword provider records, where Provide would put them.
	provs := map[string][]peer.ID{}
	for _, id := range sn.ids {
		sp := sn.peers[id]
		kwSet := map[string]bool{}
		for _, f := range sp.holds {
			for _, k := range search.Keywords(cat.names[f]) {
				kwSet[k] = true
			}
		}
		for k := range kwSet {
			provs[k] = append(provs[k], id)
		}
	}
	for kw, ps := range provs {
		if err := sn.seed(ctx, kw, ps); err != nil {
			return sn, err
		}
	}
	return sn, nil
}

// seed stores provider records for kw at the BucketSize online peers
// closest to its key.
func (sn *simNet) seed(ctx context.Context, kw string, provs []peer.ID) error {
	key := search.KeywordKey(kw).Hash()
	var online []peer.ID
	for _, id := range sn.ids {
		if sn.peers[id].online {
			online = append(online, id)
		}
	}
	closest := kb.SortClosestPeers(online, kb.ConvertKey(string(key)))
	for _, holder := range closest[:min(sn.cfg.BucketSize, len(closest))] {
		hp := sn.peers[holder]
		for _, p := range provs {
			if err := hp.d.ProviderStore().AddProvider(ctx, key, peer.AddrInfo{ID: p, Addrs: sn.peers[p].h.Addrs()}); err != nil {
				return fmt.Errorf("searchsim: seed: %w", err)
			}
		}
	}
	return nil
}

func (sn *simNet) close() {
	for _, sp := range sn.peers {
		if sp.cancel != nil {
			sp.cancel()
			<-sp.done
		}
		if sp.d != nil {
			_ = sp.d.Close()
		}
		if sp.db != nil {
			_ = sp.db.Close()
		}
	}
	_ = sn.mn.Close()
}

func (sn *simNet) honestOnline() []peer.ID {
	sn.mu.Lock()
	defer sn.mu.Unlock()
	var out []peer.ID
	for _, id := range sn.ids {
		if sp := sn.peers[id]; sp.online && !sp.spammer {
			out = append(out, id)
		}
	}
	return out
}

func (sn *simNet) heldFiles() map[int]bool {
	out := map[int]bool{}
	for _, sp := range sn.peers {
		for _, f := range sp.holds {
			out[f] = true
		}
	}
	return out
}

// pickLeaving chooses n peers to leave, honest and spammers alike.
func (sn *simNet) pickLeaving(rng *rand.Rand, n int) []peer.ID {
	perm := rng.Perm(len(sn.ids))
	out := make([]peer.ID, 0, n)
	for _, i := range perm[:min(n, len(perm))] {
		out = append(out, sn.ids[i])
	}
	return out
}

// leave takes peers offline: they stop serving and every link to them is
// cut, as when a laptop closes.
func (sn *simNet) leave(ids []peer.ID) {
	for _, id := range ids {
		sn.mu.Lock()
		sp := sn.peers[id]
		was := sp.online
		sp.online = false
		sn.mu.Unlock()
		if !was {
			continue
		}
		sp.cancel()
		<-sp.done
		for _, other := range sn.ids {
			if other != id {
				_ = sn.mn.UnlinkPeers(id, other)
			}
		}
		for _, c := range sp.h.Network().Conns() {
			_ = c.Close()
		}
	}
}

type simQuery struct {
	text  string
	words []string
}

// genQueries picks target files among those held (half by popularity, half
// uniformly) and queries two or three of their name's words, typed without
// accents: the name's rarest word (as people type a distinctive word, an
// artist or an unusual title word) plus one or two others at random.
func (sn *simNet) genQueries(rng *rand.Rand, n int) []simQuery {
	held := sn.heldFiles()
	var list []int
	df := map[string]int{}
	for f := range held {
		list = append(list, f)
	}
	for f := range sn.cat.names {
		for _, w := range search.Keywords(sn.cat.names[f]) {
			df[w]++
		}
	}
	sort.Ints(list)
	var out []simQuery
	for len(out) < n {
		var f int
		if len(out)%2 == 0 {
			f = sampleCum(rng, sn.cat.pop)
			if !held[f] {
				continue
			}
		} else {
			f = list[rng.IntN(len(list))]
		}
		ws := search.Keywords(sn.cat.names[f])
		if len(ws) < 2 {
			continue
		}
		sort.SliceStable(ws, func(i, j int) bool { return df[ws[i]] < df[ws[j]] })
		rest := ws[1:]
		rng.Shuffle(len(rest), func(i, j int) { rest[i], rest[j] = rest[j], rest[i] })
		ws = ws[:min(len(ws), 2+rng.IntN(2))]
		rng.Shuffle(len(ws), func(i, j int) { ws[i], ws[j] = ws[j], ws[i] })
		out = append(out, simQuery{text: strings.Join(ws, " "), words: ws})
	}
	return out
}

// truth returns the CIDs of files matching q held by online honest peers.
func (sn *simNet) truth(q simQuery) map[string]bool {
	out := map[string]bool{}
	sn.mu.Lock()
	defer sn.mu.Unlock()
	for _, sp := range sn.peers {
		if !sp.online || sp.spammer {
			continue
		}
	files:
		for _, f := range sp.holds {
			toks := map[string]bool{}
			for _, t := range search.Tokenize(sn.cat.names[f]) {
				toks[t] = true
			}
			for _, w := range q.words {
				if !toks[w] {
					continue files
				}
			}
			out[sn.cat.cid(f)] = true
		}
	}
	return out
}

type simRun struct {
	dur          time.Duration
	recall       float64
	found        int
	stats        search.Stats
	top          int // results in the top 10
	genuineTop   int
	spamAccepted int
}

func (sn *simNet) run(ctx context.Context, origin peer.ID, q simQuery) (simRun, error) {
	var r simRun
	truth := sn.truth(q)
	got := map[string]search.Result{}
	var mu sync.Mutex
	t0 := time.Now()
	err := sn.svcs[origin].Search(ctx, q.text, search.Options{Stats: &r.stats}, func(res search.Result) {
		mu.Lock()
		got[res.CID] = res
		mu.Unlock()
	})
	r.dur = time.Since(t0)
	if err != nil {
		return r, fmt.Errorf("searchsim: query %q: %w", q.text, err)
	}
	hit := 0
	for c := range truth {
		if _, ok := got[c]; ok {
			hit++
		}
	}
	if len(truth) == 0 {
		r.recall = 1
	} else {
		r.recall = float64(hit) / float64(len(truth))
	}
	r.found = len(got)
	list := make([]search.Result, 0, len(got))
	for _, res := range got {
		list = append(list, res)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Score > list[j].Score })
	sn.mu.Lock()
	for i, res := range list {
		fake := sn.fakeCIDs[res.CID]
		if fake {
			for _, p := range res.Providers {
				if id, err := peer.Decode(p); err == nil && sn.peers[id] != nil && sn.peers[id].spammer {
					r.spamAccepted++
				}
			}
		}
		if i < 10 {
			r.top++
			if !fake {
				r.genuineTop++
			}
		}
	}
	sn.mu.Unlock()
	return r, nil
}

// startSpam makes the spammers announce every keyword of the queries (a
// spammer announcing the whole vocabulary looks the same to these queries)
// and answer every request with fakes. The fakes of a query are the same at
// every spammer (they collude), so they also look like files with many
// providers.
func (sn *simNet) startSpam(ctx context.Context, qs []simQuery) error {
	var online []peer.ID
	for _, id := range sn.spammers {
		sp := sn.peers[id]
		if !sp.online {
			continue
		}
		online = append(online, id)
		sp.cancel()
		<-sp.done
		search.HandleAnswers(sp.h, func(q string, _ int) []search.Hit {
			if sn.cfg.SmartSpam && !sn.knownWords(q) {
				return nil // looks like a canary: stay quiet
			}
			return sn.fakes(q)
		})
	}
	kws := map[string]bool{}
	for _, q := range qs {
		for _, w := range q.words {
			kws[w] = true
		}
	}
	for kw := range kws {
		if err := sn.seed(ctx, kw, online); err != nil {
			return err
		}
	}
	return nil
}

// knownWords reports whether every word of q occurs in the catalogue.
func (sn *simNet) knownWords(q string) bool {
	sn.vocabOnce.Do(func() {
		sn.vocab = map[string]bool{}
		for _, n := range sn.cat.names {
			for _, w := range search.Tokenize(n) {
				sn.vocab[w] = true
			}
		}
	})
	for _, w := range search.Tokenize(q) {
		if !sn.vocab[w] {
			return false
		}
	}
	return true
}

// fakes returns the spammers' fake matches for q.
func (sn *simNet) fakes(q string) []search.Hit {
	var out []search.Hit
	for i := range 5 {
		d := sha256.Sum256([]byte(fmt.Sprintf("spam %d %s", i, q)))
		id := content.IDFromDigest(content.CodecFile, d).String()
		sn.mu.Lock()
		sn.fakeCIDs[id] = true
		sn.mu.Unlock()
		out = append(out, search.Hit{CID: id, Name: fmt.Sprintf("%s (best quality %d).mp3", q, i), Size: int64(3e6 + i), Type: search.TypeAudio, Score: search.MaxRelevance})
	}
	return out
}
