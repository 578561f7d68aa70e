package publish

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/peerpath/peerpath/internal/p2p"
)

// requestDeadline bounds a whole request on a records stream.
const requestDeadline = 10 * time.Second

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
	switch req.Op {
	case reqFetch:
		var rec []byte
		err := s.cfg.DB.QueryRowContext(ctx, `SELECT record FROM publish_records WHERE loc = ?`, req.Loc[:]).Scan(&rec)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			reply(st, response{Status: statusNotFound, Msg: "no record of this document here"})
		case err != nil:
			reply(st, response{Status: statusBusy, Msg: "database"})
		default:
			reply(st, response{Record: rec})
		}
	case reqStore:
		if err := s.keep(ctx, from, req.Record, time.Now()); err != nil {
			status := statusRefused
			if errors.Is(err, ErrBadRecord) {
				status = statusBad
			}
			reply(st, response{Status: status, Msg: err.Error()})
			return
		}
		reply(st, response{})
	}
}

func reply(st network.Stream, r response) error { return p2p.WriteMsg(st, r.encode()) }

// keep checks a record from peer from and keeps it if it is the newest
// correctly signed version of its document. It is the storing side's
// whole rule: a signature by the locator, a version above the one kept,
// nothing after a delete, and room only under an offer.
func (s *Service) keep(ctx context.Context, from peer.ID, b []byte, now time.Time) error {
	r, err := decodeRecord(b)
	if err != nil {
		return err
	}
	if err := r.verify(); err != nil {
		return err
	}
	if r.Expires < now.Unix() {
		return fmt.Errorf("%w: record expired", ErrInvalid)
	}
	if r.Expires > now.Add(MaxLease).Unix() {
		return fmt.Errorf("%w: record asks to be kept longer than %s", ErrInvalid, MaxLease)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var (
		seq  int64
		op   byte
		held []byte
	)
	err = s.cfg.DB.QueryRowContext(ctx, `SELECT seq, op, record FROM publish_records WHERE loc = ?`, r.Loc[:]).Scan(&seq, &op, &held)
	switch {
	case err == nil:
		if bytes.Equal(held, b) {
			return nil
		}
		if op == opDelete {
			return ErrDeleted
		}
		if r.Seq <= uint64(seq) {
			return fmt.Errorf("%w: version %d is not newer than version %d kept here", ErrStale, r.Seq, seq)
		}
		_, err = s.cfg.DB.ExecContext(ctx, `UPDATE publish_records SET seq = ?, op = ?, expires = ?, record = ? WHERE loc = ?`,
			int64(r.Seq), r.Op, r.Expires, b, r.Loc[:])
	case errors.Is(err, sql.ErrNoRows):
		if !s.cfg.Store.Offering(ctx) {
			return fmt.Errorf("%w: this node offers no storage", ErrRefused)
		}
		var mine, all int
		if err := s.cfg.DB.QueryRowContext(ctx, `SELECT count(*) FILTER (WHERE client = ?), count(*) FROM publish_records`, from.String()).Scan(&mine, &all); err != nil {
			return fmt.Errorf("publish: %w", err)
		}
		if mine >= MaxRecordsPerClient || all >= MaxRecords {
			return fmt.Errorf("%w: too many records kept (%d of yours, %d in all)", ErrRefused, mine, all)
		}
		_, err = s.cfg.DB.ExecContext(ctx, `INSERT INTO publish_records (loc, seq, op, expires, record, client, stored) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			r.Loc[:], int64(r.Seq), r.Op, r.Expires, b, from.String(), now.Unix())
	}
	if err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	if r.Op == opPublish {
		s.provide.Add(r.Loc.CID())
	}
	return nil
}

// expire drops records whose lease and grace ended.
func (s *Service) expire(ctx context.Context, now time.Time) (int64, error) {
	res, err := s.cfg.DB.ExecContext(ctx, `DELETE FROM publish_records WHERE expires < ?`, now.Add(-s.cfg.Grace).Unix())
	if err != nil {
		return 0, fmt.Errorf("publish: %w", err)
	}
	return res.RowsAffected()
}

// peerDeadline bounds one request to one peer.
const peerDeadline = 10 * time.Second

// call sends one request to p and reads the answer.
func (s *Service) call(ctx context.Context, p peer.ID, req request) (response, error) {
	ctx, cancel := context.WithTimeout(ctx, peerDeadline)
	defer cancel()
	st, err := s.cfg.Host.NewStream(ctx, p, ProtocolID)
	if err != nil {
		return response{}, fmt.Errorf("publish: open stream to %s: %w", p, err)
	}
	defer st.Close()
	dl, _ := ctx.Deadline()
	_ = st.SetDeadline(dl)
	if err := p2p.WriteMsg(st, req.encode()); err != nil {
		st.Reset()
		return response{}, fmt.Errorf("publish: %s: %w", p, err)
	}
	b, err := p2p.ReadMsg(st, maxResponse)
	if err != nil {
		st.Reset()
		return response{}, fmt.Errorf("publish: %s: %w", p, err)
	}
	return decodeResponse(b)
}

// push hands r to each peer at once and returns those that keep it.
func (s *Service) push(ctx context.Context, peers []peer.ID, r *record) ([]peer.ID, error) {
	enc := r.encode()
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		ok   []peer.ID
		errs []error
	)
	for _, p := range peers {
		if p == s.cfg.Host.ID() {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := s.call(ctx, p, request{Op: reqStore, Record: enc})
			if err == nil && resp.Status != statusOK {
				err = fmt.Errorf("%w: peer %s: %s", ErrRefused, p, resp.Msg)
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			ok = append(ok, p)
		}()
	}
	wg.Wait()
	if len(ok) == 0 && len(errs) == 0 {
		errs = append(errs, fmt.Errorf("%w: no storing peer to hand the record to", ErrRefused))
	}
	// Keep the caller's order (hints name the first holders).
	pos := map[peer.ID]int{}
	for i, p := range peers {
		pos[p] = i
	}
	slices.SortFunc(ok, func(a, b peer.ID) int { return pos[a] - pos[b] })
	return ok, errors.Join(errs...)
}

// found is a correctly signed record and the peer that keeps it.
type found struct {
	peer peer.ID
	rec  *record
}

// locate asks the URL's hints, extra, and the peers the DHT names for the
// locator (connected peers included) for its record. It keeps only
// records signed by the locator.
func (s *Service) locate(ctx context.Context, u URL, extra []peer.ID) []found {
	cands := union(u.Hints, extra)
	if s.cfg.Routing != nil {
		fctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		ais, _ := s.cfg.Routing.FindProviders(fctx, u.Locator.CID())
		cancel()
		var more []peer.ID
		for _, ai := range ais {
			if len(ai.Addrs) > 0 {
				s.cfg.Host.Peerstore().AddAddrs(ai.ID, ai.Addrs, 10*time.Minute)
			}
			more = append(more, ai.ID)
		}
		cands = union(cands, more)
	}
	if len(cands) > maxAsk {
		cands = cands[:maxAsk]
	}
	var (
		wg  sync.WaitGroup
		mu  sync.Mutex
		out []found
	)
	for _, p := range cands {
		if p == s.cfg.Host.ID() {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := s.call(ctx, p, request{Op: reqFetch, Loc: u.Locator})
			if err != nil || resp.Status != statusOK {
				return
			}
			r, err := decodeRecord(resp.Record)
			if err != nil || r.Loc != u.Locator || r.verify() != nil {
				s.log.Debug("publish: a peer answered a record not signed by the locator", "peer", p)
				return
			}
			mu.Lock()
			out = append(out, found{p, &r})
			mu.Unlock()
		}()
	}
	wg.Wait()
	// This node may keep the record itself.
	var own []byte
	if s.cfg.DB.QueryRowContext(ctx, `SELECT record FROM publish_records WHERE loc = ?`, u.Locator[:]).Scan(&own) == nil {
		if r, err := decodeRecord(own); err == nil && r.verify() == nil {
			out = append(out, found{s.cfg.Host.ID(), &r})
		}
	}
	return out
}

// latest returns the highest version among fs (a delete wins a tie).
func latest(fs []found) (*record, bool) {
	var best *record
	for _, f := range fs {
		if best == nil || f.rec.Seq > best.Seq || (f.rec.Seq == best.Seq && f.rec.Op == opDelete) {
			best = f.rec
		}
	}
	return best, best != nil
}

// keepers returns the peers in fs.
func keepers(fs []found) []peer.ID {
	out := make([]peer.ID, 0, len(fs))
	for _, f := range fs {
		out = append(out, f.peer)
	}
	return out
}
