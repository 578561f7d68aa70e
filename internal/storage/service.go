package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multihash"
	"github.com/zeebo/blake3"
	"golang.org/x/time/rate"

	"github.com/peerpath/peerpath/internal/p2p"
	"github.com/peerpath/peerpath/internal/store"
)

// Routing finds storing peers and the holders of shares. The node
// implements it over the DHT (internal/p2p).
type Routing interface {
	// Provide announces that this node has id.
	Provide(ctx context.Context, id cid.Cid) error
	// FindProviders returns peers that may have id (connected peers
	// included, as p2p.Node's does).
	FindProviders(ctx context.Context, id cid.Cid) ([]peer.AddrInfo, error)
	// FindPeer returns the addresses of p.
	FindPeer(ctx context.Context, p peer.ID) (peer.AddrInfo, error)
}

// Payments moves credits for leases. The node implements it over the
// ledger: Pay signs a transfer the payee submits, Collect submits one and
// checks its receipt. Without Payments, a node stores only under free
// offers and pays no one.
type Payments interface {
	// Pay returns a payment of amount micro-credits to payee, in a form
	// the payee's Collect accepts (the node: a signed ledger transfer).
	Pay(ctx context.Context, payee peer.ID, amount int64, memo string) ([]byte, error)
	// Collect checks that payment pays at least amount from payer to this
	// node and settles it; it returns the payment's id (this service
	// refuses an id it has counted before) and what was received.
	Collect(ctx context.Context, payer peer.ID, payment []byte, amount int64) (id string, received int64, err error)
}

// Config configures a [Service]. Host, DB and Dir are required.
type Config struct {
	Host host.Host
	DB   *store.DB
	// Dir holds the shares this node stores for others.
	Dir string
	// Routing finds offers and holders; nil uses connected peers only.
	Routing Routing
	// Payments pays and collects leases; nil means free offers only.
	Payments Payments
	Logger   *slog.Logger
	// CheckEvery is how often the owner challenges the holders of its
	// objects and repairs what fell to the threshold. Zero means
	// [DefaultCheckEvery]; negative turns the loop off.
	CheckEvery time.Duration
	// Lease is the lease asked for each share; zero means [DefaultLease].
	Lease time.Duration
	// Grace is how long a storing peer keeps a share after its lease
	// ended; zero means [DefaultGrace].
	Grace time.Duration
}

// Defaults of [Config].
const (
	DefaultCheckEvery = time.Hour
	DefaultLease      = 30 * 24 * time.Hour
	DefaultGrace      = 7 * 24 * time.Hour
	// MaxLease is the longest lease a storing peer grants.
	MaxLease = 365 * 24 * time.Hour
	// MinLease is the shortest lease a storing peer grants.
	MinLease = time.Minute
)

// Service is the storage layer of one node: the owner's side (Put, Get,
// Delete, Check, Repair) and the storing peer's (the protocol handler,
// the offer, the shares on disk).
type Service struct {
	cfg   Config
	log   *slog.Logger
	self  peer.ID
	held  *heldStore
	admit *p2p.Admission // the one-request protocol's streams
	// fetchAdmit admits get sessions (FetchProtocolID).
	fetchAdmit *p2p.Admission
	// fetchConns are this node's get sessions, one per holder; holders
	// is how each holder did (see fetchpool.go).
	fetchConns map[peer.ID]*fetchConn
	holders    map[peer.ID]*holderStat
	fetchSwept time.Time
	// life ends (endLife) when the service is closed: session openings
	// under way (opening) stop.
	life    context.Context
	endLife context.CancelFunc
	opening sync.WaitGroup
	// sessions and sessionGets count the get sessions this node served
	// and the gets on them.
	sessions, sessionGets atomic.Int64

	mu      sync.Mutex
	offers  map[peer.ID]cachedOffer
	provide *p2p.ProvideQueue

	offerersList []peer.ID
	offerersAt   time.Time
}

type cachedOffer struct {
	r  response
	at time.Time
}

var migrations = []store.Migration{{Version: 1, SQL: `
CREATE TABLE storage_meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
-- Shares this node holds for other peers (the storing side).
CREATE TABLE storage_held (
	id      BLOB NOT NULL,
	client  TEXT NOT NULL,
	size    INTEGER NOT NULL,
	stored  INTEGER NOT NULL,
	expires INTEGER NOT NULL,
	auth    BLOB,
	paid    INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (id, client)
);
-- Objects this node owns, and where each of their shares lives.
CREATE TABLE storage_objects (
	id      BLOB PRIMARY KEY,
	ref     BLOB NOT NULL,
	created INTEGER NOT NULL,
	checked INTEGER NOT NULL DEFAULT 0,
	healthy INTEGER NOT NULL DEFAULT -1,
	repairs INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE storage_placements (
	object  BLOB NOT NULL REFERENCES storage_objects(id) ON DELETE CASCADE,
	idx     INTEGER NOT NULL,
	holder  TEXT NOT NULL,
	expires INTEGER NOT NULL,
	ok      INTEGER NOT NULL DEFAULT 1,
	PRIMARY KEY (object, idx)
);
-- How each storing peer did: challenges passed and failed (proven uptime).
CREATE TABLE storage_peers (
	peer   TEXT PRIMARY KEY,
	ok     INTEGER NOT NULL DEFAULT 0,
	failed INTEGER NOT NULL DEFAULT 0,
	spent  INTEGER NOT NULL DEFAULT 0
);
`}, {Version: 2, SQL: `
-- Payments counted for leases, so one payment is never counted twice.
CREATE TABLE storage_payments (id TEXT PRIMARY KEY, payer TEXT NOT NULL, amount INTEGER NOT NULL, at INTEGER NOT NULL);
`}}

// New opens the storage layer: it migrates its tables, reconciles the
// shares on disk with their records (a kill -9 may have left either
// without the other) and registers the protocol handler.
func New(ctx context.Context, cfg Config) (*Service, error) {
	if cfg.Host == nil || cfg.DB == nil || cfg.Dir == "" {
		return nil, errors.New("storage: Config needs Host, DB and Dir")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.CheckEvery == 0 {
		cfg.CheckEvery = DefaultCheckEvery
	}
	if cfg.Lease <= 0 {
		cfg.Lease = DefaultLease
	}
	if cfg.Grace <= 0 {
		cfg.Grace = DefaultGrace
	}
	if err := cfg.DB.Migrate(ctx, "storage", migrations); err != nil {
		return nil, err
	}
	s := &Service{
		cfg: cfg, log: cfg.Logger, self: cfg.Host.ID(),
		admit: p2p.NewAdmission(p2p.AdmitConfig{
			Rate: rate.Limit(100), Burst: 400, Concurrent: 64,
			Deadline: requestDeadline, MaxRequest: maxRequest,
			Busy: (&response{Status: statusBusy, Msg: "busy"}).encode(),
		}),
		fetchAdmit: newFetchAdmission(),
		fetchConns: map[peer.ID]*fetchConn{},
		holders:    map[peer.ID]*holderStat{},
		offers:     map[peer.ID]cachedOffer{},
		provide:    p2p.NewProvideQueue(1024),
	}
	s.life, s.endLife = context.WithCancel(context.Background())
	var err error
	if s.held, err = openHeld(ctx, cfg.DB, filepath.Join(cfg.Dir, "shares")); err != nil {
		return nil, err
	}
	cfg.Host.SetStreamHandler(ProtocolID, s.handle)
	cfg.Host.SetStreamHandler(FetchProtocolID, s.handleFetch)
	return s, nil
}

// Close unregisters the protocol handlers and closes this node's get
// sessions.
func (s *Service) Close() {
	s.cfg.Host.RemoveStreamHandler(ProtocolID)
	s.cfg.Host.RemoveStreamHandler(FetchProtocolID)
	s.closeFetchConns()
}

// Serve runs the background work until ctx ends: announcing the offer and
// held shares, dropping shares whose lease and grace ended, and (owner
// side) checking, renewing and repairing this node's objects.
func (s *Service) Serve(ctx context.Context) error {
	s.cfg.Host.SetStreamHandler(ProtocolID, s.handle) // again, after a restart
	s.cfg.Host.SetStreamHandler(FetchProtocolID, s.handleFetch)
	defer s.Close()
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Add(1)
	go func() { defer wg.Done(); s.provide.Run(ctx, s.providefn(), s.log, "storage") }()
	check := time.NewTicker(max(s.cfg.CheckEvery, time.Second))
	defer check.Stop()
	if s.cfg.CheckEvery < 0 {
		check.Stop()
	}
	announce := time.NewTicker(10 * time.Minute)
	defer announce.Stop()
	s.announceOffer()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-announce.C:
			s.announceOffer()
			if n, err := s.held.expire(ctx, time.Now().Add(-s.cfg.Grace)); err != nil {
				s.log.Warn("storage: expiring leases", "err", err)
			} else if n > 0 {
				s.log.Info("storage: dropped shares whose lease ended", "shares", n)
			}
		case <-check.C:
			if _, err := s.CheckAll(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("storage: check", "err", err)
			}
			if err := s.renew(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("storage: renew", "err", err)
			}
		}
	}
}

// providefn is how queued ids are announced: nil without a DHT.
func (s *Service) providefn() func(context.Context, cid.Cid) error {
	if s.cfg.Routing == nil {
		return nil
	}
	return s.cfg.Routing.Provide
}

func (s *Service) announceOffer() {
	if off, _ := s.held.offer(); off.Bytes > 0 {
		s.provide.Add(OfferCID)
	}
}

// OfferCID is the DHT key under which storing peers announce their offer.
var OfferCID = func() cid.Cid {
	sum := blake3.Sum256([]byte("peerpath-storage-offer-v1"))
	mh, _ := multihash.Encode(sum[:], multihash.BLAKE3)
	return cid.NewCidV1(cid.Raw, mh)
}()

// ShareCID is the DHT key under which a share's holders announce it.
func ShareCID(id ShareID) cid.Cid {
	mh, _ := multihash.Encode(id[:], multihash.BLAKE3)
	return cid.NewCidV1(cid.Raw, mh)
}

// Offer is what this node stores for others.
type Offer struct {
	// Bytes is the space offered; 0 means no offer.
	Bytes int64
	// PricePerGiBMonth is in micro-credits; 0 stores for free.
	PricePerGiBMonth int64
	// PerClient bounds what one peer may hold; 0 means half the offer.
	PerClient int64
}

// SetOffer sets (and saves) what this node stores for others. Shares
// already held beyond a smaller offer are kept until their lease ends.
func (s *Service) SetOffer(ctx context.Context, o Offer) error {
	if o.Bytes < 0 || o.PricePerGiBMonth < 0 || o.PerClient < 0 {
		return fmt.Errorf("%w: negative offer", ErrInvalid)
	}
	if err := s.held.setOffer(ctx, o); err != nil {
		return err
	}
	s.announceOffer()
	return nil
}

// ClientUsage is what one client stores on this node.
type ClientUsage struct {
	Peer   string
	Shares int
	Bytes  int64
	Paid   int64 // micro-credits received
}

// Status is the storing side's state.
type Status struct {
	Offer   Offer
	Used    int64
	Shares  int
	Clients []ClientUsage
	Earned  int64
	// Owned is the owner's side: objects stored on other peers.
	Owned       int
	OwnedShares int
}

// Status reports the offer, what is used, by whom, and what was earned.
func (s *Service) Status(ctx context.Context) (Status, error) {
	st, err := s.held.status(ctx)
	if err != nil {
		return st, err
	}
	err = s.cfg.DB.QueryRowContext(ctx, `SELECT count(*), coalesce((SELECT count(*) FROM storage_placements), 0) FROM storage_objects`).Scan(&st.Owned, &st.OwnedShares)
	if err != nil {
		return st, fmt.Errorf("storage: %w", err)
	}
	return st, nil
}

// meta reads a value of storage_meta.
func meta(ctx context.Context, db *store.DB, k string) (int64, error) {
	var v string
	err := db.QueryRowContext(ctx, `SELECT v FROM storage_meta WHERE k = ?`, k).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("storage: %w", err)
	}
	return strconv.ParseInt(v, 10, 64)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

var _ network.StreamHandler = (*Service)(nil).handle
