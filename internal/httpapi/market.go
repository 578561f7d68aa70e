package httpapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"time"

	"github.com/peerpath/peerpath/api"
	"github.com/peerpath/peerpath/internal/market"
)

func parseDuration(s string, def time.Duration) (time.Duration, error) {
	if s == "" {
		return def, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, BadRequest(fmt.Errorf("bad duration %q", s))
	}
	return d, nil
}

func toAPIOrder(o market.OrderInfo) api.MarketOrder {
	return api.MarketOrder{ID: o.ID, Role: o.Role, Listing: o.Listing, Title: o.Title, Price: credits(o.Price),
		Fee: credits(o.Fee), Buyer: o.Buyer, Seller: o.Seller, State: o.State, Reason: o.Reason, Rated: o.Rated, Created: o.Created, Path: o.Path}
}

// marketRoutes serves the market: selling, finding, buying, rating.
func marketRoutes(s *Server, m Market) []route {
	return []route{
		{pattern: "POST /api/v1/market/sell", fn: func(w http.ResponseWriter, r *http.Request) (any, error) {
			var req api.MarketSellRequest
			if err := DecodeJSON(r, &req); err != nil {
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
			return WithStatus(http.StatusCreated, api.MarketSellResult{ID: res.ID, CID: res.CID, Size: res.Size}), nil
		}},
		{pattern: "GET /api/v1/market/listings", fn: func(w http.ResponseWriter, r *http.Request) (any, error) {
			ls := m.Listings()
			out := make([]api.MarketListing, 0, len(ls))
			for _, l := range ls {
				out = append(out, api.MarketListing{ID: l.ID, Title: l.Listing.Title, Description: l.Listing.Description,
					Tags: l.Listing.Tags, Price: credits(l.Listing.Price), CID: l.Listing.CID, Size: l.Listing.Size,
					Expiry: l.Listing.Expiry, Withdrawn: l.Withdrawn})
			}
			return out, nil
		}},
		{pattern: "DELETE /api/v1/market/listings/{id}", fn: func(w http.ResponseWriter, r *http.Request) (any, error) {
			ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
			defer cancel()
			id := r.PathValue("id")
			return api.MarketWithdrawn{Withdrawn: id}, m.Withdraw(ctx, id)
		}},
		{pattern: "POST /api/v1/market/listings/{id}/sponsor", fn: func(w http.ResponseWriter, r *http.Request) (any, error) {
			var req api.MarketSponsorRequest
			if err := DecodeJSON(r, &req); err != nil {
				return nil, err
			}
			amount, err := parseCredits(req.Amount, "amount")
			if err != nil {
				return nil, err
			}
			ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
			defer cancel()
			id := r.PathValue("id")
			return api.MarketSponsored{Sponsored: id}, m.Sponsor(ctx, id, amount)
		}},
		{pattern: "GET /api/v1/market/search", fn: func(w http.ResponseWriter, r *http.Request) (any, error) {
			// No words ("" or "*") browses every listing, newest first
			// (market.IsBrowse).
			q := r.URL.Query().Get("q")
			d, err := parseDuration(r.URL.Query().Get("timeout"), 5*time.Second)
			if err != nil || d > time.Minute {
				return nil, BadRequest(errors.New("bad timeout (want e.g. 5s, at most 1m)"))
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
					Description: x.Description, Tags: x.Tags, Created: x.Created})
			}
			return out, nil
		}},
		{pattern: "POST /api/v1/market/buy", fn: func(w http.ResponseWriter, r *http.Request) (any, error) {
			var req api.MarketBuyRequest
			if err := DecodeJSON(r, &req); err != nil {
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
			for _, l := range m.Listings() {
				if l.ID == req.Listing {
					return nil, BadRequest(errOwnListing)
				}
			}
			ctx, cancel := context.WithTimeout(r.Context(), d)
			defer cancel()
			// A listing bought before answers the same order again: say so.
			already := false
			if ords, err := m.Orders(ctx); err == nil {
				for _, o := range ords {
					if o.Role == "buy" && o.Listing == req.Listing && o.State == "released" {
						already = true
					}
				}
			}
			res, err := m.Buy(ctx, req.Listing, out)
			if err != nil {
				return nil, err
			}
			return api.MarketBuyResult{Order: res.Order, Listing: res.Listing, Title: res.Title, Path: res.Path, Size: res.Size,
				Price: credits(res.Price), Fee: credits(res.Fee), Seller: res.Seller, AlreadyBought: already}, nil
		}},
		{pattern: "GET /api/v1/market/orders", fn: func(w http.ResponseWriter, r *http.Request) (any, error) {
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
		}},
		// A released purchase's goods, so the web app can open them.
		{pattern: "GET /api/v1/market/orders/{id}/file", raw: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ctx, cancel := context.WithTimeout(r.Context(), 15*time.Second)
			defer cancel()
			ords, err := m.Orders(ctx)
			if err != nil {
				s.WriteError(w, r, err)
				return
			}
			i := slices.IndexFunc(ords, func(o market.OrderInfo) bool { return o.ID == r.PathValue("id") && o.Role == "buy" })
			switch {
			case i < 0:
				s.WriteError(w, r, NotFound(fmt.Errorf("no purchase %q on this node", r.PathValue("id"))))
			case ords[i].State != "released" || ords[i].Path == "":
				s.WriteError(w, r, &StatusError{Status: http.StatusConflict, Err: fmt.Errorf("purchase is %s", ords[i].State)})
			default:
				s.serveLocalFile(w, r, ords[i].Path)
			}
		})},
		{pattern: "POST /api/v1/market/orders/{id}/rate", fn: func(w http.ResponseWriter, r *http.Request) (any, error) {
			var req api.MarketRateRequest
			if err := DecodeJSON(r, &req); err != nil {
				return nil, err
			}
			ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
			defer cancel()
			id := r.PathValue("id")
			return api.MarketRated{Rated: id}, m.Rate(ctx, id, req.Stars, req.Comment)
		}},
		{pattern: "POST /api/v1/market/orders/{id}/refund", fn: func(w http.ResponseWriter, r *http.Request) (any, error) {
			ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
			defer cancel()
			id := r.PathValue("id")
			return api.MarketRefunded{Refunded: id}, m.Refund(ctx, id)
		}},
		{pattern: "GET /api/v1/market/sellers/{id}", fn: func(w http.ResponseWriter, r *http.Request) (any, error) {
			pid, err := parsePeer(r, r.PathValue("id"))
			if err != nil {
				return nil, err
			}
			id := pid.String()
			ctx, cancel := context.WithTimeout(r.Context(), 15*time.Second)
			defer cancel()
			sl, err := m.Seller(ctx, id)
			if err != nil {
				return nil, err
			}
			out := api.MarketSeller{Seller: sl.Seller, Rating: sl.Rating, Count: sl.Count, Ratings: make([]api.MarketRating, 0, len(sl.Ratings))}
			for _, x := range sl.Ratings {
				out.Ratings = append(out.Ratings, api.MarketRating{Order: x.Order, Buyer: x.Buyer, Stars: x.Stars, Comment: x.Comment, Time: x.Time})
			}
			return out, nil
		}},
		{pattern: "POST /api/v1/market/verify", fn: func(w http.ResponseWriter, r *http.Request) (any, error) {
			b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, market.MaxListingBytes))
			if err != nil {
				return nil, BadRequest(fmt.Errorf("listing too large or unreadable: %w", err))
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
		}},
	}
}
