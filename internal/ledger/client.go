package ledger

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/hashicorp/raft"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/peerpath/peerpath/internal/p2p"
)

// handleClient serves one ClientProtocol request (voters only).
func (s *Service) handleClient(st network.Stream) {
	defer st.Close()
	_ = st.SetDeadline(time.Now().Add(requestTimeout + 5*time.Second))
	// A stream that sends no request soon holds nothing for long.
	_ = st.SetReadDeadline(time.Now().Add(p2p.FirstRequestTimeout))
	remote := st.Conn().RemotePeer()
	body, err := readFrame(st)
	if err != nil {
		_ = st.Reset()
		return
	}
	var resp clientResponse
	if !s.clients.Allow(remote) && !s.isVoter(remote) {
		resp = responseFor(ErrBusy) // not even decoded
	} else if req, err := decodeRequest(body); err != nil {
		resp = responseFor(err)
	} else {
		ctx, cancel := context.WithTimeout(s.base, requestTimeout)
		resp = s.serveRequest(ctx, remote, req)
		cancel()
	}
	if err := writeFrame(st, resp); err != nil {
		_ = st.Reset()
	}
}

func (s *Service) notLeader(r *raft.Raft) clientResponse {
	addr, _ := r.LeaderWithID()
	resp := responseFor(errNotLeader)
	resp.Leader = string(addr)
	return resp
}

func (s *Service) serveRequest(ctx context.Context, remote peer.ID, req clientRequest) clientResponse {
	r := s.raft.Load()
	if r == nil {
		return responseFor(ErrNotVoter)
	}
	if s.closed() {
		return responseFor(ErrClosed) // the caller retries elsewhere
	}
	leading := r.State() == raft.Leader
	switch req.Op {
	case opSubmit:
		var rec Receipt
		var err error
		switch {
		case leading:
			rec, err = s.submitLocal(ctx, *req.Transfer)
		case req.Forwarded:
			return s.notLeader(r)
		default:
			rec, err = s.Submit(ctx, *req.Transfer)
		}
		resp := responseFor(err)
		if err == nil {
			resp.Receipt = &rec
		}
		return resp
	case opBalance:
		bal, err := s.Balance(ctx, req.Account)
		resp := responseFor(err)
		resp.Balance = bal
		return resp
	case opHistory:
		hist, err := s.History(ctx, req.Account, min(req.Limit, historyLimit))
		resp := responseFor(err)
		resp.History = hist
		return resp
	case opStatus:
		st := s.localStatus(r)
		return clientResponse{Status: &st}
	case opListing, opOrder, opOrders, opRatings:
		return s.serveMarket(req)
	case opInvite:
		// Anyone may ask; acceptInvitation decides whom this voter trusts.
		return responseFor(s.acceptInvitation(remote, req.Invitation))
	}
	// Genesis and membership changes: only from voters, only on the leader.
	if !s.isVoter(remote) {
		return responseFor(fmt.Errorf("%w: %s may not %s", ErrNotVoter, remote, req.Op))
	}
	if !leading {
		return s.notLeader(r)
	}
	switch req.Op {
	case opGenesis:
		data, err := encodeGenesis(*req.Genesis)
		if err != nil {
			return responseFor(err)
		}
		return responseFor(s.applyGenesis(ctx, req.Genesis, data))
	case opAdd, opRemove:
		id, err := peer.Decode(req.Peer)
		if err != nil {
			return responseFor(fmt.Errorf("%w: %q", ErrUnknownAccount, req.Peer))
		}
		return responseFor(s.changeLocal(req.Op, id))
	}
	return responseFor(fmt.Errorf("%w: op %q", errBadRequest, req.Op))
}

// call sends one request to p and reads the response. A response's error
// is not returned as err: the caller looks at resp.err().
func (s *Service) call(ctx context.Context, p peer.ID, req clientRequest) (clientResponse, error) {
	if p == s.host.ID() {
		return clientResponse{}, fmt.Errorf("ledger: %w: would call self", errNotLeader)
	}
	st, err := s.host.NewStream(ctx, p, ClientProtocol)
	if err != nil {
		return clientResponse{}, fmt.Errorf("ledger: open stream to %s: %w", p, err)
	}
	stop := context.AfterFunc(ctx, func() { _ = st.Reset() })
	defer stop()
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(requestTimeout + 10*time.Second)
	}
	_ = st.SetDeadline(deadline)
	if err := writeFrame(st, req); err != nil {
		_ = st.Reset()
		return clientResponse{}, err
	}
	_ = st.CloseWrite()
	body, err := readFrame(st)
	if err != nil {
		_ = st.Reset()
		return clientResponse{}, err
	}
	_ = st.Close()
	resp, err := decodeResponse(body)
	if err != nil {
		return clientResponse{}, err
	}
	if resp.Leader != "" {
		if id, err := peer.Decode(resp.Leader); err == nil {
			s.leaderHint.Store(id)
		}
	}
	return resp, nil
}

// candidates lists the peers a non-voter asks, best first: the last known
// leader, the configured voters, then connected peers that speak
// ClientProtocol.
func (s *Service) candidates() []peer.ID {
	var out []peer.ID
	add := func(p peer.ID) {
		if p != "" && p != s.host.ID() && !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	if h, ok := s.leaderHint.Load().(peer.ID); ok {
		add(h)
	}
	for _, p := range s.cfg.Voters {
		add(p)
	}
	for _, p := range s.host.Network().Peers() {
		if ok, _ := s.host.Peerstore().SupportsProtocols(p, ClientProtocol); len(ok) > 0 {
			add(p)
		}
	}
	return out
}

// callAny sends req to the first candidate voter that answers with
// something other than "not the leader"/"not a voter".
func (s *Service) callAny(ctx context.Context, req clientRequest) (clientResponse, error) {
	cands := s.candidates()
	if len(cands) == 0 {
		// Nothing to wait for: no voter configured, none connected.
		// Decided at once (ErrNoLedger is not retried), so a node outside
		// any ledger answers "no ledger" now rather than after a timeout.
		return clientResponse{}, fmt.Errorf("%w: this node knows no ledger voter (none named with --ledger-voters, none connected)", ErrNoLedger)
	}
	var lastErr error
	for _, p := range cands {
		resp, err := s.call(ctx, p, req)
		if err != nil {
			lastErr = err
			if ctx.Err() != nil {
				break
			}
			continue
		}
		if rerr := resp.err(); errors.Is(rerr, ErrNotVoter) || errors.Is(rerr, errNotLeader) {
			lastErr = rerr
			continue
		}
		if h, ok := s.leaderHint.Load().(peer.ID); !ok || h == "" {
			s.leaderHint.Store(p)
		}
		return resp, nil
	}
	return clientResponse{}, fmt.Errorf("%w: no voter answered (last: %v)", ErrNoLeader, lastErr)
}
