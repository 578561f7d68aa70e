package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/peerpath/peerpath/api"
	"github.com/peerpath/peerpath/internal/ledger"
)

func credits(micro int64) json.Number { return json.Number(ledger.FormatCredits(micro)) }

// parseCredits reads a positive amount of credits, or answers 400 naming
// what it is.
func parseCredits(s, what string) (int64, error) {
	v, err := ledger.ParseCredits(s)
	if err != nil || v <= 0 {
		return 0, BadRequest(badCredits(what, s, err))
	}
	return v, nil
}

// badCredits says why s is not an amount of credits.
func badCredits(what, s string, err error) error {
	if err != nil && strings.Contains(err.Error(), "decimal places") {
		return fmt.Errorf("bad %s %q: credits have at most 6 decimal places (the smallest amount is 0.000001)", what, s)
	}
	return fmt.Errorf("bad %s %q: want a positive number of credits, such as 2 or 0.5 (at most 6 decimal places)", what, s)
}

// ledgerRoutes serves the wallet and the ledger's administration.
func ledgerRoutes(l Ledger, wallet Wallet) []route {
	// account is the ?account= of r, or the wallet's own.
	account := func(r *http.Request) (string, error) {
		acct := r.URL.Query().Get("account")
		if acct == "" {
			return wallet.Account(), nil
		}
		id, err := parsePeer(r, acct)
		if err != nil {
			return "", BadRequest(fmt.Errorf("%w: %w", ledger.ErrUnknownAccount, err))
		}
		return id.String(), nil
	}
	return []route{
		{pattern: "GET /api/v1/wallet", fn: func(w http.ResponseWriter, r *http.Request) (any, error) {
			acct, err := account(r)
			if err != nil {
				return nil, err
			}
			ctx, cancel := context.WithTimeout(r.Context(), 15*time.Second)
			defer cancel()
			bal, err := l.Balance(ctx, acct)
			if err != nil {
				return nil, err
			}
			return api.Balance{Account: acct, Balance: credits(bal)}, nil
		}},
		{pattern: "POST /api/v1/wallet/send", fn: func(w http.ResponseWriter, r *http.Request) (any, error) {
			var req api.SendRequest
			if err := DecodeJSON(r, &req); err != nil {
				return nil, err
			}
			to, err := parsePeer(r, req.To)
			if err != nil {
				return nil, BadRequest(fmt.Errorf("%w: %w", ledger.ErrUnknownAccount, err))
			}
			req.To = to.String()
			amount, err := ledger.ParseCredits(req.Amount)
			if err != nil || amount <= 0 {
				return nil, BadRequest(badCredits("amount", req.Amount, err))
			}
			ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
			defer cancel()
			rc, err := wallet.Submit(ctx, ledger.Transfer{ID: req.ID, To: req.To, Amount: amount, Memo: req.Memo, Ref: req.Ref})
			if err != nil {
				return nil, err
			}
			return api.Receipt{ID: rc.ID, Index: rc.Index, Amount: credits(rc.Amount), Fee: credits(rc.Fee), Replay: rc.Replay}, nil
		}},
		{pattern: "GET /api/v1/wallet/history", fn: func(w http.ResponseWriter, r *http.Request) (any, error) {
			acct, err := account(r)
			if err != nil {
				return nil, err
			}
			limit := 100
			if s := r.URL.Query().Get("limit"); s != "" {
				if limit, err = strconv.Atoi(s); err != nil || limit <= 0 {
					return nil, BadRequest(errors.New("bad limit"))
				}
			}
			ctx, cancel := context.WithTimeout(r.Context(), 15*time.Second)
			defer cancel()
			ts, err := l.History(ctx, acct, limit)
			if err != nil {
				return nil, err
			}
			out := make([]api.Transfer, 0, len(ts))
			for _, t := range ts {
				at := api.Transfer{ID: t.ID, Kind: t.Kind.String(), From: t.From, To: t.To, Amount: credits(t.Amount), Memo: t.Memo, Ref: t.Ref, Time: t.Time}
				if t.Fee > 0 {
					at.Fee = credits(t.Fee)
				}
				out = append(out, at)
			}
			return out, nil
		}},
		{pattern: "GET /api/v1/ledger/status", fn: func(w http.ResponseWriter, r *http.Request) (any, error) {
			ctx, cancel := context.WithTimeout(r.Context(), 15*time.Second)
			defer cancel()
			st, err := l.Status(ctx)
			if errors.Is(err, ledger.ErrNoLedger) {
				// Belonging to no ledger is a state, not a failure.
				return api.LedgerStatus{Voters: []string{}, Note: err.Error()}, nil
			}
			if err != nil {
				return nil, err
			}
			if st.Voters == nil {
				st.Voters = []string{}
			}
			return api.LedgerStatus{Leader: st.Leader, Voters: st.Voters, CommitIndex: st.CommitIndex}, nil
		}},
		{pattern: "POST /api/v1/ledger/create", fn: func(w http.ResponseWriter, r *http.Request) (any, error) {
			var req api.LedgerCreateRequest
			if err := DecodeJSON(r, &req); err != nil {
				return nil, err
			}
			var voters []peer.ID
			for _, s := range req.Voters {
				id, err := parsePeer(r, s)
				if err != nil {
					return nil, BadRequest(fmt.Errorf("bad voter: %w", err))
				}
				voters = append(voters, id)
			}
			if len(voters) == 0 {
				return nil, BadRequest(errors.New("at least one voter is required"))
			}
			g, err := ledger.ParseGenesis(req.Genesis)
			if err != nil {
				return nil, BadRequest(err)
			}
			ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
			defer cancel()
			if err := l.Create(ctx, voters, g); err != nil {
				return nil, err
			}
			return api.LedgerCreated{Created: true, Supply: credits(g.Supply())}, nil
		}},
		{pattern: "POST /api/v1/ledger/voters", fn: func(w http.ResponseWriter, r *http.Request) (any, error) {
			id, err := peerFromBody(r)
			if err != nil {
				return nil, err
			}
			ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
			defer cancel()
			return api.VoterAdded{Added: id.String()}, l.AddVoter(ctx, id)
		}},
		{pattern: "DELETE /api/v1/ledger/voters", fn: func(w http.ResponseWriter, r *http.Request) (any, error) {
			id, err := peerFromBody(r)
			if err != nil {
				return nil, err
			}
			ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
			defer cancel()
			return api.VoterRemoved{Removed: id.String()}, l.RemoveVoter(ctx, id)
		}},
	}
}
