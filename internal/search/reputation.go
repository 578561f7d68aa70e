package search

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// peerRep is what this node has learnt about a peer as a search source.
type peerRep struct {
	ok, bad int // completed downloads, verified or failed verification
	passes  int // claims verified against their manifest
	spam    int // strikes: canary matched, forged or false claims
}

// spamStrikes is the number of strikes after which a peer's answers are
// ignored and it is no longer asked.
const spamStrikes = 1

// trustedPasses is the number of verified claims or downloads after which a
// peer gets canaries and manifest checks only now and then. Canaries passed
// do not count: a spammer that recognises canaries passes them all.
const trustedPasses = 2

func (r *peerRep) spammer() bool { return r != nil && r.spam >= spamStrikes }

func (r *peerRep) trusted() bool {
	return r != nil && r.spam == 0 && r.passes+r.ok-2*r.bad >= trustedPasses
}

// score is in [-1, 1]: downloads count most, verified claims a little.
func (r *peerRep) score() float64 {
	if r == nil {
		return 0
	}
	if r.spammer() {
		return -1
	}
	return math.Tanh((float64(r.ok) - 3*float64(r.bad) + 0.3*float64(r.passes)) / 5)
}

func (s *Service) loadPeers(ctx context.Context) error {
	rows, err := s.db.QueryContext(ctx, `SELECT peer, ok, bad, passes, spam FROM search_peers`)
	if err != nil {
		return fmt.Errorf("search: load reputations: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		r := &peerRep{}
		if err := rows.Scan(&id, &r.ok, &r.bad, &r.passes, &r.spam); err != nil {
			return fmt.Errorf("search: load reputations: %w", err)
		}
		if p, err := peer.Decode(id); err == nil {
			s.peers[p] = r
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("search: load reputations: %w", err)
	}
	brows, err := s.db.QueryContext(ctx, `SELECT peer FROM search_blocked`)
	if err != nil {
		return fmt.Errorf("search: load blocklist: %w", err)
	}
	defer brows.Close()
	for brows.Next() {
		var id string
		if err := brows.Scan(&id); err != nil {
			return fmt.Errorf("search: load blocklist: %w", err)
		}
		if p, err := peer.Decode(id); err == nil {
			s.blocked[p] = true
		}
	}
	return brows.Err()
}

// updateRep applies f to p's reputation and persists it.
func (s *Service) updateRep(p peer.ID, f func(*peerRep)) {
	s.mu.Lock()
	r := s.peers[p]
	if r == nil {
		r = &peerRep{}
		s.peers[p] = r
	}
	f(r)
	c := *r
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := s.db.ExecContext(ctx, `INSERT INTO search_peers(peer, ok, bad, passes, spam) VALUES (?,?,?,?,?)
		ON CONFLICT(peer) DO UPDATE SET ok=excluded.ok, bad=excluded.bad, passes=excluded.passes, spam=excluded.spam`,
		p.String(), c.ok, c.bad, c.passes, c.spam)
	if err != nil {
		s.log.Warn("search: save reputation", "peer", p, "err", err)
	}
}

func (s *Service) rep(p peer.ID) peerRep {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.peers[p]; r != nil {
		return *r
	}
	return peerRep{}
}

// strike records spam evidence against p.
func (s *Service) strike(p peer.ID, why string) {
	s.log.Info("search: peer answered with spam", "peer", p, "evidence", why)
	s.updateRep(p, func(r *peerRep) { r.spam++ })
}

// RecordDownload records the outcome of a download from p: ok means it
// completed and verified, !ok that p sent data that failed verification.
// Reputation feeds the ranking and who is asked first.
func (s *Service) RecordDownload(p peer.ID, ok bool) {
	s.updateRep(p, func(r *peerRep) {
		if ok {
			r.ok++
		} else {
			r.bad++
		}
	})
}

// IsSpammer reports whether p has been recognised as a spammer.
func (s *Service) IsSpammer(p peer.ID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peers[p].spammer()
}

func (s *Service) isBlocked(p peer.ID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.blocked[p]
}

// Block adds p to the persistent local blocklist: p is never asked, its
// answers are ignored and its queries refused.
func (s *Service) Block(ctx context.Context, p peer.ID) error {
	if _, err := s.db.ExecContext(ctx, `INSERT OR REPLACE INTO search_blocked(peer, at) VALUES (?, ?)`, p.String(), time.Now().Unix()); err != nil {
		return fmt.Errorf("search: block: %w", err)
	}
	s.mu.Lock()
	s.blocked[p] = true
	s.mu.Unlock()
	return nil
}

// Unblock removes p from the blocklist.
func (s *Service) Unblock(ctx context.Context, p peer.ID) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM search_blocked WHERE peer = ?`, p.String()); err != nil {
		return fmt.Errorf("search: unblock: %w", err)
	}
	s.mu.Lock()
	delete(s.blocked, p)
	s.mu.Unlock()
	return nil
}

// Blocked lists the blocked peers, oldest block first.
func (s *Service) Blocked(ctx context.Context) ([]peer.ID, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT peer FROM search_blocked ORDER BY at, peer`)
	if err != nil {
		return nil, fmt.Errorf("search: blocked: %w", err)
	}
	defer rows.Close()
	var out []peer.ID
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("search: blocked: %w", err)
		}
		if p, err := peer.Decode(id); err == nil {
			out = append(out, p)
		}
	}
	return out, rows.Err()
}
