package storage

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/peerpath/peerpath/internal/p2p"
)

// requestDeadline bounds a whole request on a storage stream: a share of
// MaxShareSize at 140 KB/s or faster.
const requestDeadline = 30 * time.Second

// handle serves one request on a stream another peer opened.
func (s *Service) handle(st network.Stream) {
	defer st.Close()
	b, release, ok := s.admit.Admit(st)
	if !ok {
		return
	}
	defer release()
	from := st.Conn().RemotePeer()
	req, err := decodeRequest(b)
	if err != nil {
		reply(st, response{Status: statusBad, Msg: err.Error()})
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), requestDeadline)
	defer cancel()
	client := from.String()
	switch req.Op {
	case opOffer:
		off, _ := s.held.offer()
		reply(st, response{Free: uint64(s.held.free(client)), Price: uint64(off.PricePerGiBMonth), MaxLease: uint32(MaxLease / time.Second)})
	case opPut:
		s.servePut(ctx, st, client, req)
	case opGet:
		data, err := s.held.read(ctx, req.ID)
		if err == nil && HashShare(data) != req.ID {
			// Never serve bytes that no longer match their name.
			s.log.Warn("storage: held share corrupt on disk", "share", req.ID)
			err = fmt.Errorf("%w: held share %s", ErrCorrupt, req.ID)
		}
		if err != nil {
			reply(st, errResponse(err))
			return
		}
		if reply(st, response{}) == nil {
			_ = p2p.WriteMsg(st, data)
		}
	case opChallenge:
		s.serveChallenge(ctx, st, req)
	case opDelete:
		if err := s.held.remove(ctx, req.ID, client, req.Secret); err != nil {
			reply(st, errResponse(err))
			return
		}
		reply(st, response{})
	case opRenew:
		s.serveRenew(ctx, st, client, req)
	}
}

func reply(st network.Stream, r response) error { return p2p.WriteMsg(st, r.encode()) }

// errResponse maps an error to the status the client sees.
func errResponse(err error) response {
	st := statusRefused
	switch {
	case errors.Is(err, ErrNotFound):
		st = statusNotFound
	case errors.Is(err, ErrCorrupt):
		st = statusCorrupt
	case errors.Is(err, ErrInvalid), errors.Is(err, errWire):
		st = statusBad
	}
	return response{Status: st, Msg: err.Error()}
}

// leaseFor clamps the lease a client asked for.
func leaseFor(secs uint32) time.Duration {
	d := time.Duration(secs) * time.Second
	return min(max(d, MinLease), MaxLease)
}

// LeaseCost is what a lease of d on size bytes costs at price micro-credits
// per GiB-month (30 days), rounded up to the micro-credit.
func LeaseCost(size int64, price int64, d time.Duration) int64 {
	if price <= 0 || size <= 0 {
		return 0
	}
	num := new(big.Int).Mul(big.NewInt(size), big.NewInt(price))
	num.Mul(num, big.NewInt(int64(d/time.Second)))
	den := big.NewInt(int64(1<<30) * 30 * 24 * 3600)
	num.Add(num, new(big.Int).Sub(den, big.NewInt(1)))
	num.Div(num, den)
	if !num.IsInt64() {
		return -1
	}
	return num.Int64()
}

// servePut stores a share: check the offer, quota and lease first, tell
// the client to send, read at most the declared size (itself bounded by
// MaxShareSize and reserved against the quota), check the share against
// its id, collect the lease's payment, write it.
func (s *Service) servePut(ctx context.Context, st network.Stream, client string, req request) {
	if req.Size == 0 || req.Size > MaxShareSize {
		reply(st, response{Status: statusBad, Msg: fmt.Sprintf("share of %d bytes (limit %d)", req.Size, MaxShareSize)})
		return
	}
	lease := leaseFor(req.Lease)
	if exp, ok, err := s.held.lookup(ctx, req.ID, client); err != nil || ok {
		if err != nil {
			reply(st, errResponse(err))
			return
		}
		reply(st, response{Expires: uint64(exp)}) // already held for this client: nothing to send
		return
	}
	off, _ := s.held.offer()
	cost := LeaseCost(int64(req.Size), off.PricePerGiBMonth, lease)
	if cost < 0 || (cost > 0 && s.cfg.Payments == nil) {
		reply(st, response{Status: statusRefused, Msg: "storage: this node cannot take payments"})
		return
	}
	if cost > 0 && len(req.Payment) == 0 {
		reply(st, response{Status: statusRefused, Msg: fmt.Sprintf("storage: payment of %d micro-credits required", cost)})
		return
	}
	release, err := s.held.reserve(client, int64(req.Size))
	if err != nil {
		reply(st, errResponse(err))
		return
	}
	defer release()
	if reply(st, response{}) != nil {
		return
	}
	data, err := p2p.ReadMsg(st, int(req.Size))
	if err != nil || len(data) != int(req.Size) {
		_ = st.Reset()
		return
	}
	if HashShare(data) != req.ID {
		reply(st, response{Status: statusCorrupt, Msg: "storage: share does not match its id"})
		return
	}
	var paid int64
	if cost > 0 {
		if paid, err = s.collect(ctx, st.Conn().RemotePeer(), req.Payment, cost); err != nil {
			reply(st, response{Status: statusRefused, Msg: "storage: payment: " + err.Error()})
			return
		}
	}
	expires := time.Now().Add(lease).Unix()
	if err := s.held.commit(ctx, req.ID, client, data, expires, req.Auth, paid); err != nil {
		s.log.Warn("storage: commit share", "err", err)
		reply(st, response{Status: statusBusy, Msg: "storage: could not store the share"})
		return
	}
	// The reservation is now the record's usage.
	s.held.mu.Lock()
	s.held.used += int64(req.Size)
	s.held.perClient[client] += int64(req.Size)
	s.held.mu.Unlock()
	s.provide.Add(ShareCID(req.ID))
	reply(st, response{Expires: uint64(expires)})
}

// serveChallenge answers with the segment hashes of a held share and the
// segments asked for; the challenger checks them against the share id.
func (s *Service) serveChallenge(ctx context.Context, st network.Stream, req request) {
	data, err := s.held.read(ctx, req.ID)
	if err != nil {
		reply(st, errResponse(err))
		return
	}
	hashes := SegmentHashes(data)
	if len(req.Segments) == 0 {
		reply(st, response{Status: statusBad, Msg: "storage: no segment asked for"})
		return
	}
	for _, i := range req.Segments {
		if int(i) >= len(hashes) {
			reply(st, response{Status: statusBad, Msg: fmt.Sprintf("storage: segment %d of %d", i, len(hashes))})
			return
		}
	}
	if reply(st, response{}) != nil {
		return
	}
	flat := make([]byte, 0, 32*len(hashes))
	for i := range hashes {
		flat = append(flat, hashes[i][:]...)
	}
	if p2p.WriteMsg(st, flat) != nil {
		return
	}
	for _, i := range req.Segments {
		lo := int(i) * SegmentSize
		if p2p.WriteMsg(st, data[lo:min(lo+SegmentSize, len(data))]) != nil {
			return
		}
	}
}

func (s *Service) serveRenew(ctx context.Context, st network.Stream, client string, req request) {
	exp, ok, err := s.held.lookup(ctx, req.ID, client)
	if err != nil || !ok {
		if err == nil {
			err = ErrNotYours
		}
		reply(st, errResponse(err))
		return
	}
	lease := leaseFor(req.Lease)
	until := time.Now().Add(lease).Unix()
	if until <= exp {
		reply(st, response{Expires: uint64(exp)})
		return
	}
	var size int64
	if err := s.cfg.DB.QueryRowContext(ctx, `SELECT size FROM storage_held WHERE id = ? AND client = ?`, req.ID[:], client).Scan(&size); err != nil {
		reply(st, errResponse(err))
		return
	}
	off, _ := s.held.offer()
	cost := LeaseCost(size, off.PricePerGiBMonth, time.Duration(until-exp)*time.Second)
	var paid int64
	if cost != 0 {
		if cost < 0 || s.cfg.Payments == nil || len(req.Payment) == 0 {
			reply(st, response{Status: statusRefused, Msg: fmt.Sprintf("storage: payment of %d micro-credits required", cost)})
			return
		}
		if paid, err = s.collect(ctx, st.Conn().RemotePeer(), req.Payment, cost); err != nil {
			reply(st, response{Status: statusRefused, Msg: "storage: payment: " + err.Error()})
			return
		}
	}
	if err := s.held.renew(ctx, req.ID, client, until, paid); err != nil {
		reply(st, errResponse(err))
		return
	}
	reply(st, response{Expires: uint64(until)})
}

// collect settles a lease payment once: its id is recorded, and an id
// already recorded is refused (the ledger answers a replayed transfer
// with its first receipt, which must not pay for a second lease).
func (s *Service) collect(ctx context.Context, payer peer.ID, payment []byte, cost int64) (int64, error) {
	id, got, err := s.cfg.Payments.Collect(ctx, payer, payment, cost)
	if err != nil {
		return 0, err
	}
	if got < cost {
		return 0, fmt.Errorf("paid %d micro-credits, %d due", got, cost)
	}
	res, err := s.cfg.DB.ExecContext(ctx, `INSERT OR IGNORE INTO storage_payments(id, payer, amount, at) VALUES (?, ?, ?, ?)`,
		id, payer.String(), got, time.Now().Unix())
	if err != nil {
		return 0, err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return 0, fmt.Errorf("payment %s already counted", id)
	}
	return got, nil
}
