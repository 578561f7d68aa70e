package search

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multihash"
	"golang.org/x/time/rate"

	"github.com/peerpath/peerpath/internal/p2p"
	"github.com/peerpath/peerpath/internal/peerlimit"
	"github.com/peerpath/peerpath/internal/share"
	"github.com/peerpath/peerpath/internal/store"
)

// Catalog lists the files and folders this node shares; *share.Service
// implements it.
type Catalog interface {
	Files(ctx context.Context) ([]share.FileEntry, error)
}

// Policy is the node's content policy: results naming content it refuses
// are dropped, from the node's own answers to others and from the results
// it shows. The node implements it with internal/policy's denylists.
type Policy interface {
	Refuses(id cid.Cid) bool
}

// refuses reports whether the policy refuses the content id named by s (a
// CID string; one that does not parse names nothing to refuse).
func (s *Service) refuses(id string) bool {
	if s.cfg.Policy == nil {
		return false
	}
	c, err := cid.Decode(id)
	return err == nil && s.cfg.Policy.Refuses(c)
}

// Routing stores and finds provider records; *dht.IpfsDHT implements it.
type Routing interface {
	Provide(ctx context.Context, key cid.Cid, announce bool) error
	FindProvidersAsync(ctx context.Context, key cid.Cid, count int) <-chan peer.AddrInfo
}

// ManifestFetcher fetches the manifest bytes of id from peer p (not
// verified: Search checks them against id).
type ManifestFetcher interface {
	FetchManifest(ctx context.Context, p peer.ID, id cid.Cid) ([]byte, error)
}

// Config configures a Service. Host, DB and Catalog are required.
type Config struct {
	Host host.Host
	// Routing finds keyword providers; nil means local search only.
	Routing Routing
	DB      *store.DB
	Catalog Catalog
	// Fetcher, if set, is used to cross-check sampled results of peers not
	// yet trusted against their manifests.
	Fetcher ManifestFetcher
	// ManifestCheckRate is the share of answers from peers not yet trusted
	// whose claims are cross-checked (one sampled result each) against the
	// manifest before they are used; default 1 (every such answer). Lower it
	// to trade spam resistance for messages.
	ManifestCheckRate float64
	// Policy, if set, drops results naming content it refuses.
	Policy Policy
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// QueryRate is the fair rate of incoming queries per peer (default
	// 10/s, burst QueryBurst, default 40); faster peers are throttled. A
	// person searching as they type sends at most a few queries a second
	// (the web app waits for a pause in typing), so they are never refused,
	// while a peer flooding at network speed is.
	QueryRate  rate.Limit
	QueryBurst int
	// AnnounceRate bounds keyword announcements per second (default 20).
	AnnounceRate rate.Limit
	// NoAnnounce turns keyword announcements off (simulations seed provider
	// records directly).
	NoAnnounce bool
	// NoMetadata indexes names and paths only, reading no file.
	NoMetadata bool
	// SyncInterval is how often the index is re-synced from Catalog
	// (default 10 s).
	SyncInterval time.Duration
	// DirectPeers is how many connected peers (the newest connections
	// first) every search also asks directly, whatever the DHT says, so a
	// peer that has just shared a file is found before its keyword records
	// are out; default 4, negative for none.
	DirectPeers int
}

// Service is a node's search: its local index, the search protocol handler,
// keyword announcements and the querying side.
type Service struct {
	cfg  Config
	log  *slog.Logger
	host host.Host
	db   *store.DB

	refresh chan struct{}
	// syncMu serializes index syncs (Serve's and Sync's).
	syncMu sync.Mutex

	mu        sync.Mutex
	serving   bool
	limiter   *peerlimit.Limiter // incoming queries, per peer
	peers     map[peer.ID]*peerRep
	blocked   map[peer.ID]bool
	announced map[string]time.Time
}

// ErrServing is returned by Serve when the service is already serving.
var ErrServing = errors.New("search: already serving")

// New opens the index (applying its schema migrations) and loads the
// blocklist and reputations.
func New(ctx context.Context, cfg Config) (*Service, error) {
	if cfg.Host == nil || cfg.DB == nil || cfg.Catalog == nil {
		return nil, errors.New("search: Host, DB and Catalog are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.QueryRate == 0 {
		cfg.QueryRate = 10
	}
	if cfg.QueryBurst == 0 {
		cfg.QueryBurst = 40
	}
	if cfg.AnnounceRate == 0 {
		cfg.AnnounceRate = 20
	}
	if cfg.ManifestCheckRate == 0 {
		cfg.ManifestCheckRate = 1
	}
	if cfg.SyncInterval == 0 {
		cfg.SyncInterval = 10 * time.Second
	}
	if err := cfg.DB.Migrate(ctx, component, migrations); err != nil {
		return nil, fmt.Errorf("search: migrate: %w", err)
	}
	s := &Service{cfg: cfg, log: cfg.Logger, host: cfg.Host, db: cfg.DB,
		refresh: make(chan struct{}, 1),
		limiter: peerlimit.New(cfg.QueryRate, cfg.QueryBurst), peers: map[peer.ID]*peerRep{},
		blocked: map[peer.ID]bool{}, announced: map[string]time.Time{}}
	if err := s.loadPeers(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// Refresh asks Serve to re-sync the index from the catalog now (the node
// calls it after shares change). It never blocks.
func (s *Service) Refresh() {
	select {
	case s.refresh <- struct{}{}:
	default:
	}
}

// Sync brings the local index in line with the catalog now, before it
// returns, so what was just shared is found by this node's own searches at
// once (the market's own new listing); then it asks Serve to announce it
// (see [Service.Refresh]).
func (s *Service) Sync(ctx context.Context) error {
	s.syncMu.Lock()
	err := s.syncIndex(ctx)
	s.syncMu.Unlock()
	s.Refresh()
	return err
}

// Serve answers the search protocol, keeps the index in sync with the
// catalog (every SyncInterval and on Refresh) and announces keywords, until
// ctx ends.
func (s *Service) Serve(ctx context.Context) error {
	s.mu.Lock()
	if s.serving {
		s.mu.Unlock()
		return ErrServing
	}
	s.serving = true
	s.mu.Unlock()
	s.host.SetStreamHandler(ProtocolID, s.handle)
	defer s.host.RemoveStreamHandler(ProtocolID)

	kick := make(chan struct{}, 1)
	var wg sync.WaitGroup
	defer wg.Wait()
	if s.cfg.Routing != nil && !s.cfg.NoAnnounce {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.announceLoop(ctx, kick)
		}()
	}
	t := time.NewTicker(s.cfg.SyncInterval)
	defer t.Stop()
	for {
		s.syncMu.Lock()
		err := s.syncIndex(ctx)
		s.syncMu.Unlock()
		if err != nil && ctx.Err() == nil {
			s.log.Warn("search: index sync failed", "err", err)
		}
		select {
		case kick <- struct{}{}:
		default:
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-s.refresh:
		}
	}
}

// KeywordKey is the DHT key under which providers of keyword are recorded:
// a CIDv1 (raw) of the SHA-256 of "peerpath-kw:" + keyword.
func KeywordKey(keyword string) cid.Cid {
	sum := sha256.Sum256([]byte("peerpath-kw:" + keyword))
	mh, _ := multihash.Encode(sum[:], multihash.SHA2_256)
	return cid.NewCidV1(cid.Raw, mh)
}

// reannounce is how long a keyword announcement is trusted before it is
// repeated (kad-dht keeps provider records for 48 h).
const reannounce = 22 * time.Hour

// announceLoop announces the index's keywords, most frequent first, at
// AnnounceRate, a few at a time; it runs a pass whenever kick fires.
func (s *Service) announceLoop(ctx context.Context, kick <-chan struct{}) {
	lim := rate.NewLimiter(s.cfg.AnnounceRate, 1)
	for {
		select {
		case <-ctx.Done():
			return
		case <-kick:
		}
		kws, err := s.localKeywords(ctx)
		if err != nil {
			s.log.Warn("search: list keywords", "err", err)
			continue
		}
		sem := make(chan struct{}, 8)
		var wg sync.WaitGroup
		for _, kw := range kws {
			s.mu.Lock()
			at, ok := s.announced[kw]
			s.mu.Unlock()
			if ok && time.Since(at) < reannounce {
				continue
			}
			if err := lim.Wait(ctx); err != nil {
				break
			}
			sem <- struct{}{}
			wg.Add(1)
			go func(kw string) {
				defer wg.Done()
				defer func() { <-sem }()
				actx, cancel := context.WithTimeout(ctx, time.Minute)
				defer cancel()
				if err := s.cfg.Routing.Provide(actx, KeywordKey(kw), true); err != nil {
					s.log.Debug("search: announce keyword failed", "keyword", kw, "err", err)
					return
				}
				s.mu.Lock()
				s.announced[kw] = time.Now()
				s.mu.Unlock()
			}(kw)
		}
		wg.Wait()
	}
}

// Announced reports how many distinct keywords have been announced.
func (s *Service) Announced() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.announced)
}

// handle answers one search request.
func (s *Service) handle(st network.Stream) {
	defer st.Close()
	_ = st.SetDeadline(time.Now().Add(10 * time.Second))
	// A stream that sends no request soon holds nothing for long.
	_ = st.SetReadDeadline(time.Now().Add(p2p.FirstRequestTimeout))
	remote := st.Conn().RemotePeer()
	msg, err := p2p.ReadMsg(st, maxRequestBytes)
	if err != nil {
		_ = st.Reset()
		return
	}
	req, err := decodeRequest(msg)
	if err != nil {
		_ = st.Reset()
		return
	}
	a := answer{Nonce: req.Nonce, Peer: s.host.ID().String()}
	switch {
	case s.isBlocked(remote):
		a.Err = "blocked"
	case !s.limiter.Allow(remote):
		a.Err = "throttled"
	default:
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for _, qs := range req.Queries {
			var hits []hit
			if q, err := parseQuery(qs); err == nil {
				hits, err = s.match(ctx, q, req.Limit)
				if err != nil {
					s.log.Debug("search: match failed", "err", err)
				}
			}
			if hits == nil {
				hits = []hit{}
			}
			a.Hits = append(a.Hits, hits)
		}
	}
	b, err := sealAnswer(s.host.Peerstore().PrivKey(s.host.ID()), a)
	if err != nil {
		_ = st.Reset()
		return
	}
	_ = p2p.WriteMsg(st, b)
}
