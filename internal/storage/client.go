package storage

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/peerpath/peerpath/internal/p2p"
)

// Errors of the client side.
var (
	// ErrRefused is returned when a storing peer refused a request; the
	// error says why (no offer, quota, payment, not yours).
	ErrRefused = errors.New("storage: refused by peer")
	// ErrNotEnoughPeers is returned when fewer peers offer storage than
	// an object has shares.
	ErrNotEnoughPeers = errors.New("storage: not enough peers offer storage")
)

// peerDeadline bounds one request to one peer.
const peerDeadline = 30 * time.Second

// open opens a stream to p on the first of protos p speaks (ProtocolID
// when none is given), looking its addresses up first if the node has none.
func (s *Service) open(ctx context.Context, p peer.ID, protos ...protocol.ID) (network.Stream, error) {
	if len(protos) == 0 {
		protos = []protocol.ID{ProtocolID}
	}
	h := s.cfg.Host
	if h.Network().Connectedness(p) != network.Connected && len(h.Peerstore().Addrs(p)) == 0 && s.cfg.Routing != nil {
		fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		ai, err := s.cfg.Routing.FindPeer(fctx, p)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("storage: find %s: %w", p, err)
		}
		h.Peerstore().AddAddrs(p, ai.Addrs, 10*time.Minute)
	}
	st, err := h.NewStream(ctx, p, protos...)
	if err != nil {
		return nil, fmt.Errorf("storage: open stream to %s: %w", p, err)
	}
	dl := time.Now().Add(peerDeadline)
	if d, ok := ctx.Deadline(); ok && d.Before(dl) {
		dl = d
	}
	_ = st.SetDeadline(dl)
	return st, nil
}

// roundTrip sends req on a fresh stream and reads the first response. A
// refusal becomes an error; the stream stays open for what follows.
func (s *Service) roundTrip(ctx context.Context, p peer.ID, req request) (network.Stream, response, error) {
	st, err := s.open(ctx, p)
	if err != nil {
		return nil, response{}, err
	}
	if err := p2p.WriteMsg(st, req.encode()); err != nil {
		st.Reset()
		return nil, response{}, fmt.Errorf("storage: %s: %w", p, err)
	}
	resp, err := readResponse(st)
	if err != nil {
		st.Reset()
		return nil, response{}, fmt.Errorf("storage: %s: %w", p, err)
	}
	if err := resp.err(); err != nil {
		st.Close()
		return nil, resp, fmt.Errorf("%w (peer %s)", err, p)
	}
	return st, resp, nil
}

func readResponse(st network.Stream) (response, error) {
	b, err := p2p.ReadMsg(st, maxResponse)
	if err != nil {
		return response{}, err
	}
	return decodeResponse(b)
}

func (r response) err() error {
	switch r.Status {
	case statusOK:
		return nil
	case statusNotFound:
		return fmt.Errorf("%w: %s", ErrNotFound, r.Msg)
	case statusCorrupt:
		return fmt.Errorf("%w: %s", ErrCorrupt, r.Msg)
	default:
		return fmt.Errorf("%w: %s", ErrRefused, r.Msg)
	}
}

// queryOffer asks p what it would store for this node.
func (s *Service) queryOffer(ctx context.Context, p peer.ID) (response, error) {
	s.mu.Lock()
	c, ok := s.offers[p]
	s.mu.Unlock()
	if ok && time.Since(c.at) < 30*time.Second {
		return c.r, nil
	}
	st, resp, err := s.roundTrip(ctx, p, request{Op: opOffer})
	if err != nil {
		return resp, err
	}
	st.Close()
	if resp.Free == 0 {
		return resp, nil // no offer: ask again next time
	}
	s.mu.Lock()
	if len(s.offers) > 4096 {
		clear(s.offers)
	}
	s.offers[p] = cachedOffer{r: resp, at: time.Now()}
	s.mu.Unlock()
	return resp, nil
}

// putShare stores one share on p for lease, paying if p asks a price.
func (s *Service) putShare(ctx context.Context, p peer.ID, id ShareID, data []byte, lease time.Duration, auth [32]byte) (int64, error) {
	req := request{Op: opPut, ID: id, Size: uint32(len(data)), Lease: uint32(lease / time.Second), Auth: auth}
	off, err := s.queryOffer(ctx, p)
	if err != nil {
		return 0, err
	}
	if cost := LeaseCost(int64(len(data)), int64(off.Price), leaseFor(req.Lease)); cost != 0 {
		if cost < 0 || s.cfg.Payments == nil {
			return 0, fmt.Errorf("%w: %s asks %d micro-credits and this node cannot pay", ErrRefused, p, cost)
		}
		if req.Payment, err = s.cfg.Payments.Pay(ctx, p, cost, "storage lease"); err != nil {
			return 0, fmt.Errorf("storage: pay %s: %w", p, err)
		}
	}
	st, resp, err := s.roundTrip(ctx, p, req)
	if err != nil {
		s.forgetOffer(p)
		return 0, err
	}
	defer st.Close()
	if resp.Expires != 0 {
		return int64(resp.Expires), nil // p already holds it for us
	}
	if err := p2p.WriteMsg(st, data); err != nil {
		st.Reset()
		return 0, fmt.Errorf("storage: send share to %s: %w", p, err)
	}
	resp, err = readResponse(st)
	if err == nil {
		err = resp.err()
	}
	if err != nil {
		return 0, fmt.Errorf("storage: put on %s: %w", p, err)
	}
	return int64(resp.Expires), nil
}

func (s *Service) forgetOffer(p peer.ID) {
	s.mu.Lock()
	delete(s.offers, p)
	s.mu.Unlock()
}

// getShare fetches a share of size bytes from p and checks it.
func (s *Service) getShare(ctx context.Context, p peer.ID, id ShareID, size int) ([]byte, error) {
	st, _, err := s.roundTrip(ctx, p, request{Op: opGet, ID: id})
	if err != nil {
		return nil, err
	}
	defer st.Close()
	data, err := p2p.ReadMsg(st, size)
	if err != nil {
		st.Reset()
		return nil, fmt.Errorf("storage: get from %s: %w", p, err)
	}
	if len(data) != size || HashShare(data) != id {
		return nil, fmt.Errorf("%w: share %s from %s", ErrCorrupt, id, p)
	}
	return data, nil
}

// challenge asks p for segments of a share of size bytes and checks the
// answer against the share's id.
func (s *Service) challenge(ctx context.Context, p peer.ID, id ShareID, size int, segs []uint32) error {
	st, _, err := s.roundTrip(ctx, p, request{Op: opChallenge, ID: id, Segments: segs})
	if err != nil {
		return err
	}
	defer st.Close()
	nseg := segments(size)
	b, err := p2p.ReadMsg(st, 32*nseg)
	if err != nil {
		st.Reset()
		return fmt.Errorf("%w: challenge answer from %s: %w", ErrCorrupt, p, err)
	}
	hashes, err := decodeHashes(b)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	for _, i := range segs {
		seg, err := p2p.ReadMsg(st, SegmentSize)
		if err != nil {
			st.Reset()
			return fmt.Errorf("%w: challenge answer from %s: %w", ErrCorrupt, p, err)
		}
		if err := VerifySegment(id, size, hashes, int(i), seg); err != nil {
			return err
		}
	}
	return nil
}

// deleteShare asks p to drop a share (as its client, or with secret).
func (s *Service) deleteShare(ctx context.Context, p peer.ID, id ShareID, secret [32]byte) error {
	st, _, err := s.roundTrip(ctx, p, request{Op: opDelete, ID: id, Secret: secret})
	if err != nil {
		return err
	}
	st.Close()
	return nil
}

// renewShare extends the lease of a share on p.
func (s *Service) renewShare(ctx context.Context, p peer.ID, id ShareID, size int, lease time.Duration) (int64, error) {
	req := request{Op: opRenew, ID: id, Lease: uint32(lease / time.Second)}
	off, err := s.queryOffer(ctx, p)
	if err != nil {
		return 0, err
	}
	if cost := LeaseCost(int64(size), int64(off.Price), leaseFor(req.Lease)); cost != 0 && s.cfg.Payments != nil && cost > 0 {
		if req.Payment, err = s.cfg.Payments.Pay(ctx, p, cost, "storage lease renewal"); err != nil {
			return 0, fmt.Errorf("storage: pay %s: %w", p, err)
		}
	}
	st, resp, err := s.roundTrip(ctx, p, req)
	if err != nil {
		return 0, err
	}
	st.Close()
	return int64(resp.Expires), nil
}
