package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/peerpath/peerpath/api"
	"github.com/peerpath/peerpath/internal/httpapi"
	"github.com/peerpath/peerpath/internal/ledger"
	"github.com/peerpath/peerpath/internal/market"
	"github.com/peerpath/peerpath/internal/search"
	"github.com/peerpath/peerpath/internal/transfer"
)

// marketFiles adapts the share and transfer services to market.Files.
type marketFiles struct{ n *Node }

func (m marketFiles) Share(ctx context.Context, path string) (string, error) {
	s, err := m.n.files.share.Add(ctx, path)
	if err != nil {
		return "", err
	}
	if m.n.search != nil {
		m.n.search.Refresh()
	}
	return s.CID, nil
}

func (m marketFiles) Unshare(ctx context.Context, path string) error {
	return m.n.files.share.Remove(ctx, path)
}

func (m marketFiles) Fetch(ctx context.Context, id, out string) error {
	c, err := cid.Decode(id)
	if err != nil {
		return fmt.Errorf("node: market: bad content id %q: %w", id, err)
	}
	_, err = m.n.files.transfer.Get(ctx, c, transfer.GetOptions{Output: out, Timeout: 20 * time.Second})
	return err
}

// marketFinder adapts the search service to market.Finder.
type marketFinder struct{ n *Node }

func (m marketFinder) Find(ctx context.Context, query string, emit func(market.Hit)) error {
	return m.n.search.Search(ctx, query, search.Options{}, func(r search.Result) {
		emit(market.Hit{CID: r.CID, Name: r.Name, Score: r.Score, Providers: r.Providers})
	})
}

func (m marketFinder) Refresh() { m.n.search.Refresh() }

// newMarket builds the market service and mounts its routes; call it after
// newFiles, newLedger and newSearch. Its Serve settles escrowed orders when
// this node is a ledger voter.
func (n *Node) newMarket(ctx context.Context) (*market.Service, error) {
	m, err := market.New(market.Config{
		Key:    n.p2p.Host().Peerstore().PrivKey(n.ID()),
		Dir:    filepath.Join(string(n.home), "market"),
		Ledger: n.ledger,
		Files:  marketFiles{n},
		Finder: marketFinder{n},
		Logger: n.log.With("sys", "market"),
	})
	if err != nil {
		return nil, err
	}
	n.marketRoutes(m)
	return m, nil
}

// marketErrorStatus maps the market's errors (and the ledger's market
// errors) to HTTP statuses.
func marketErrorStatus(m map[error]int) {
	m[market.ErrBadSignature] = http.StatusForbidden
	m[market.ErrExpired] = http.StatusGone
	m[market.ErrInvalid] = http.StatusBadRequest
	m[market.ErrMismatch] = http.StatusConflict
	m[market.ErrWrongKey] = http.StatusBadGateway
	m[market.ErrNotFound] = http.StatusNotFound
	m[market.ErrRefunded] = http.StatusConflict
	m[market.ErrPending] = http.StatusGatewayTimeout
	m[ledger.ErrNotFound] = http.StatusNotFound
	m[ledger.ErrSettled] = http.StatusConflict
	m[ledger.ErrNotPermitted] = http.StatusForbidden
	m[ledger.ErrListing] = http.StatusConflict
	m[ledger.ErrReplayed] = http.StatusConflict
}

func parseCredits(s, what string) (int64, error) {
	v, err := ledger.ParseCredits(s)
	if err != nil || v <= 0 {
		return 0, httpapi.BadRequest(fmt.Errorf("bad %s %q: want a positive number of credits", what, s))
	}
	return v, nil
}

func parseDuration(s string, def time.Duration) (time.Duration, error) {
	if s == "" {
		return def, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, httpapi.BadRequest(fmt.Errorf("bad duration %q", s))
	}
	return d, nil
}

func toAPIOrder(o market.OrderInfo) api.MarketOrder {
	return api.MarketOrder{ID: o.ID, Role: o.Role, Listing: o.Listing, Title: o.Title, Price: credits(o.Price),
		Fee: credits(o.Fee), Buyer: o.Buyer, Seller: o.Seller, State: o.State, Reason: o.Reason, Rated: o.Rated, Created: o.Created, Path: o.Path}
}

func (n *Node) marketRoutes(m *market.Service) {
	a := n.api
	a.HandleFunc("POST /api/v1/market/sell", func(w http.ResponseWriter, r *http.Request) (any, error) {
		var req api.MarketSellRequest
		if err := httpapi.DecodeJSON(r, &req); err != nil {
			return nil, err
		}
		p, err := absPath(req.Path)
		if err != nil {
			return nil, err
		}
		sr := market.SellRequest{Path: p, Title: req.Title, Description: req.Description, Tags: req.Tags}
		if sr.Price, err = parseCredits(req.Price, "price"); err != nil {
			return nil, err
		}
		if req.Sponsor != "" {
			if sr.Sponsor, err = parseCredits(req.Sponsor, "sponsorship"); err != nil {
				return nil, err
			}
		}
		if req.Preview != "" {
			if sr.Preview, err = absPath(req.Preview); err != nil {
				return nil, err
			}
		}
		if sr.TTL, err = parseDuration(req.TTL, market.DefaultTTL); err != nil {
			return nil, err
		}
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Minute)
		defer cancel()
		res, err := m.Sell(ctx, sr)
		if err != nil {
			return nil, err
		}
		return httpapi.WithStatus(http.StatusCreated, api.MarketSellResult{ID: res.ID, CID: res.CID, Size: res.Size}), nil
	})
	a.HandleFunc("GET /api/v1/market/listings", func(w http.ResponseWriter, r *http.Request) (any, error) {
		ls := m.Listings()
		out := make([]api.MarketListing, 0, len(ls))
		for _, l := range ls {
			out = append(out, api.MarketListing{ID: l.ID, Title: l.Listing.Title, Description: l.Listing.Description,
				Tags: l.Listing.Tags, Price: credits(l.Listing.Price), CID: l.Listing.CID, Size: l.Listing.Size,
				Expiry: l.Listing.Expiry, Withdrawn: l.Withdrawn})
		}
		return out, nil
	})
	a.HandleFunc("DELETE /api/v1/market/listings/{id}", func(w http.ResponseWriter, r *http.Request) (any, error) {
		ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
		defer cancel()
		id := r.PathValue("id")
		return map[string]string{"withdrawn": id}, m.Withdraw(ctx, id)
	})
	a.HandleFunc("POST /api/v1/market/listings/{id}/sponsor", func(w http.ResponseWriter, r *http.Request) (any, error) {
		var req api.MarketSponsorRequest
		if err := httpapi.DecodeJSON(r, &req); err != nil {
			return nil, err
		}
		amount, err := parseCredits(req.Amount, "amount")
		if err != nil {
			return nil, err
		}
		ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
		defer cancel()
		id := r.PathValue("id")
		return map[string]string{"sponsored": id}, m.Sponsor(ctx, id, amount)
	})
	a.HandleFunc("GET /api/v1/market/search", func(w http.ResponseWriter, r *http.Request) (any, error) {
		q := r.URL.Query().Get("q")
		if strings.TrimSpace(q) == "" {
			return nil, httpapi.BadRequest(errors.New("q is required"))
		}
		d, err := parseDuration(r.URL.Query().Get("timeout"), 5*time.Second)
		if err != nil || d > time.Minute {
			return nil, httpapi.BadRequest(errors.New("bad timeout (want e.g. 5s, at most 1m)"))
		}
		ctx, cancel := context.WithTimeout(r.Context(), d+20*time.Second)
		defer cancel()
		rs, stats, err := m.Search(ctx, q, d)
		if err != nil {
			return nil, err
		}
		out := api.MarketSearch{Results: make([]api.MarketResult, 0, len(rs)), Found: stats.Found, Dropped: stats.Dropped}
		for _, x := range rs {
			out.Results = append(out.Results, api.MarketResult{ID: x.ID, Title: x.Title, Price: credits(x.Price), Seller: x.Seller,
				CID: x.CID, Rating: x.Rating, Sponsored: x.Sponsored, Ratings: x.Ratings, Size: x.Size,
				Description: x.Description, Tags: x.Tags})
		}
		return out, nil
	})
	a.HandleFunc("POST /api/v1/market/buy", func(w http.ResponseWriter, r *http.Request) (any, error) {
		var req api.MarketBuyRequest
		if err := httpapi.DecodeJSON(r, &req); err != nil {
			return nil, err
		}
		out, err := absPath(req.Output)
		if err != nil {
			return nil, err
		}
		d, err := parseDuration(req.Timeout, 2*time.Minute)
		if err != nil {
			return nil, err
		}
		ctx, cancel := context.WithTimeout(r.Context(), d)
		defer cancel()
		res, err := m.Buy(ctx, req.Listing, out)
		if err != nil {
			return nil, err
		}
		return api.MarketBuyResult{Order: res.Order, Listing: res.Listing, Title: res.Title, Path: res.Path, Size: res.Size,
			Price: credits(res.Price), Fee: credits(res.Fee), Seller: res.Seller}, nil
	})
	a.HandleFunc("GET /api/v1/market/orders", func(w http.ResponseWriter, r *http.Request) (any, error) {
		ctx, cancel := context.WithTimeout(r.Context(), 15*time.Second)
		defer cancel()
		ords, err := m.Orders(ctx)
		if err != nil {
			return nil, err
		}
		out := make([]api.MarketOrder, 0, len(ords))
		for _, o := range ords {
			out = append(out, toAPIOrder(o))
		}
		return out, nil
	})
	// GET /api/v1/market/orders/{id}/file serves a released purchase's
	// goods, so the web app can open them.
	a.Handle("GET /api/v1/market/orders/{id}/file", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 15*time.Second)
		defer cancel()
		ords, err := m.Orders(ctx)
		if err != nil {
			n.api.WriteError(w, r, err)
			return
		}
		i := slices.IndexFunc(ords, func(o market.OrderInfo) bool { return o.ID == r.PathValue("id") && o.Role == "buy" })
		switch {
		case i < 0:
			n.api.WriteError(w, r, httpapi.NotFound(fmt.Errorf("no purchase %q on this node", r.PathValue("id"))))
		case ords[i].State != "released" || ords[i].Path == "":
			n.api.WriteError(w, r, &httpapi.StatusError{Status: http.StatusConflict, Err: fmt.Errorf("purchase is %s", ords[i].State)})
		default:
			n.serveLocalFile(w, r, ords[i].Path)
		}
	}))
	a.HandleFunc("POST /api/v1/market/orders/{id}/rate", func(w http.ResponseWriter, r *http.Request) (any, error) {
		var req api.MarketRateRequest
		if err := httpapi.DecodeJSON(r, &req); err != nil {
			return nil, err
		}
		ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
		defer cancel()
		id := r.PathValue("id")
		return map[string]string{"rated": id}, m.Rate(ctx, id, req.Stars, req.Comment)
	})
	a.HandleFunc("POST /api/v1/market/orders/{id}/refund", func(w http.ResponseWriter, r *http.Request) (any, error) {
		ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
		defer cancel()
		id := r.PathValue("id")
		return map[string]string{"refunded": id}, m.Refund(ctx, id)
	})
	a.HandleFunc("GET /api/v1/market/sellers/{id}", func(w http.ResponseWriter, r *http.Request) (any, error) {
		id := r.PathValue("id")
		if _, err := peer.Decode(id); err != nil {
			return nil, httpapi.BadRequest(fmt.Errorf("%q is not a peer ID", id))
		}
		ctx, cancel := context.WithTimeout(r.Context(), 15*time.Second)
		defer cancel()
		s, err := m.Seller(ctx, id)
		if err != nil {
			return nil, err
		}
		out := api.MarketSeller{Seller: s.Seller, Rating: s.Rating, Count: s.Count, Ratings: make([]api.MarketRating, 0, len(s.Ratings))}
		for _, x := range s.Ratings {
			out.Ratings = append(out.Ratings, api.MarketRating{Order: x.Order, Buyer: x.Buyer, Stars: x.Stars, Comment: x.Comment, Time: x.Time})
		}
		return out, nil
	})
	a.HandleFunc("POST /api/v1/market/verify", func(w http.ResponseWriter, r *http.Request) (any, error) {
		b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, market.MaxListingBytes))
		if err != nil {
			return nil, httpapi.BadRequest(fmt.Errorf("listing too large or unreadable: %w", err))
		}
		l, err := market.DecodeListing(b)
		if err != nil {
			return nil, err
		}
		ctx, cancel := context.WithTimeout(r.Context(), 15*time.Second)
		defer cancel()
		if _, err := m.Check(ctx, &l); err != nil {
			return nil, err
		}
		return api.MarketVerifyResult{ID: l.ID(), Title: l.Title, Seller: l.Seller}, nil
	})
}
