package inbox

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

// An offer the policy neither accepts nor refuses at once (a stranger's,
// under "contacts") waits for the node's owner, who accepts or declines it
// in the web app or with `peerpath receive accept|decline`. The sender is
// told at once that it waits, and keeps the stream open for the final
// answer. What waits is bounded: [MaxPendingPerPeer] offers per sender,
// [MaxPending] in all, each for [PendingFor]; past that the offer expires
// and the sender is told so. One goroutine per waiting offer holds its
// stream: an offer offered again (the sender restarted) moves to the new
// stream and the old one is reset.

// Limits of the offers waiting for an answer.
const (
	// MaxPending bounds the offers waiting at once.
	MaxPending = 32
	// MaxPendingPerPeer bounds one sender's offers waiting at once.
	MaxPendingPerPeer = 3
)

// Events published on Config.Events.
const (
	// EventPending: an offer waits for an answer; data {"id","from","files"}.
	EventPending = "receive.pending"
	// EventDecided: a waiting offer was accepted, declined or expired;
	// data {"id","from","state"}.
	EventDecided = "receive.decided"
)

// Timings; variables so tests can shorten them.
var (
	// PendingFor is how long an offer waits for its answer.
	PendingFor = 5 * time.Minute
	// pendingWait bounds how long a sender waits for a final answer.
	pendingWait = PendingFor + time.Minute
)

// ErrNoOffer is returned by [Service.Accept] and [Service.Decline] for an
// id that names no waiting offer (it was answered, or it expired).
var ErrNoOffer = errors.New("inbox: no offer waiting with that id (answered or expired)")

// Pending is one offer waiting for the owner's answer.
type Pending struct {
	// ID is this node's id for the offer (not the sender's).
	ID      string
	From    peer.ID
	Files   []File
	Time    time.Time
	Expires time.Time
}

type pendingOffer struct {
	Pending
	offerID string        // the sender's id of the offer
	done    chan answer   // receives the final answer once
	moved   chan struct{} // closed when a newer stream takes the offer
}

// ask makes o wait for the owner, on st, and writes the final answer when
// it comes (or the offer expires).
func (s *Service) ask(st network.Stream, from peer.ID, o offer) {
	// An offer answered already (its sender lost the stream) gets the
	// same answer again.
	if a, ok := s.decided(from, o.ID); ok {
		s.answer(st, a)
		return
	}
	p, moved, why := s.park(from, o)
	if why != "" {
		s.answer(st, answer{Reason: why})
		return
	}
	st.SetDeadline(p.Expires.Add(30 * time.Second))
	s.answer(st, answer{Pending: true})
	t := time.NewTimer(time.Until(p.Expires))
	defer t.Stop()
	select {
	case a := <-p.done:
		s.answer(st, a)
	case <-t.C:
		a := answer{Expired: true, Reason: "the receiver did not answer within " + PendingFor.String() + "; send again later"}
		if s.claim(p.ID) != nil {
			s.complete(p, a, StateExpired)
			s.answer(st, a)
		} else {
			// Answered in the same instant: that answer is coming.
			select {
			case a := <-p.done:
				s.answer(st, a)
			case <-moved:
				st.Reset()
			case <-s.bg.Done():
				st.Reset()
			}
		}
	case <-moved:
		st.Reset()
	case <-s.bg.Done():
		st.Reset()
	}
}

// park adds o to the waiting offers, or moves an offer of the same sender
// and id to this stream; why says why it cannot wait.
func (s *Service) park(from peer.ID, o offer) (*pendingOffer, chan struct{}, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, p := range s.pending {
		if p.From != from {
			continue
		}
		if p.offerID == o.ID {
			close(p.moved)
			p.moved = make(chan struct{})
			return p, p.moved, ""
		}
		n++
	}
	switch {
	case n >= MaxPendingPerPeer:
		return nil, nil, fmt.Sprintf("you have %d offers waiting for the receiver's answer already; wait for them", n)
	case len(s.pending) >= MaxPending:
		return nil, nil, "the receiver has too many offers waiting for an answer; try again later"
	}
	b := make([]byte, 6)
	rand.Read(b)
	now := time.Now()
	p := &pendingOffer{
		Pending: Pending{ID: hex.EncodeToString(b), From: from, Files: o.Files, Time: now, Expires: now.Add(PendingFor)},
		offerID: o.ID,
		done:    make(chan answer, 1),
		moved:   make(chan struct{}),
	}
	s.pending[p.ID] = p
	if s.cfg.Events != nil {
		names := make([]string, 0, len(o.Files))
		for _, f := range o.Files {
			names = append(names, f.Name)
		}
		s.cfg.Events.Publish(EventPending, map[string]any{"id": p.ID, "from": from.String(), "files": names})
	}
	s.log.Info("an offer waits for an answer", "id", p.ID, "from", from, "files", len(o.Files))
	return p, p.moved, ""
}

// decided returns the answer recorded for from's offer id, if any.
func (s *Service) decided(from peer.ID, id string) (answer, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var acc int
	var reason string
	err := s.db.QueryRowContext(ctx, `SELECT accepted, reason FROM inbox_in WHERE id = ? AND peer = ? ORDER BY seq DESC LIMIT 1`,
		id, from.String()).Scan(&acc, &reason)
	if errors.Is(err, sql.ErrNoRows) || err != nil {
		return answer{}, false
	}
	return answer{Accepted: acc == 1, Reason: reason}, true
}

// claim takes waiting offer id out of the waiting offers, so that exactly
// one caller answers it; nil when it no longer waits.
func (s *Service) claim(id string) *pendingOffer {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.pending[id]
	delete(s.pending, id)
	return p
}

// complete ends claimed offer p with a: it records it, hands it to the
// stream's goroutine and publishes the end.
func (s *Service) complete(p *pendingOffer, a answer, state string) {
	s.record(offer{ID: p.offerID, Files: p.Files}, p.From, a)
	p.done <- a
	if s.cfg.Events != nil {
		s.cfg.Events.Publish(EventDecided, map[string]any{"id": p.ID, "from": p.From.String(), "state": state})
	}
	s.log.Info("a waiting offer ended", "id", p.ID, "from", p.From, "state", state)
}

// Pending lists the offers waiting for an answer, oldest first.
func (s *Service) Pending() []Pending {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Pending, 0, len(s.pending))
	for _, p := range s.pending {
		out = append(out, p.Pending)
	}
	slices.SortFunc(out, func(a, b Pending) int { return a.Time.Compare(b.Time) })
	return out
}

// Accept accepts waiting offer id: its files are queued in the downloads
// folder (verified like any download) and the sender is told.
func (s *Service) Accept(ctx context.Context, id string) (Pending, error) {
	p := s.claim(id)
	if p == nil {
		return Pending{}, ErrNoOffer
	}
	a := s.fetch(p.From, offer{ID: p.offerID, Files: p.Files})
	state := StateAccepted
	if !a.Accepted {
		state = StateRefused
	}
	s.complete(p, a, state)
	return p.Pending, nil
}

// Decline refuses waiting offer id; the sender is told the receiver
// declined.
func (s *Service) Decline(ctx context.Context, id string) (Pending, error) {
	p := s.claim(id)
	if p == nil {
		return Pending{}, ErrNoOffer
	}
	s.complete(p, answer{Reason: "the receiver declined the files"}, StateRefused)
	return p.Pending, nil
}
