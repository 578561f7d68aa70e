package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/peerpath/peerpath/api"
	"github.com/peerpath/peerpath/internal/httpapi"
	"github.com/peerpath/peerpath/internal/ledger"
)

func (n *Node) newLedger(ctx context.Context) error {
	cfg := n.opts.Config
	var hints []peer.ID
	for _, s := range cfg.LedgerVoters {
		id, err := peer.Decode(s)
		if err != nil {
			return fmt.Errorf("node: ledger_voters: bad peer ID %q: %w", s, err)
		}
		hints = append(hints, id)
	}
	// A fresh voter told no voters trusts the peers it was told to
	// bootstrap from to invite it into a ledger (see ledger.Invitation).
	var inviters []peer.ID
	for _, s := range cfg.Bootstrap {
		if ai, err := peer.AddrInfoFromString(s); err == nil {
			inviters = append(inviters, ai.ID)
		}
	}
	l, err := ledger.New(ctx, ledger.Config{
		Host:     n.p2p.Host(),
		Dir:      filepath.Join(string(n.home), "ledger"),
		Logger:   n.log.With("sys", "ledger"),
		Voter:    cfg.LedgerVoter,
		Voters:   hints,
		Inviters: inviters,
	})
	if err != nil {
		return err
	}
	n.ledger = l
	if n.wallet, err = ledger.NewWallet(n.p2p.Host().Peerstore().PrivKey(n.ID()), l); err != nil {
		return err
	}
	n.ledgerRoutes()
	return nil
}

func credits(micro int64) json.Number { return json.Number(ledger.FormatCredits(micro)) }

func kindName(k ledger.Kind) string { return k.String() }

func (n *Node) account(r *http.Request) (string, error) {
	acct := r.URL.Query().Get("account")
	if acct == "" {
		return n.ID().String(), nil
	}
	if _, err := peer.Decode(acct); err != nil {
		return "", httpapi.BadRequest(fmt.Errorf("%w: %q is not a peer ID", ledger.ErrUnknownAccount, acct))
	}
	return acct, nil
}

func (n *Node) ledgerRoutes() {
	a, l := n.api, n.ledger
	a.HandleFunc("GET /api/v1/wallet", func(w http.ResponseWriter, r *http.Request) (any, error) {
		acct, err := n.account(r)
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
	})
	a.HandleFunc("POST /api/v1/wallet/send", func(w http.ResponseWriter, r *http.Request) (any, error) {
		var req api.SendRequest
		if err := httpapi.DecodeJSON(r, &req); err != nil {
			return nil, err
		}
		if _, err := peer.Decode(req.To); err != nil {
			return nil, httpapi.BadRequest(fmt.Errorf("%w: %q is not a peer ID", ledger.ErrUnknownAccount, req.To))
		}
		amount, err := ledger.ParseCredits(req.Amount)
		if err != nil || amount <= 0 {
			return nil, httpapi.BadRequest(fmt.Errorf("bad amount %q: want a positive number of credits", req.Amount))
		}
		ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
		defer cancel()
		rc, err := n.wallet.Pay(ctx, req.ID, req.To, amount, req.Memo, req.Ref)
		if err != nil {
			return nil, err
		}
		return api.Receipt{ID: rc.ID, Index: rc.Index, Amount: credits(rc.Amount), Fee: credits(rc.Fee), Replay: rc.Replay}, nil
	})
	a.HandleFunc("GET /api/v1/wallet/history", func(w http.ResponseWriter, r *http.Request) (any, error) {
		acct, err := n.account(r)
		if err != nil {
			return nil, err
		}
		limit := 100
		if s := r.URL.Query().Get("limit"); s != "" {
			if limit, err = strconv.Atoi(s); err != nil || limit <= 0 {
				return nil, httpapi.BadRequest(errors.New("bad limit"))
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
			out = append(out, api.Transfer{ID: t.ID, Kind: kindName(t.Kind), From: t.From, To: t.To, Amount: credits(t.Amount), Memo: t.Memo, Ref: t.Ref, Time: t.Time})
		}
		return out, nil
	})
	a.HandleFunc("GET /api/v1/ledger/status", func(w http.ResponseWriter, r *http.Request) (any, error) {
		ctx, cancel := context.WithTimeout(r.Context(), 15*time.Second)
		defer cancel()
		st, err := l.Status(ctx)
		if err != nil {
			return nil, err
		}
		if st.Voters == nil {
			st.Voters = []string{}
		}
		return api.LedgerStatus{Leader: st.Leader, Voters: st.Voters, CommitIndex: st.CommitIndex}, nil
	})
	a.HandleFunc("POST /api/v1/ledger/create", func(w http.ResponseWriter, r *http.Request) (any, error) {
		var req api.LedgerCreateRequest
		if err := httpapi.DecodeJSON(r, &req); err != nil {
			return nil, err
		}
		var voters []peer.ID
		for _, s := range req.Voters {
			id, err := peer.Decode(s)
			if err != nil {
				return nil, httpapi.BadRequest(fmt.Errorf("bad voter %q: %w", s, err))
			}
			voters = append(voters, id)
		}
		if len(voters) == 0 {
			return nil, httpapi.BadRequest(errors.New("at least one voter is required"))
		}
		g, err := ledger.ParseGenesis(req.Genesis)
		if err != nil {
			return nil, httpapi.BadRequest(err)
		}
		ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
		defer cancel()
		if err := l.Create(ctx, voters, g); err != nil {
			return nil, err
		}
		return map[string]any{"created": true, "supply": credits(g.Supply())}, nil
	})
	a.HandleFunc("POST /api/v1/ledger/voters", func(w http.ResponseWriter, r *http.Request) (any, error) {
		id, err := peerFromBody(r)
		if err != nil {
			return nil, err
		}
		ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
		defer cancel()
		return map[string]string{"added": id.String()}, l.AddVoter(ctx, id)
	})
	a.HandleFunc("DELETE /api/v1/ledger/voters", func(w http.ResponseWriter, r *http.Request) (any, error) {
		id, err := peerFromBody(r)
		if err != nil {
			return nil, err
		}
		ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
		defer cancel()
		return map[string]string{"removed": id.String()}, l.RemoveVoter(ctx, id)
	})
}

// ledgerErrorStatus maps the ledger's errors to HTTP statuses.
func ledgerErrorStatus(m map[error]int) {
	m[ledger.ErrInsufficientFunds] = http.StatusPaymentRequired
	m[ledger.ErrBadSignature] = http.StatusForbidden
	m[ledger.ErrUnknownAccount] = http.StatusBadRequest
	m[ledger.ErrInvalid] = http.StatusBadRequest
	m[ledger.ErrExpired] = http.StatusBadRequest
	m[ledger.ErrGrantRefused] = http.StatusForbidden
	m[ledger.ErrNoLedger] = http.StatusServiceUnavailable
	m[ledger.ErrNotVoter] = http.StatusConflict
	m[ledger.ErrLedgerExists] = http.StatusConflict
	m[ledger.ErrInvitationRefused] = http.StatusConflict
	m[ledger.ErrNoLeader] = http.StatusServiceUnavailable
	m[ledger.ErrBusy] = http.StatusTooManyRequests
	m[ledger.ErrConflict] = http.StatusConflict
}
