package ledger

import (
	"context"
	"fmt"
)

// serveMarket answers a market query from this voter's state.
func (s *Service) serveMarket(req clientRequest) clientResponse {
	switch req.Op {
	case opListing:
		l, err := s.fsm.MarketListing(req.Ref)
		resp := responseFor(err)
		if err == nil {
			resp.Listing = &l
		}
		return resp
	case opOrder:
		o, err := s.fsm.Order(req.Ref)
		resp := responseFor(err)
		if err == nil {
			resp.Order = &o
		}
		return resp
	case opOrders:
		os, err := s.fsm.Orders(req.Account)
		resp := responseFor(err)
		resp.Orders = os
		return resp
	case opRatings:
		rs, err := s.fsm.Ratings(req.Account)
		resp := responseFor(err)
		if len(rs) > ratingsLimit {
			rs = rs[:ratingsLimit]
		}
		resp.Ratings = rs
		return resp
	}
	return responseFor(fmt.Errorf("%w: op %q", errBadRequest, req.Op))
}

// marketQuery answers req from the local state on a voter, else asks a voter.
func (s *Service) marketQuery(ctx context.Context, req clientRequest) (clientResponse, error) {
	if s.raft.Load() != nil {
		resp := s.serveMarket(req)
		return resp, resp.err()
	}
	var out clientResponse
	err := s.retry(ctx, func(ctx context.Context) error {
		resp, err := s.callAny(ctx, req)
		if err != nil {
			return err
		}
		out = resp
		return resp.err()
	})
	return out, err
}

// MarketListing returns a listing registered in the ledger (ErrNotFound if
// none). A voter answers from its own state; a non-voter asks a voter.
func (s *Service) MarketListing(ctx context.Context, id string) (MarketListing, error) {
	resp, err := s.marketQuery(ctx, clientRequest{Op: opListing, Ref: id})
	if err != nil {
		return MarketListing{}, err
	}
	if resp.Listing == nil {
		return MarketListing{}, fmt.Errorf("%w: listing %s", ErrNotFound, id)
	}
	return *resp.Listing, nil
}

// Order returns an order (ErrNotFound if none).
func (s *Service) Order(ctx context.Context, id string) (Order, error) {
	resp, err := s.marketQuery(ctx, clientRequest{Op: opOrder, Ref: id})
	if err != nil {
		return Order{}, err
	}
	if resp.Order == nil {
		return Order{}, fmt.Errorf("%w: order %s", ErrNotFound, id)
	}
	return *resp.Order, nil
}

// Orders returns the orders where account is buyer or seller, newest first.
func (s *Service) Orders(ctx context.Context, account string) ([]Order, error) {
	if err := checkAccount(account); err != nil {
		return nil, err
	}
	resp, err := s.marketQuery(ctx, clientRequest{Op: opOrders, Account: account})
	return resp.Orders, err
}

// Ratings returns a seller's ratings, newest first (at most 100 are kept).
func (s *Service) Ratings(ctx context.Context, seller string) ([]Rating, error) {
	if err := checkAccount(seller); err != nil {
		return nil, err
	}
	resp, err := s.marketQuery(ctx, clientRequest{Op: opRatings, Account: seller})
	return resp.Ratings, err
}

// PendingOrders returns this voter's pending orders, oldest first (nil on a
// non-voter). A voter's market service settles them.
func (s *Service) PendingOrders() []Order {
	if s.raft.Load() == nil {
		return nil
	}
	return s.fsm.PendingOrders()
}

// Rules returns the rule set this voter's state applies (RulesV1 until
// the first entry written under RulesV2; zero on a non-voter). A voter's
// market service settles orders in the form these rules require.
func (s *Service) Rules() int { return s.fsm.Rules() }

// IsVoter reports whether this node runs raft as a ledger voter.
func (s *Service) IsVoter() bool { return s.raft.Load() != nil }
