package search

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math"
	mrand "math/rand/v2"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/routing"

	"github.com/peerpath/peerpath/internal/content"
	"github.com/peerpath/peerpath/internal/p2p"
)

// Options tune one Search.
type Options struct {
	// Limit is the most distinct results emitted (default 100).
	Limit int
	// Timeout bounds the whole search (default 5 s).
	Timeout time.Duration
	// LocalOnly searches this node's own index only.
	LocalOnly bool
	// MaxPeers bounds how many peers are asked (default 50).
	MaxPeers int
	// Stats, if not nil, receives the search's cost when Search returns.
	Stats *Stats
}

// Stats is the cost of one Search.
type Stats struct {
	// DHTRequests is the number of DHT RPCs sent by the keyword lookups.
	DHTRequests int
	// PeersAsked is the number of search requests sent.
	PeersAsked int
	// ManifestFetches is the number of manifests fetched to cross-check.
	ManifestFetches int
	// Answered is the number of valid answers received.
	Answered int
	// Dropped is the number of answers dropped (bad signature, spam, false
	// claims, malformed).
	Dropped int
	// Candidates is the number of peers that announced the keywords.
	Candidates int
}

// Messages is the number of requests the search sent.
func (st Stats) Messages() int { return st.DHTRequests + st.PeersAsked + st.ManifestFetches }

// Result is one file or folder found, with the peers known to provide it.
type Result struct {
	CID       string   `json:"cid"`
	Name      string   `json:"name"`
	Size      int64    `json:"size"`
	Type      string   `json:"type"`
	Providers []string `json:"providers"`
	Score     float64  `json:"score"`
}

// Search tuning.
const (
	defaultLimit    = 100
	defaultTimeout  = 5 * time.Second
	defaultMaxPeers = 50
	// providerCap bounds the providers collected per keyword: a keyword with
	// more is common, and its set is used for ranking, not filtering.
	providerCap = 300
	// maxLookups bounds the keyword lookups per query (the longest words,
	// which are usually the rarest).
	maxLookups = 2
	// lookupGrace is how long a keyword lookup goes on after its first
	// provider record arrives: every holder stores the same records, so
	// walking on to the rest of the K closest would cost messages for
	// nothing.
	lookupGrace = 50 * time.Millisecond
	// askParallel is how many search requests are in flight at once.
	askParallel = 16
	// saturation is how many valid answers in a row with no new result end
	// the asking.
	saturation = 12
	// spotCheckRate is the share of a trusted peer's answers still
	// cross-checked against a manifest.
	spotCheckRate = 0.05
	// canaryRate is the share of requests to trusted peers that still carry
	// a canary.
	canaryRate = 0.2
	// defaultDirectPeers: see Config.DirectPeers.
	defaultDirectPeers = 4
)

// Search runs query on the local index and, unless opt.LocalOnly, on the
// peers that announced its keywords. emit is called (never concurrently) as
// results arrive: local ones first, then as each peer answers. A result is
// emitted again, with the same CID, when more providers are found or its
// score changes, so callers keep the last version per CID. Search returns
// when every asked peer has answered or failed, or at the timeout (nil in
// both cases: the results are what arrived); it returns ctx's error if ctx
// ends first, ErrQueryTooLarge or ErrBadQuery for a query it refuses.
func (s *Service) Search(ctx context.Context, queryStr string, opt Options, emit func(Result)) error {
	q, err := parseQuery(queryStr)
	if err != nil {
		return err
	}
	if opt.Limit <= 0 {
		opt.Limit = defaultLimit
	}
	if opt.Timeout <= 0 {
		opt.Timeout = defaultTimeout
	}
	if opt.MaxPeers <= 0 {
		opt.MaxPeers = defaultMaxPeers
	}
	var kws []string
	for _, w := range q.Words {
		if routable(w) {
			kws = append(kws, w)
		}
	}
	network := !opt.LocalOnly && s.cfg.Routing != nil
	// A query of no routable word ("1.7.0.txt", "c.gif") has nothing to
	// look up in the DHT: it asks the connected peers only.
	direct := s.directPeers()
	if network && len(kws) == 0 && s.cfg.DirectPeers < 0 {
		return fmt.Errorf("%w: no word of 2+ characters that is not a stop word", ErrBadQuery)
	}
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, opt.Timeout)
	defer cancel()

	var st stats
	defer func() {
		if opt.Stats != nil {
			*opt.Stats = st.snapshot()
		}
	}()
	agg := &aggregator{limit: opt.Limit, emit: emit, byCID: map[string]*aggResult{}, refuses: s.refuses}
	self := s.host.ID()
	local, err := s.match(ctx, q, min(opt.Limit, maxWireResults))
	if err != nil {
		if parent.Err() == nil && ctx.Err() != nil {
			// The search's own timeout ran out in the local match (a
			// machine under heavy load): like any timeout, the results
			// are what arrived, here none, and not an error.
			return nil
		}
		return err
	}
	agg.add(self, local, 1)
	if !network {
		return nil
	}

	// Connected peers are asked at once, beside the DHT lookups: a peer
	// that has just shared a file is found before its records are out.
	var dwg sync.WaitGroup
	for _, p := range direct {
		dwg.Go(func() { s.askAndMerge(ctx, p, q, queryStr, min(opt.Limit, maxWireResults), agg, &st) })
	}
	if len(kws) == 0 {
		dwg.Wait()
		if parent.Err() != nil {
			return fmt.Errorf("search: %w", parent.Err())
		}
		return nil
	}
	cands, err := s.candidates(ctx, kws, &st)
	if err != nil {
		dwg.Wait()
		return err
	}
	cands = slices.DeleteFunc(cands, func(p peer.ID) bool { return slices.Contains(direct, p) })
	s.askCandidates(ctx, cands, q, queryStr, min(opt.Limit, maxWireResults), opt.MaxPeers, agg, &st)
	dwg.Wait()
	if parent.Err() != nil {
		return fmt.Errorf("search: %w", parent.Err())
	}
	return nil
}

// directPeers returns the connected peers a search asks directly (see
// Config.DirectPeers): those that speak ProtocolID, not blocked or known
// spammers, the newest connection first.
func (s *Service) directPeers() []peer.ID {
	n := s.cfg.DirectPeers
	if n == 0 {
		n = defaultDirectPeers
	}
	if n < 0 {
		return nil
	}
	conns := s.host.Network().Conns()
	sort.Slice(conns, func(i, j int) bool { return conns[i].Stat().Opened.After(conns[j].Stat().Opened) })
	var out []peer.ID
	for _, c := range conns {
		p := c.RemotePeer()
		if len(out) >= n {
			break
		}
		if slices.Contains(out, p) || p == s.host.ID() || s.isBlocked(p) || s.IsSpammer(p) {
			continue
		}
		// A peer whose protocols are known (identify has run) and do not
		// include search is not asked; one not identified yet is.
		if protos, _ := s.host.Peerstore().GetProtocols(p); len(protos) > 0 && !slices.Contains(protos, ProtocolID) {
			continue
		}
		out = append(out, p)
	}
	return out
}

type stats struct {
	dht, asked, fetches, answered, dropped, cands atomic.Int64
}

func (s *stats) snapshot() Stats {
	return Stats{DHTRequests: int(s.dht.Load()), PeersAsked: int(s.asked.Load()), ManifestFetches: int(s.fetches.Load()),
		Answered: int(s.answered.Load()), Dropped: int(s.dropped.Load()), Candidates: int(s.cands.Load())}
}

// candidates looks up the providers of the query's keywords (the longest
// maxLookups, in parallel) and returns the peers that provide every keyword
// whose provider set is complete, most promising first: more keywords
// provided, better reputation, then at random.
func (s *Service) candidates(ctx context.Context, kws []string, st *stats) ([]peer.ID, error) {
	sort.SliceStable(kws, func(i, j int) bool { return len(kws[i]) > len(kws[j]) })
	if len(kws) > maxLookups {
		kws = kws[:maxLookups]
	}
	lctx, lcancel := context.WithCancel(ctx)
	evctx, events := routing.RegisterForQueryEvents(lctx)
	evDone := make(chan struct{})
	go func() {
		defer close(evDone)
		for ev := range events {
			if ev.Type == routing.SendingQuery {
				st.dht.Add(1)
			}
		}
	}()
	sets := make([]map[peer.ID]bool, len(kws))
	var wg sync.WaitGroup
	for i, kw := range kws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			kctx, kcancel := context.WithCancel(evctx)
			defer kcancel()
			set := map[peer.ID]bool{}
			var grace <-chan time.Time
			ch := s.cfg.Routing.FindProvidersAsync(kctx, KeywordKey(kw), providerCap)
		collect:
			for {
				select {
				case ai, ok := <-ch:
					if !ok {
						break collect
					}
					set[ai.ID] = true
					if grace == nil {
						grace = time.After(lookupGrace)
					}
				case <-grace:
					// The first record holder answered; the others
					// answering in the same round have had their chance.
					kcancel()
					for range ch {
					}
					break collect
				}
			}
			sets[i] = set
		}()
	}
	wg.Wait()
	lcancel()
	<-evDone
	if ctx.Err() != nil && len(sets) == 0 {
		return nil, nil
	}
	count := map[peer.ID]int{}
	complete := 0
	for _, set := range sets {
		truncated := len(set) >= providerCap
		if !truncated {
			complete++
		}
		for p := range set {
			count[p]++
		}
	}
	self := s.host.ID()
	type cand struct {
		p     peer.ID
		n     int
		rep   float64
		shuff float64
	}
	var cs []cand
	for p, n := range count {
		if p == self || s.isBlocked(p) || s.IsSpammer(p) {
			continue
		}
		if complete > 0 {
			// must provide every keyword with a complete set
			k := 0
			for _, set := range sets {
				if len(set) < providerCap && set[p] {
					k++
				}
			}
			if k < complete {
				continue
			}
		}
		r := s.rep(p)
		cs = append(cs, cand{p: p, n: n, rep: r.score(), shuff: mrand.Float64()})
	}
	sort.Slice(cs, func(i, j int) bool {
		a, b := cs[i], cs[j]
		if a.n != b.n {
			return a.n > b.n
		}
		if a.rep != b.rep {
			return a.rep > b.rep
		}
		return a.shuff < b.shuff
	})
	st.cands.Store(int64(len(cs)))
	out := make([]peer.ID, len(cs))
	for i, c := range cs {
		out[i] = c.p
	}
	return out, nil
}

// askCandidates asks the candidates in order, askParallel at a time, until
// every one has been asked or answered, maxPeers valid answers have come
// in, 2*maxPeers requests have been sent, or saturation consecutive valid
// answers have brought no new result. The last rule is what keeps the cost
// flat as a popular file's copies grow with the network: after a dozen
// peers that all hold the same file, the next ones almost surely do too.
// Answers dropped as spam do not count, so spammers cannot use up the
// budget of honest answers.
func (s *Service) askCandidates(ctx context.Context, cands []peer.ID, q query, queryStr string, limit, maxPeers int, agg *aggregator, st *stats) {
	var (
		mu       sync.Mutex
		valid    int
		sinceNew int
		sent     int
		next     int
		wg       sync.WaitGroup
	)
	done := func() bool { // with mu held
		return next >= len(cands) || valid >= maxPeers || sent >= 2*maxPeers || sinceNew >= saturation
	}
	var launch func()
	launch = func() {
		p := cands[next]
		next++
		sent++
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, fresh := s.askAndMerge(ctx, p, q, queryStr, limit, agg, st)
			mu.Lock()
			defer mu.Unlock()
			if ok {
				valid++
				if fresh > 0 {
					sinceNew = 0
				} else {
					sinceNew++
				}
			}
			if ctx.Err() == nil && !done() {
				launch()
			}
		}()
	}
	mu.Lock()
	for i := 0; i < askParallel && !done(); i++ {
		launch()
	}
	mu.Unlock()
	wg.Wait()
}

// askAndMerge asks p, checks its answer and merges it. It reports whether
// the answer was valid and how many results it added that were new.
func (s *Service) askAndMerge(ctx context.Context, p peer.ID, q query, queryStr string, limit int, agg *aggregator, st *stats) (ok bool, fresh int) {
	r := s.rep(p)
	canary := ""
	if !r.trusted() || mrand.Float64() < canaryRate {
		canary = canaryQuery()
	}
	st.asked.Add(1)
	hits, canaryHits, err := s.ask(ctx, p, queryStr, canary, limit)
	if err != nil {
		if errors.Is(err, errBadSignature) {
			s.log.Info("search: dropped answer with a bad signature", "peer", p)
		}
		st.dropped.Add(1)
		return false, 0
	}
	if canary != "" {
		if len(canaryHits) > 0 {
			s.strike(p, "matched a canary query")
			st.dropped.Add(1)
			return false, 0
		}
	}
	for _, h := range hits {
		if (q.Type != "" && h.Type != q.Type) || (q.MinSize >= 0 && h.Size <= q.MinSize) || (q.MaxSize >= 0 && h.Size >= q.MaxSize) {
			s.strike(p, "result outside the query's filters")
			st.dropped.Add(1)
			return false, 0
		}
	}
	checkRate := s.cfg.ManifestCheckRate
	if r.trusted() {
		checkRate = spotCheckRate
	}
	if s.cfg.Fetcher != nil && len(hits) > 0 && mrand.Float64() < checkRate {
		h := hits[mrand.IntN(len(hits))]
		st.fetches.Add(1)
		switch err := s.checkManifest(ctx, p, h); {
		case errors.Is(err, errFalseClaim):
			s.strike(p, err.Error())
			st.dropped.Add(1)
			return false, 0
		case err != nil:
			st.dropped.Add(1)
			return false, 0
		}
		s.updateRep(p, func(r *peerRep) { r.passes++ })
	}
	st.answered.Add(1)
	rp := s.rep(p)
	return true, agg.add(p, hits, rp.score())
}

var errFalseClaim = errors.New("search: result does not match its manifest")

// checkManifest fetches h's manifest from p and checks that it hashes to the
// CID and that its size is the one claimed.
func (s *Service) checkManifest(ctx context.Context, p peer.ID, h hit) error {
	id, err := cid.Parse(h.CID)
	if err != nil {
		return fmt.Errorf("%w: %v", errFalseClaim, err)
	}
	fctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	data, err := s.cfg.Fetcher.FetchManifest(fctx, p, id)
	if err != nil {
		return fmt.Errorf("search: fetch manifest: %w", err)
	}
	m, err := content.Decode(id, data)
	if err != nil {
		return fmt.Errorf("%w: %v", errFalseClaim, err)
	}
	var size int64
	switch m := m.(type) {
	case *content.FileManifest:
		size = m.Size
	case *content.DirManifest:
		size = m.Size()
	}
	if size != h.Size {
		return fmt.Errorf("%w: size %d claimed, %d in manifest", errFalseClaim, h.Size, size)
	}
	return nil
}

// ask sends one request to p: the query and, if canary is not empty, the
// canary in random order. It returns the hits of each.
func (s *Service) ask(ctx context.Context, p peer.ID, queryStr, canary string, limit int) (hits, canaryHits []hit, err error) {
	nonce := make([]byte, nonceLen)
	_, _ = rand.Read(nonce)
	req := request{Nonce: nonce, Queries: []string{queryStr}, Limit: limit}
	ci := -1
	if canary != "" {
		ci = mrand.IntN(2)
		if ci == 0 {
			req.Queries = []string{canary, queryStr}
		} else {
			req.Queries = append(req.Queries, canary)
		}
	}
	stream, err := s.host.NewStream(ctx, p, ProtocolID)
	if err != nil {
		return nil, nil, fmt.Errorf("search: open stream: %w", err)
	}
	defer stream.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = stream.SetDeadline(dl)
	}
	b, err := jsonMarshal(req)
	if err != nil {
		return nil, nil, err
	}
	if err := p2p.WriteMsg(stream, b); err != nil {
		_ = stream.Reset()
		return nil, nil, fmt.Errorf("search: send request: %w", err)
	}
	_ = stream.CloseWrite()
	resp, err := p2p.ReadMsg(stream, maxResponseBytes)
	if err != nil {
		_ = stream.Reset()
		return nil, nil, fmt.Errorf("search: read answer: %w", err)
	}
	a, err := openResponse(resp, p, stream.Conn().RemotePublicKey(), nonce, len(req.Queries))
	if err != nil {
		return nil, nil, err
	}
	if a.Err != "" {
		return nil, nil, fmt.Errorf("search: peer refused: %s", a.Err)
	}
	qi := 0
	if ci == 0 {
		qi = 1
	}
	hits = a.Hits[qi]
	if ci >= 0 {
		canaryHits = a.Hits[ci]
	}
	return hits, canaryHits, nil
}

// canaryQuery returns two random pronounceable nonsense words that no
// honest index matches.
func canaryQuery() string {
	const cons, vows = "bdfgklmnprstvz", "aeiou"
	word := func() string {
		b := make([]byte, 0, 10)
		for range 4 + mrand.IntN(2) {
			b = append(b, cons[mrand.IntN(len(cons))], vows[mrand.IntN(len(vows))])
		}
		return string(b)
	}
	return word() + " " + word()
}

// aggregator merges answers by CID and emits updated results.
type aggregator struct {
	mu    sync.Mutex
	limit int
	emit  func(Result)
	byCID map[string]*aggResult
	// refuses drops results naming content the node's policy refuses.
	refuses func(id string) bool
}

type aggResult struct {
	Result
	rel    float64
	repSum float64
	provs  map[peer.ID]bool
}

// add merges p's hits and returns how many were new CIDs.
func (a *aggregator) add(p peer.ID, hits []hit, rep float64) (fresh int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, h := range hits {
		r := a.byCID[h.CID]
		if r == nil && a.refuses != nil && a.refuses(h.CID) {
			continue
		}
		if r == nil {
			if len(a.byCID) >= a.limit {
				continue
			}
			fresh++
			r = &aggResult{Result: Result{CID: h.CID, Name: h.Name, Size: h.Size, Type: h.Type}, provs: map[peer.ID]bool{}}
			a.byCID[h.CID] = r
		}
		if r.provs[p] || h.Size != r.Size {
			continue // a size that disagrees is not the same file: not a provider
		}
		r.provs[p] = true
		r.Providers = append(r.Providers, p.String())
		r.rel = max(r.rel, h.Score)
		r.repSum += rep
		r.Score = scoreOf(r.rel, len(r.provs), r.repSum/float64(len(r.provs)))
		if a.emit != nil {
			out := r.Result
			out.Providers = append([]string(nil), r.Providers...)
			a.emit(out)
		}
	}
	return fresh
}

// scoreOf ranks a result: text relevance (bm25, squashed into [0, 1)), plus
// the log of its number of independent providers, plus the providers' mean
// reputation in [-1, 1].
func scoreOf(rel float64, providers int, rep float64) float64 {
	return rel/(rel+5) + 0.5*math.Log1p(float64(providers)) + 0.5*rep
}
