package market

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/peerpath/peerpath/internal/ledger"
)

// --- searching ---

// SearchResult is a verified listing found on the network.
type SearchResult struct {
	ID    string `json:"id"`
	Title string `json:"title"`
	// Price in micro-credits.
	Price       int64    `json:"price"`
	Seller      string   `json:"seller"`
	CID         string   `json:"cid"`
	Size        int64    `json:"size"`
	Description string   `json:"description,omitempty"`
	Tags        []string `json:"tags,omitempty"`
	Preview     string   `json:"preview,omitempty"`
	// Rating is the seller's mean stars (0: not rated yet); Ratings how many.
	Rating    float64 `json:"rating"`
	Ratings   int     `json:"ratings"`
	Sponsored bool    `json:"sponsored"`
	Score     float64 `json:"score"`
	// Created is when the listing was made, in Unix nanoseconds: the
	// ledger's clock when it recorded the listing (a seller cannot
	// backdate or postdate it), else the signed document's time, never
	// later than when this node saw it.
	Created int64 `json:"created"`
}

// SearchStats counts what a search saw.
type SearchStats struct {
	// Found is the number of listing documents the search layer returned.
	Found int `json:"found"`
	// Dropped counts listings refused: bad signature, expired, not matching
	// the ledger, withdrawn, unreadable.
	Dropped int `json:"dropped"`
}

// Search finds listings across the network through the search layer:
// listing documents whose names match query are fetched from their
// providers, verified (seller's signature, expiry) and checked against the
// ledger's escrow record; the rest are dropped. Results are ranked
// sponsored first, then by relevance weighted by the seller's rating.
// A query without words ("" or "*") browses every listing instead, ranked
// sponsored first, then newest first (by day), the seller's rating
// breaking ties within a day (see [Browse]).
// within bounds the network search (0: Config.SearchTimeout); fetching and
// checking the listings found takes at most 10 s more per listing.
func (s *Service) Search(ctx context.Context, query string, within time.Duration) ([]SearchResult, SearchStats, error) {
	var stats SearchStats
	if within <= 0 {
		within = s.cfg.SearchTimeout
	}
	browse := IsBrowse(query)
	if browse {
		// Every listing document's name ends in the listing suffix, a
		// word of its own to the search.
		query = strings.TrimPrefix(ListingSuffix, ".")
	}
	hits := map[string]Hit{}
	var order []string
	fctx, cancel := context.WithTimeout(ctx, within)
	err := s.cfg.Finder.Find(fctx, query, func(h Hit) {
		if !strings.HasSuffix(h.Name, ListingSuffix) {
			return
		}
		if _, ok := hits[h.CID]; !ok {
			order = append(order, h.CID)
		}
		hits[h.CID] = h
	})
	cancel()
	if err != nil && ctx.Err() == nil && !errors.Is(err, context.DeadlineExceeded) {
		return nil, stats, fmt.Errorf("market: search: %w", err)
	}
	stats.Found = len(order)
	var (
		mu      sync.Mutex
		out     []SearchResult
		wg      sync.WaitGroup
		sem     = make(chan struct{}, 4)
		ratings = map[string][]ledger.Rating{}
	)
	for _, cid := range order {
		h := hits[cid]
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			r, err := s.resolve(ctx, h)
			if err == nil {
				mu.Lock()
				rs, ok := ratings[r.Seller]
				mu.Unlock()
				if !ok {
					rs, err = s.cfg.Ledger.Ratings(ctx, r.Seller)
					mu.Lock()
					ratings[r.Seller] = rs
					mu.Unlock()
				}
				r.Rating, r.Ratings = meanStars(rs)
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				stats.Dropped++
				s.log.Debug("listing dropped", "cid", h.CID, "name", h.Name, "err", err)
				return
			}
			for _, o := range out {
				if o.ID == r.ID {
					return
				}
			}
			out = append(out, r)
		}()
	}
	wg.Wait()
	if browse {
		rankNewest(out)
	} else {
		rank(out)
	}
	return out, stats, nil
}

// IsBrowse reports whether a market query has no words ("" or "*"): it
// browses every listing, newest first.
func IsBrowse(query string) bool {
	q := strings.TrimSpace(query)
	return q == "" || q == "*"
}

// rankNewest orders browsed listings: sponsored first, then by the day
// they were made, newest first; within a day the better-rated seller
// first (an unrated seller counts as 3 stars), then the newer listing.
func rankNewest(rs []SearchResult) {
	const day = int64(24 * time.Hour)
	stars := func(r SearchResult) float64 {
		if r.Ratings == 0 {
			return 3
		}
		return r.Rating
	}
	sort.SliceStable(rs, func(i, j int) bool {
		a, b := rs[i], rs[j]
		if a.Sponsored != b.Sponsored {
			return a.Sponsored
		}
		if da, db := a.Created/day, b.Created/day; da != db {
			return da > db
		}
		if sa, sb := stars(a), stars(b); sa != sb {
			return sa > sb
		}
		return a.Created > b.Created
	})
}

// rank orders results: sponsored first, then relevance weighted by the
// seller's rating (an unrated seller counts as 3 stars).
func rank(rs []SearchResult) {
	for i := range rs {
		stars := rs[i].Rating
		if rs[i].Ratings == 0 {
			stars = 3
		}
		rs[i].Score = max(rs[i].Score, 0.01) * (0.5 + stars/5)
	}
	sort.SliceStable(rs, func(i, j int) bool {
		if rs[i].Sponsored != rs[j].Sponsored {
			return rs[i].Sponsored
		}
		return rs[i].Score > rs[j].Score
	})
}

func meanStars(rs []ledger.Rating) (float64, int) {
	if len(rs) == 0 {
		return 0, 0
	}
	sum := 0
	for _, r := range rs {
		sum += r.Stars
	}
	return float64(sum) / float64(len(rs)), len(rs)
}

// resolve fetches, verifies and checks one listing document.
func (s *Service) resolve(ctx context.Context, h Hit) (SearchResult, error) {
	path := filepath.Join(s.cfg.Dir, "cache", filepath.Base(h.CID)+ListingSuffix)
	if _, err := os.Stat(path); err != nil {
		fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := s.cfg.Files.Fetch(fctx, h.CID, path)
		cancel()
		if err != nil {
			return SearchResult{}, fmt.Errorf("market: fetch listing %s: %w", h.CID, err)
		}
	}
	b, err := readBounded(path, MaxListingBytes)
	if err != nil {
		return SearchResult{}, err
	}
	l, err := DecodeListing(b)
	if err != nil {
		return SearchResult{}, err
	}
	ml, err := s.Check(ctx, &l)
	if err != nil {
		return SearchResult{}, err
	}
	id := l.ID()
	created := ml.Created
	if created <= 0 {
		created = min(l.Created, time.Now().UnixNano())
	}
	s.mu.Lock()
	if len(s.st.Seen) >= maxSeen {
		clear(s.st.Seen)
	}
	s.st.Seen[id] = l
	_ = s.save()
	s.mu.Unlock()
	return SearchResult{ID: id, Title: l.Title, Price: l.Price, Seller: l.Seller, CID: l.CID, Size: l.Size,
		Description: l.Description, Tags: l.Tags, Preview: l.Preview, Sponsored: ml.Sponsored > 0, Score: h.Score, Created: created}, nil
}

// Check verifies a listing document (signature, expiry) and that the
// ledger holds the same listing, not withdrawn. It returns the ledger's
// record. Errors wrap ErrBadSignature, ErrExpired, ErrInvalid or
// ErrMismatch.
func (s *Service) Check(ctx context.Context, l *Listing) (ledger.MarketListing, error) {
	if err := l.Verify(time.Now()); err != nil {
		return ledger.MarketListing{}, err
	}
	id := l.ID()
	ml, err := s.cfg.Ledger.MarketListing(ctx, id)
	if errors.Is(err, ledger.ErrNotFound) {
		return ledger.MarketListing{}, fmt.Errorf("%w: the ledger holds no listing %s", ErrMismatch, id)
	}
	if err != nil {
		return ledger.MarketListing{}, fmt.Errorf("market: check listing: %w", err)
	}
	switch {
	case ml.Seller != l.Seller || ml.Price != l.Price || ml.CID != l.CID || fmt.Sprintf("%x", ml.Commit) != l.Commit:
		return ledger.MarketListing{}, fmt.Errorf("%w: listing %s", ErrMismatch, id)
	case ml.Withdrawn:
		return ledger.MarketListing{}, fmt.Errorf("%w: listing %s was withdrawn", ErrMismatch, id)
	}
	return ml, nil
}

func readBounded(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("market: %w", err)
	}
	defer f.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(io.LimitReader(f, limit+1)); err != nil {
		return nil, fmt.Errorf("market: %w", err)
	}
	if int64(buf.Len()) > limit {
		return nil, fmt.Errorf("%w: %s over %d bytes", ErrInvalid, path, limit)
	}
	return buf.Bytes(), nil
}

// --- buying ---

// BuyResult is a completed purchase.
type BuyResult struct {
	Order   string `json:"order"`
	Listing string `json:"listing"`
	Title   string `json:"title,omitempty"`
	Path    string `json:"path"`
	Size    int64  `json:"size"`
	Price   int64  `json:"price"`
	Fee     int64  `json:"fee"`
	Seller  string `json:"seller"`
}

// Buy buys a listing and decrypts its goods to out: it pays price and fee
// into escrow through the ledger (a KindBuy carrying a one-time X25519
// key), waits for a voter to release the content key sealed to that key
// (the seller need not be online), checks the key against the listing's
// commitment, fetches the ciphertext from any peers and decrypts it. A
// Buy interrupted after paying resumes the same order when called again;
// the ledger refuses a replayed order (ledger.ErrReplayed), which Buy
// accepts only for an order the ledger holds as this node's own.
// It returns ErrRefunded when the voters refunded the order (wrong key),
// ErrPending when ctx ends first.
func (s *Service) Buy(ctx context.Context, listingID, out string) (BuyResult, error) {
	if !filepath.IsAbs(out) {
		return BuyResult{}, fmt.Errorf("%w: output %q must be an absolute path", ErrInvalid, out)
	}
	ml, err := s.cfg.Ledger.MarketListing(ctx, listingID)
	if errors.Is(err, ledger.ErrNotFound) {
		return BuyResult{}, fmt.Errorf("%w: no listing %s in the ledger", ErrNotFound, listingID)
	}
	if err != nil {
		return BuyResult{}, fmt.Errorf("market: buy: %w", err)
	}
	s.mu.Lock()
	title := s.st.Seen[listingID].Title
	var prev *ownOrder
	for _, o := range s.st.Orders {
		if o.Listing == listingID {
			o := o
			prev = &o
		}
	}
	s.mu.Unlock()
	res := BuyResult{Listing: listingID, Title: title, Path: out, Price: ml.Price, Seller: ml.Seller}
	var o ledger.Order
	if prev != nil {
		if o, err = s.cfg.Ledger.Order(ctx, prev.ID); err == nil && o.State == ledger.OrderRefunded {
			prev = nil // refunded: buy again
		} else if err != nil && !errors.Is(err, ledger.ErrNotFound) {
			return res, fmt.Errorf("market: buy: %w", err)
		}
	}
	var orderID string
	if prev != nil {
		orderID = prev.ID
	} else {
		if ml.Withdrawn {
			return res, fmt.Errorf("%w: listing %s was withdrawn", ErrMismatch, listingID)
		}
		if time.Now().UnixNano() >= ml.Expiry {
			return res, fmt.Errorf("%w: listing %s", ErrExpired, listingID)
		}
		if err := s.checkSealed(ctx, ml); err != nil {
			return res, err
		}
		orderID = ledger.NewID()
		s.mu.Lock()
		s.st.Orders[orderID] = ownOrder{ID: orderID, Listing: listingID, Title: title, Output: out, Created: time.Now().UnixNano()}
		err := s.save()
		s.mu.Unlock()
		if err != nil {
			return res, err
		}
	}
	res.Order = orderID
	priv, err := orderKey(s.cfg.Key, orderID)
	if err != nil {
		return res, err
	}
	if o.ID != orderID || o.State == "" {
		// Pay (or retry paying: the same order ID applies once).
		err := s.submit(ctx, ledger.Transfer{ID: orderID, Kind: ledger.KindBuy, To: ml.Seller, Amount: ml.Price,
			Ref: listingID, Data: priv.PublicKey().Bytes()})
		if errors.Is(err, ledger.ErrReplayed) {
			// The ledger refuses a replayed order; this one may be our own
			// earlier attempt whose answer was lost (the ledger client
			// retries with the same ID). Go on only if the order is ours.
			err = s.ownOrder(ctx, orderID, listingID, priv.PublicKey().Bytes(), err)
		}
		if err != nil {
			if errors.Is(err, ledger.ErrExpired) || errors.Is(err, ledger.ErrInsufficientFunds) || errors.Is(err, ledger.ErrListing) {
				s.forget(orderID)
			}
			return res, err
		}
	}
	for {
		o, err = s.cfg.Ledger.Order(ctx, orderID)
		if err != nil && !errors.Is(err, ledger.ErrNotFound) {
			if ctx.Err() != nil {
				return res, fmt.Errorf("%w: order %s: %w", ErrPending, orderID, ctx.Err())
			}
			return res, fmt.Errorf("market: buy: %w", err)
		}
		if err == nil && o.State != ledger.OrderPending {
			break
		}
		select {
		case <-ctx.Done():
			return res, fmt.Errorf("%w: order %s (refundable with market refund after %s): %w", ErrPending, orderID,
				time.Unix(0, o.Deadline).UTC().Format(time.RFC3339), ctx.Err())
		case <-time.After(s.cfg.PollInterval):
		}
	}
	res.Fee = o.Fee
	if o.State == ledger.OrderRefunded {
		return res, fmt.Errorf("%w: order %s: %s; %s credits (price and fee) were returned to you", ErrRefunded, orderID,
			o.Reason, ledger.FormatCredits(o.Price+o.Fee))
	}
	key, err := open(priv, o.SealedKey)
	if err != nil {
		return res, err
	}
	if !keyMatches(string(key), ml.Commit) {
		return res, fmt.Errorf("%w: the released key does not match the listing's commitment", ErrWrongKey)
	}
	goods := filepath.Join(s.cfg.Dir, "cache", filepath.Base(ml.CID)+".ppgoods")
	if _, err := os.Stat(goods); err != nil {
		if err := s.cfg.Files.Fetch(ctx, ml.CID, goods); err != nil {
			return res, fmt.Errorf("market: buy: fetch goods: %w", err)
		}
	}
	n, err := decryptFile(goods, out, string(key))
	if err != nil {
		return res, err
	}
	res.Size = n
	return res, nil
}

// ownOrder returns nil when the ledger holds orderID as this node's
// purchase of listingID with buyerKey (placed by an earlier attempt of the
// same Buy), else refused wrapped with what the ledger holds.
func (s *Service) ownOrder(ctx context.Context, orderID, listingID string, buyerKey []byte, refused error) error {
	o, err := s.cfg.Ledger.Order(ctx, orderID)
	if err != nil {
		return fmt.Errorf("%w (and reading the order: %w)", refused, err)
	}
	if o.Buyer != s.id || o.Listing != listingID || !bytes.Equal(o.BuyerKey, buyerKey) {
		return fmt.Errorf("%w: the ledger's order %s is %s's purchase of listing %s", refused, orderID, o.Buyer, o.Listing)
	}
	return nil
}

func (s *Service) forget(orderID string) {
	s.mu.Lock()
	delete(s.st.Orders, orderID)
	_ = s.save()
	s.mu.Unlock()
}

// decryptFile decrypts src into out (through a temporary file beside it,
// renamed when complete) and returns the plaintext size. The temporary
// name is short whatever out's length: a name of up to 255 bytes is
// bought like any other.
func decryptFile(src, out, key string) (int64, error) {
	in, err := os.Open(src)
	if err != nil {
		return 0, fmt.Errorf("market: %w", err)
	}
	defer in.Close()
	f, err := os.CreateTemp(filepath.Dir(out), ".peerpath-goods-*.part")
	if err != nil {
		return 0, fmt.Errorf("market: %w", err)
	}
	part := f.Name()
	err = f.Chmod(0o644)
	if err == nil {
		err = decryptTo(f, in, key)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(part)
		return 0, err
	}
	fi, err := os.Stat(part)
	if err != nil {
		os.Remove(part)
		return 0, fmt.Errorf("market: %w", err)
	}
	if err := os.Rename(part, out); err != nil {
		os.Remove(part)
		return 0, fmt.Errorf("market: %w", err)
	}
	return fi.Size(), nil
}

// Refund takes back the escrow of one of this node's pending orders once
// its deadline has passed (the ledger refuses it earlier).
func (s *Service) Refund(ctx context.Context, orderID string) error {
	o, err := s.cfg.Ledger.Order(ctx, orderID)
	if err != nil {
		return fmt.Errorf("market: refund: %w", err)
	}
	return s.submit(ctx, ledger.Transfer{Kind: ledger.KindRefund, To: o.Buyer, Ref: orderID, Memo: "no key before the deadline"})
}

// --- orders and ratings ---

// OrderInfo is one of this node's purchases or sales.
type OrderInfo struct {
	ID      string `json:"id"`
	Role    string `json:"role"` // "buy" or "sell"
	Listing string `json:"listing"`
	Title   string `json:"title,omitempty"`
	Price   int64  `json:"price"`
	Fee     int64  `json:"fee"`
	Buyer   string `json:"buyer"`
	Seller  string `json:"seller"`
	State   string `json:"state"`
	Reason  string `json:"reason,omitempty"`
	Rated   bool   `json:"rated,omitempty"`
	Created int64  `json:"created"`
	// Path is where a purchase's goods were saved (buy orders of this
	// node; empty for sales).
	Path string `json:"path,omitempty"`
}

// Orders returns this node's purchases and sales as the ledger holds
// them, newest first.
func (s *Service) Orders(ctx context.Context) ([]OrderInfo, error) {
	ords, err := s.cfg.Ledger.Orders(ctx, s.id)
	if err != nil {
		return nil, fmt.Errorf("market: orders: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]OrderInfo, 0, len(ords))
	for _, o := range ords {
		oi := OrderInfo{ID: o.ID, Role: "buy", Listing: o.Listing, Price: o.Price, Fee: o.Fee, Buyer: o.Buyer,
			Seller: o.Seller, State: o.State, Reason: o.Reason, Rated: o.Rated, Created: o.Created}
		if o.Seller == s.id {
			oi.Role = "sell"
			oi.Title = s.st.Listings[o.Listing].Listing.Title
		} else {
			oi.Title = s.st.Orders[o.ID].Title
			oi.Path = s.st.Orders[o.ID].Output
			if oi.Title == "" {
				oi.Title = s.st.Seen[o.Listing].Title
			}
		}
		out = append(out, oi)
	}
	return out, nil
}

// Rate rates the seller of one of this node's completed purchases: 1 to 5
// stars and a comment, signed and recorded in the ledger (once per order).
func (s *Service) Rate(ctx context.Context, orderID string, stars int, comment string) error {
	if stars < 1 || stars > 5 {
		return fmt.Errorf("%w: stars must be 1 to 5", ErrInvalid)
	}
	o, err := s.cfg.Ledger.Order(ctx, orderID)
	if err != nil {
		return fmt.Errorf("market: rate: %w", err)
	}
	return s.submit(ctx, ledger.Transfer{Kind: ledger.KindRate, To: o.Seller, Amount: int64(stars), Ref: orderID, Memo: comment})
}

// SellerInfo is a seller's page: rating and the ratings behind it.
type SellerInfo struct {
	Seller  string          `json:"seller"`
	Rating  float64         `json:"rating"`
	Count   int             `json:"count"`
	Ratings []ledger.Rating `json:"ratings"`
}

// Seller returns a seller's ratings from the ledger.
func (s *Service) Seller(ctx context.Context, seller string) (SellerInfo, error) {
	rs, err := s.cfg.Ledger.Ratings(ctx, seller)
	if err != nil {
		return SellerInfo{}, fmt.Errorf("market: seller: %w", err)
	}
	if rs == nil {
		rs = []ledger.Rating{}
	}
	avg, n := meanStars(rs)
	return SellerInfo{Seller: seller, Rating: avg, Count: n, Ratings: rs}, nil
}

// checkSealed refuses a listing whose key copies are not all sealed to
// current ledger voters (or sealed to none): only a current voter can
// release an order, so no one could release this one, and a copy held by
// anyone else (its seller, say) is a listing built to cheat.
func (s *Service) checkSealed(ctx context.Context, ml ledger.MarketListing) error {
	st, err := s.cfg.Ledger.Status(ctx)
	if err != nil {
		return fmt.Errorf("market: buy: ledger: %w", err)
	}
	if len(ml.Sealed) == 0 {
		return fmt.Errorf("%w: listing %s: its key is sealed to no voter", ErrMismatch, ml.ID)
	}
	for holder := range ml.Sealed {
		if !slices.Contains(st.Voters, holder) {
			return fmt.Errorf("%w: listing %s: its key is sealed to %s, which is not a current ledger voter; no voter could release it to you",
				ErrMismatch, ml.ID, holder)
		}
	}
	return nil
}
