package httpapi

import (
	"context"
	"fmt"
	"net/http"

	"github.com/peerpath/peerpath/api"
	"github.com/peerpath/peerpath/internal/ledger"
	"github.com/peerpath/peerpath/internal/storage"
)

// Storage is the storage layer: what this node offers others, and the
// checks of what it stores on them.
type Storage interface {
	Status(ctx context.Context) (storage.Status, error)
	SetOffer(ctx context.Context, o storage.Offer) error
	CheckAll(ctx context.Context) (storage.Report, error)
}

func storageRoutes(s Storage) []route {
	status := func(ctx context.Context) (any, error) {
		st, err := s.Status(ctx)
		if err != nil {
			return nil, err
		}
		out := api.Storage{
			Offered: st.Offer.Bytes, Used: st.Used, Shares: st.Shares,
			PricePerGiBMonth: credits(st.Offer.PricePerGiBMonth), PerClient: st.Offer.PerClient,
			Clients: []api.StorageClient{}, Earned: credits(st.Earned),
			OwnedObjects: st.Owned, OwnedShares: st.OwnedShares,
		}
		for _, c := range st.Clients {
			out.Clients = append(out.Clients, api.StorageClient{Peer: c.Peer, Shares: c.Shares, Bytes: c.Bytes, Paid: credits(c.Paid)})
		}
		return out, nil
	}
	return []route{
		{pattern: "GET /api/v1/storage", fn: func(_ http.ResponseWriter, r *http.Request) (any, error) {
			return status(r.Context())
		}},
		{pattern: "POST /api/v1/storage/offer", fn: func(_ http.ResponseWriter, r *http.Request) (any, error) {
			var req api.StorageOfferRequest
			if err := DecodeJSON(r, &req); err != nil {
				return nil, err
			}
			var price int64
			if req.PricePerGiBMonth != "" {
				p, err := ledger.ParseCredits(req.PricePerGiBMonth)
				if err != nil || p < 0 {
					return nil, fmt.Errorf("%w: price_per_gib_month %q", storage.ErrInvalid, req.PricePerGiBMonth)
				}
				price = p
			}
			if err := s.SetOffer(r.Context(), storage.Offer{Bytes: req.Size, PricePerGiBMonth: price, PerClient: req.PerClient}); err != nil {
				return nil, err
			}
			return status(r.Context())
		}},
		{pattern: "POST /api/v1/storage/check", fn: func(_ http.ResponseWriter, r *http.Request) (any, error) {
			rep, err := s.CheckAll(r.Context())
			if err != nil {
				return nil, err
			}
			return api.StorageCheck{Objects: rep.Objects, Healthy: rep.Healthy, Repaired: rep.Repaired, Failing: rep.Failing,
				RepairIn: rep.RepairIn, RepairOut: rep.RepairOut}, nil
		}},
	}
}
