package market

import (
	"context"
	"crypto/ecdh"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"

	"github.com/peerpath/peerpath/internal/ledger"
)

// Ledger is what the market needs of the replicated ledger;
// *ledger.Service implements it.
type Ledger interface {
	Submit(ctx context.Context, t ledger.SignedTransfer) (ledger.Receipt, error)
	Status(ctx context.Context) (ledger.Status, error)
	MarketListing(ctx context.Context, id string) (ledger.MarketListing, error)
	Order(ctx context.Context, id string) (ledger.Order, error)
	Orders(ctx context.Context, account string) ([]ledger.Order, error)
	Ratings(ctx context.Context, seller string) ([]ledger.Rating, error)
	// PendingOrders lists the pending orders of a voter's own state (nil on
	// a non-voter).
	PendingOrders() []ledger.Order
	IsLeader() bool
	// Rules is the rule set of a voter's own state (ledger.RulesV1 or
	// ledger.RulesV2): it decides the form of a release.
	Rules() int
}

// Files shares and fetches files by content id (the node adapts its share
// and transfer services).
type Files interface {
	// Share shares the file at path in place and returns its content id.
	// (The node's search index hears of it from the share catalog; the
	// market need not tell search.)
	Share(ctx context.Context, path string) (string, error)
	// Unshare stops sharing path.
	Unshare(ctx context.Context, path string) error
	// Fetch downloads id from any peers to out, verifying every byte.
	Fetch(ctx context.Context, id, out string) error
}

// Hit is one search-layer result.
type Hit struct {
	CID       string
	Name      string
	Score     float64
	Providers []string
}

// Finder runs a network search (the node adapts the search service).
type Finder interface {
	Find(ctx context.Context, query string, emit func(Hit)) error
}

// Config configures a Service. Key, Dir, Ledger, Files and Finder are
// required.
type Config struct {
	// Key is the node's Ed25519 identity: it signs listings and ledger
	// operations, and (on a voter) opens the content keys sealed to it.
	Key    crypto.PrivKey
	Dir    string
	Ledger Ledger
	Files  Files
	Finder Finder
	// Logger defaults to discarding.
	Logger *slog.Logger
	// SettleInterval is how often a voter looks for pending orders
	// (default 300ms).
	SettleInterval time.Duration
	// PollInterval is how often Buy polls its order (default 250ms).
	PollInterval time.Duration
	// SearchTimeout bounds Search when its ctx has no deadline (default 5s).
	SearchTimeout time.Duration
}

// Service is a node's marketplace: selling, searching, buying, rating,
// and (on a ledger voter) settling escrowed orders.
type Service struct {
	cfg    Config
	id     string
	wallet *ledger.Wallet // signs and submits this node's ledger operations
	xkey   *ecdh.PrivateKey
	log    *slog.Logger

	mu       sync.Mutex
	st       localState
	settling map[string]time.Time // order -> last attempt
}

// localState is what a node remembers of its own listings and orders.
type localState struct {
	Listings map[string]ownListing `json:"listings"`
	Orders   map[string]ownOrder   `json:"orders"`
	// Seen caches verified listings found by Search (titles for orders).
	Seen map[string]Listing `json:"seen"`
}

type ownListing struct {
	Listing   Listing `json:"listing"`
	Key       string  `json:"key"`
	Goods     string  `json:"goods"`
	Doc       string  `json:"doc"`
	Withdrawn bool    `json:"withdrawn,omitempty"`
}

type ownOrder struct {
	ID      string `json:"id"`
	Listing string `json:"listing"`
	Title   string `json:"title"`
	Output  string `json:"output"`
	Created int64  `json:"created"`
}

const maxSeen = 1000

// New creates the service and loads its state from Dir.
func New(cfg Config) (*Service, error) {
	if cfg.Key == nil || cfg.Dir == "" || cfg.Ledger == nil || cfg.Files == nil || cfg.Finder == nil {
		return nil, errors.New("market: Key, Dir, Ledger, Files and Finder are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.SettleInterval <= 0 {
		cfg.SettleInterval = 300 * time.Millisecond
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 250 * time.Millisecond
	}
	if cfg.SearchTimeout <= 0 {
		cfg.SearchTimeout = 5 * time.Second
	}
	wallet, err := ledger.NewWallet(cfg.Key, cfg.Ledger)
	if err != nil {
		return nil, fmt.Errorf("market: %w", err)
	}
	xk, err := x25519FromKey(cfg.Key)
	if err != nil {
		return nil, err
	}
	for _, d := range []string{"goods", "listings", "cache"} {
		if err := os.MkdirAll(filepath.Join(cfg.Dir, d), 0o700); err != nil {
			return nil, fmt.Errorf("market: %w", err)
		}
	}
	s := &Service{cfg: cfg, id: wallet.Account(), wallet: wallet, xkey: xk, log: cfg.Logger, settling: map[string]time.Time{}}
	s.st = localState{Listings: map[string]ownListing{}, Orders: map[string]ownOrder{}, Seen: map[string]Listing{}}
	b, err := os.ReadFile(s.statePath())
	switch {
	case err == nil:
		if err := json.Unmarshal(b, &s.st); err != nil {
			return nil, fmt.Errorf("market: state %s: %w", s.statePath(), err)
		}
	case !errors.Is(err, os.ErrNotExist):
		return nil, fmt.Errorf("market: %w", err)
	}
	if s.st.Listings == nil {
		s.st.Listings = map[string]ownListing{}
	}
	if s.st.Orders == nil {
		s.st.Orders = map[string]ownOrder{}
	}
	if s.st.Seen == nil {
		s.st.Seen = map[string]Listing{}
	}
	return s, nil
}

func (s *Service) statePath() string { return filepath.Join(s.cfg.Dir, "state.json") }

// save writes the state atomically. Caller holds s.mu.
func (s *Service) save() error {
	b, err := json.Marshal(&s.st)
	if err != nil {
		return fmt.Errorf("market: save: %w", err)
	}
	tmp := s.statePath() + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("market: save: %w", err)
	}
	if err := os.Rename(tmp, s.statePath()); err != nil {
		return fmt.Errorf("market: save: %w", err)
	}
	return nil
}

// Serve settles pending orders while this node is a ledger voter, until
// ctx ends.
func (s *Service) Serve(ctx context.Context) error {
	t := time.NewTicker(s.cfg.SettleInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			s.settlePending(ctx)
		}
	}
}

// --- selling ---

// SellRequest describes goods to sell.
type SellRequest struct {
	// Path is the file to sell (absolute).
	Path        string
	Title       string
	Description string
	Tags        []string
	// Price in micro-credits.
	Price int64
	// Preview is an optional file shared unencrypted beside the listing.
	Preview string
	// TTL is how long the listing sells (default 30 days).
	TTL time.Duration
	// Sponsor, if positive, is paid to the operator at once to rank the
	// listing higher.
	Sponsor int64
}

// SellResult is a new listing.
type SellResult struct {
	ID   string `json:"id"`
	CID  string `json:"cid"`
	Size int64  `json:"size"`
}

// DefaultTTL is how long a listing sells when SellRequest.TTL is zero.
const DefaultTTL = 30 * 24 * time.Hour

// Sell encrypts the file with a fresh key, shares the ciphertext, seals
// the key to the ledger's voters and registers the listing in the ledger,
// then shares the signed listing document so searches find it.
func (s *Service) Sell(ctx context.Context, req SellRequest) (SellResult, error) {
	if req.Price <= 0 {
		return SellResult{}, fmt.Errorf("%w: price must be positive", ErrInvalid)
	}
	if req.TTL <= 0 {
		req.TTL = DefaultTTL
	}
	src, err := os.Open(req.Path)
	if err != nil {
		return SellResult{}, fmt.Errorf("market: sell: %w", err)
	}
	defer src.Close()
	if fi, err := src.Stat(); err != nil || fi.IsDir() {
		return SellResult{}, fmt.Errorf("%w: %s is not a file", ErrInvalid, req.Path)
	}
	st, err := s.cfg.Ledger.Status(ctx)
	if err != nil {
		return SellResult{}, fmt.Errorf("market: sell: ledger: %w", err)
	}
	if len(st.Voters) == 0 {
		return SellResult{}, fmt.Errorf("market: sell: the ledger has no voters to hold the key")
	}
	key, err := newContentKey()
	if err != nil {
		return SellResult{}, err
	}
	tmpID := ledger.NewID()
	goods := filepath.Join(s.cfg.Dir, "goods", tmpID+".ppgoods")
	f, err := os.OpenFile(goods, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return SellResult{}, fmt.Errorf("market: sell: %w", err)
	}
	err = encryptTo(f, src, key)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	fi, serr := os.Stat(goods)
	if err == nil {
		err = serr
	}
	if err != nil {
		os.Remove(goods)
		return SellResult{}, err
	}
	cid, err := s.cfg.Files.Share(ctx, goods)
	if err != nil {
		os.Remove(goods)
		return SellResult{}, fmt.Errorf("market: sell: share: %w", err)
	}
	var preview string
	if req.Preview != "" {
		if preview, err = s.cfg.Files.Share(ctx, req.Preview); err != nil {
			return SellResult{}, fmt.Errorf("market: sell: share preview: %w", err)
		}
	}
	now := time.Now()
	l, err := Sign(s.cfg.Key, Listing{
		Version: 1, Title: strings.TrimSpace(req.Title), Description: req.Description, Tags: req.Tags,
		Price: req.Price, CID: cid, Size: fi.Size(), Commit: hex.EncodeToString(commitment(key.String())),
		Seller: s.id, Preview: preview, Created: now.UnixNano(), Expiry: now.Add(req.TTL).UnixNano(),
	})
	if err != nil {
		return SellResult{}, err
	}
	id := l.ID()
	lk := ledger.ListingKey{CID: cid, Size: fi.Size(), Commit: commitment(key.String()), Expiry: l.Expiry, Sealed: map[string][]byte{}}
	for _, v := range st.Voters {
		pub, err := x25519FromPeer(v)
		if err != nil {
			return SellResult{}, err
		}
		if lk.Sealed[v], err = seal(pub, []byte(key.String())); err != nil {
			return SellResult{}, err
		}
	}
	if err := s.register(ctx, id, l.Price, lk); err != nil {
		return SellResult{}, err
	}
	doc := filepath.Join(s.cfg.Dir, "listings", docName(&l, id))
	if err := os.WriteFile(doc, l.Encode(), 0o644); err != nil {
		return SellResult{}, fmt.Errorf("market: sell: %w", err)
	}
	docCID, err := s.cfg.Files.Share(ctx, doc)
	if err != nil {
		return SellResult{}, fmt.Errorf("market: sell: share listing: %w", err)
	}
	// This node's own searches find the listing at once (Files.Share
	// indexed it) and read it from the cache, not from the network, where
	// no peer may have it yet.
	s.cacheListing(docCID, l.Encode())
	s.mu.Lock()
	s.st.Listings[id] = ownListing{Listing: l, Key: key.String(), Goods: goods, Doc: doc}
	err = s.save()
	s.mu.Unlock()
	if err != nil {
		return SellResult{}, err
	}
	if req.Sponsor > 0 {
		if err := s.Sponsor(ctx, id, req.Sponsor); err != nil {
			return SellResult{ID: id, CID: cid, Size: fi.Size()}, err
		}
	}
	return SellResult{ID: id, CID: cid, Size: fi.Size()}, nil
}

// cacheListing keeps the listing document b, shared as docCID, in the
// cache that Search reads before fetching (best effort: a search fetches
// what is missing).
func (s *Service) cacheListing(docCID string, b []byte) {
	dir := filepath.Join(s.cfg.Dir, "cache")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return
	}
	path := filepath.Join(dir, filepath.Base(docCID)+ListingSuffix)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		os.Remove(tmp)
		return
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
	}
}

// register submits the listing's key record to the ledger.
func (s *Service) register(ctx context.Context, id string, price int64, lk ledger.ListingKey) error {
	return s.submit(ctx, ledger.Transfer{Kind: ledger.KindList, To: s.id, Amount: price, Ref: id, Data: lk.Encode()})
}

// submit signs t with the node's wallet (From this node, a fresh ID unless
// set) and submits it.
func (s *Service) submit(ctx context.Context, t ledger.Transfer) error {
	if _, err := s.wallet.Submit(ctx, t); err != nil {
		return fmt.Errorf("market: %w", err)
	}
	return nil
}

// OwnListing is one of this node's listings.
type OwnListing struct {
	ID        string  `json:"id"`
	Listing   Listing `json:"listing"`
	Withdrawn bool    `json:"withdrawn"`
}

// Listings returns this node's listings, newest first.
func (s *Service) Listings() []OwnListing {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]OwnListing, 0, len(s.st.Listings))
	for id, l := range s.st.Listings {
		out = append(out, OwnListing{ID: id, Listing: l.Listing, Withdrawn: l.Withdrawn})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Listing.Created > out[j].Listing.Created })
	return out
}

// Withdraw takes one of this node's listings down: withdrawn in the ledger
// (no more purchases) and its documents no longer shared.
func (s *Service) Withdraw(ctx context.Context, id string) error {
	s.mu.Lock()
	l, ok := s.st.Listings[id]
	s.mu.Unlock()
	if !ok {
		return fmt.Errorf("%w: listing %s is not yours", ErrNotFound, id)
	}
	if err := s.submit(ctx, ledger.Transfer{Kind: ledger.KindUnlist, To: s.id, Ref: id}); err != nil {
		return err
	}
	for _, p := range []string{l.Doc, l.Goods} {
		if err := s.cfg.Files.Unshare(ctx, p); err != nil {
			s.log.Warn("unshare withdrawn listing", "path", p, "err", err)
		}
	}
	os.Remove(l.Doc)
	s.mu.Lock()
	l.Withdrawn = true
	s.st.Listings[id] = l
	err := s.save()
	s.mu.Unlock()
	return err
}

// Sponsor pays amount micro-credits to the ledger's operator to rank the
// listing higher in searches.
func (s *Service) Sponsor(ctx context.Context, id string, amount int64) error {
	if amount <= 0 {
		return fmt.Errorf("%w: sponsorship must be positive", ErrInvalid)
	}
	st, err := s.cfg.Ledger.Status(ctx)
	if err != nil {
		return fmt.Errorf("market: sponsor: %w", err)
	}
	if st.Operator == "" {
		return fmt.Errorf("%w: the ledger has no operator to sponsor through", ErrInvalid)
	}
	return s.submit(ctx, ledger.Transfer{Kind: ledger.KindSponsor, To: st.Operator, Amount: amount, Ref: id})
}

// --- settling (voters) ---

// settlePending releases or refunds the pending orders this voter can
// settle. The leader settles at once; other voters step in for orders
// older than settleGrace (a leader not among the listing's voters).
func (s *Service) settlePending(ctx context.Context) {
	pending := s.cfg.Ledger.PendingOrders()
	if len(pending) == 0 {
		return
	}
	leader := s.cfg.Ledger.IsLeader()
	now := time.Now()
	for _, o := range pending {
		if !slices.Contains(o.Voters, s.id) {
			continue
		}
		if !leader && now.Sub(time.Unix(0, o.Created)) < settleGrace {
			continue
		}
		s.mu.Lock()
		last, busy := s.settling[o.ID]
		if busy && now.Sub(last) < 2*time.Second {
			s.mu.Unlock()
			continue
		}
		s.settling[o.ID] = now
		for id, t := range s.settling {
			if now.Sub(t) > time.Hour {
				delete(s.settling, id)
			}
		}
		s.mu.Unlock()
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		if err := s.settle(sctx, o); err != nil {
			s.log.Warn("settle order", "order", o.ID, "err", err)
		}
		cancel()
	}
}

const settleGrace = 10 * time.Second

// settle opens this voter's copy of the content key, checks it against
// the listing's commitment and releases the escrow with the key sealed to
// the buyer, or refunds the buyer when the key is wrong.
func (s *Service) settle(ctx context.Context, o ledger.Order) error {
	l, err := s.cfg.Ledger.MarketListing(ctx, o.Listing)
	if err != nil {
		return err
	}
	reason := ""
	var box []byte
	key, err := open(s.xkey, l.Sealed[s.id])
	switch {
	case err != nil:
		reason = "the seller's key does not open"
	case !keyMatches(string(key), l.Commit):
		reason = "the seller's key does not match the listing's commitment"
	default:
		pub, err := ecdh.X25519().NewPublicKey(o.BuyerKey)
		if err != nil {
			reason = "the buyer's key is not an X25519 key"
			break
		}
		if box, err = seal(pub, key); err != nil {
			return err
		}
	}
	t := ledger.Transfer{ID: settleID(o.ID), Ref: o.ID}
	if reason == "" {
		t.Kind, t.To, t.Data = ledger.KindRelease, o.Seller, box
		if s.cfg.Ledger.Rules() >= ledger.RulesV2 {
			// The state machine checks the key itself against the
			// commitment; the order keeps only the copy sealed to the buyer.
			t.Data = ledger.Release{Key: key, Box: box}.Encode()
		}
		s.log.Info("releasing order", "order", o.ID, "seller", o.Seller)
	} else {
		t.Kind, t.To, t.Memo = ledger.KindRefund, o.Buyer, reason
		s.log.Info("refunding order", "order", o.ID, "buyer", o.Buyer, "reason", reason)
	}
	err = s.submit(ctx, t)
	if errors.Is(err, ledger.ErrSettled) || errors.Is(err, ledger.ErrConflict) {
		// Another voter (or an earlier attempt of this one) settled it.
		return nil
	}
	return err
}
