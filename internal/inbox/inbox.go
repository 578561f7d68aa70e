// Package inbox sends files to a peer and receives the files peers send
// (AirDrop/LocalSend style), over /peerpath/send/1.0.0.
//
// The sender shares each file (so it is served like any shared file, by
// content id) and offers the list (names, content ids, sizes) to the
// receiver. The receiver decides by its policy, from the stream's
// authenticated remote peer only: "contacts" (the default) accepts offers
// from its contacts, "everyone" accepts anyone's until a deadline, "nobody"
// refuses every offer. It answers before it reads the offer when the policy
// refuses, so a refused sender costs it one small write. An accepted file is
// fetched through the node's downloads queue, so it lands in the downloads
// folder verified chunk by chunk like any download.
//
// A send to a peer that cannot be reached is queued (in the database) and
// offered again when the peer comes online (the contacts service reports
// it) or at the next retry round; it expires after [QueueFor].
package inbox

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/peerpath/peerpath/internal/content"
	"github.com/peerpath/peerpath/internal/p2p"
	"github.com/peerpath/peerpath/internal/peerlimit"
	"github.com/peerpath/peerpath/internal/store"
)

// ProtocolID is the send protocol.
const ProtocolID protocol.ID = "/peerpath/send/1.0.0"

// Limits.
const (
	// MaxFiles bounds the files of one send.
	MaxFiles = 64
	// maxOffer bounds an offer on the wire (64 names of 255 bytes, ids,
	// sizes and JSON).
	maxOffer = 32 << 10
	// maxAnswer bounds an answer on the wire.
	maxAnswer = 1 << 10
	// MaxQueued bounds the sends waiting for their peer.
	MaxQueued = 1000
	// keepReceived bounds the record of received offers.
	keepReceived = 1000
	// QueueFor is how long a queued send waits for its peer.
	QueueFor = 7 * 24 * time.Hour
	// answerTimeout bounds how long a sender waits for an answer.
	answerTimeout = 30 * time.Second
)

// Timings; variables so tests can shorten them.
var retryEvery = time.Minute

// Policies.
const (
	PolicyContacts = "contacts"
	PolicyEveryone = "everyone"
	PolicyNobody   = "nobody"
)

// States of a send.
const (
	StateQueued   = "queued"   // waiting for the peer to come online
	StateAccepted = "accepted" // the peer accepted and is downloading
	StateRefused  = "refused"  // the peer refused (Reason says why)
	StateExpired  = "expired"  // the peer did not come online, or did not answer, in time
	StatePending  = "pending"  // the peer's owner has not yet accepted or declined
)

// Errors.
var (
	// ErrBadRequest wraps the caller's mistakes (no files, too many, a bad
	// policy).
	ErrBadRequest = errors.New("inbox: bad request")
	// ErrQueueFull is returned when MaxQueued sends are waiting.
	ErrQueueFull = errors.New("inbox: too many sends waiting for their peers")
)

// File is one offered file or folder.
type File struct {
	Name string `json:"name"`
	CID  string `json:"cid"`
	Size int64  `json:"size"`
}

// Contacts is what the inbox needs of the contacts service.
type Contacts interface {
	// IsContact reports whether id is in the address book.
	IsContact(id peer.ID) bool
	// Reach connects to id (peerstore or DHT) unless it is connected.
	Reach(ctx context.Context, id peer.ID) error
}

// Files shares what a node sends.
type Files interface {
	// Offer shares the file or folder at path and returns it as offered.
	Offer(ctx context.Context, path string) (File, error)
}

// Downloads fetches what a node accepts.
type Downloads interface {
	// Fetch queues a verified download of f, offered by from, into the
	// downloads folder.
	Fetch(from peer.ID, f File) error
}

// Config configures a Service.
type Config struct {
	Host      host.Host
	DB        *store.DB
	Logger    *slog.Logger
	Contacts  Contacts
	Files     Files
	Downloads Downloads
	// Outbox is the folder where files uploaded to send (the web app's
	// drag and drop) are kept; empty: no uploads.
	Outbox string
	// Events, if not nil, is told of offers waiting for an answer
	// ([EventPending]) and of their end ([EventDecided]).
	Events Publisher
}

// Publisher publishes live events (the node's *events.Bus).
type Publisher interface{ Publish(typ string, data any) }

// Policy is the receiving policy.
type Policy struct {
	Mode string
	// Until is when an "everyone" policy falls back to "contacts".
	Until time.Time
}

// Outgoing is one send.
type Outgoing struct {
	ID      string
	To      peer.ID
	Files   []File
	State   string
	Reason  string
	Created time.Time
	Updated time.Time
}

// Incoming is one offer received.
type Incoming struct {
	ID       string
	From     peer.ID
	Files    []File
	Accepted bool
	Reason   string
	Time     time.Time
}

type offer struct {
	ID    string `json:"id"`
	Files []File `json:"files"`
}

// answer is the receiver's word on an offer. An offer its policy does not
// accept at once gets a first answer with Pending set, then (on the same
// stream) the final one: accepted, declined, or Expired when nobody
// answered in time.
type answer struct {
	Accepted bool   `json:"accepted"`
	Pending  bool   `json:"pending,omitempty"`
	Expired  bool   `json:"expired,omitempty"`
	Reason   string `json:"reason,omitempty"`
}

// Service is the inbox. Create it with [New], run it with [Service.Serve].
type Service struct {
	cfg Config
	log *slog.Logger
	h   host.Host
	db  *store.DB
	lim *peerlimit.Limiter

	mu      sync.Mutex
	policy  Policy
	sending map[string]bool // ids being offered now
	kick    chan struct{}
	pending map[string]*pendingOffer // offers waiting for the owner, by local id
	// accepting holds the content ids of accepted offers until their
	// record is written (see IsReceived).
	accepting map[string]bool

	// bg bounds the goroutines that wait for a receiver's final answer;
	// Serve cancels it and waits for them when it returns.
	bg      context.Context
	stop    context.CancelFunc
	waiters sync.WaitGroup
}

var migrations = []store.Migration{{Version: 1, SQL: `
CREATE TABLE inbox_kv (
	k TEXT PRIMARY KEY,
	v TEXT NOT NULL
);
CREATE TABLE inbox_out (
	id      TEXT PRIMARY KEY,
	peer    TEXT NOT NULL,
	files   TEXT NOT NULL,
	state   TEXT NOT NULL,
	reason  TEXT NOT NULL DEFAULT '',
	created INTEGER NOT NULL,
	updated INTEGER NOT NULL
);
CREATE INDEX inbox_out_state ON inbox_out (state);
CREATE TABLE inbox_in (
	seq      INTEGER PRIMARY KEY AUTOINCREMENT,
	id       TEXT NOT NULL,
	peer     TEXT NOT NULL,
	files    TEXT NOT NULL,
	accepted INTEGER NOT NULL,
	reason   TEXT NOT NULL DEFAULT '',
	at       INTEGER NOT NULL
);`}}

// New opens the inbox's tables.
func New(ctx context.Context, cfg Config) (*Service, error) {
	if cfg.Host == nil || cfg.DB == nil || cfg.Contacts == nil || cfg.Files == nil || cfg.Downloads == nil {
		return nil, errors.New("inbox: Host, DB, Contacts, Files and Downloads are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if err := cfg.DB.Migrate(ctx, "inbox", migrations); err != nil {
		return nil, err
	}
	s := &Service{
		cfg: cfg, log: cfg.Logger, h: cfg.Host, db: cfg.DB,
		// One offer every 2 s per peer, bursts of 5: plenty for a person
		// dropping files, nothing for a flood.
		lim:       peerlimit.New(0.5, 5),
		policy:    Policy{Mode: PolicyContacts},
		sending:   make(map[string]bool),
		kick:      make(chan struct{}, 1),
		pending:   make(map[string]*pendingOffer),
		accepting: make(map[string]bool),
	}
	s.bg, s.stop = context.WithCancel(context.Background())
	// A send that was waiting for the receiver's answer when the node
	// stopped is offered again: the receiver knows it by its id.
	if _, err := s.db.ExecContext(ctx, `UPDATE inbox_out SET state = ? WHERE state = ?`, StateQueued, StatePending); err != nil {
		return nil, fmt.Errorf("inbox: %w", err)
	}
	var mode, until string
	s.db.QueryRowContext(ctx, `SELECT v FROM inbox_kv WHERE k = 'policy'`).Scan(&mode)
	s.db.QueryRowContext(ctx, `SELECT v FROM inbox_kv WHERE k = 'until'`).Scan(&until)
	if mode == PolicyEveryone || mode == PolicyNobody {
		s.policy.Mode = mode
	}
	if t, err := time.Parse(time.RFC3339Nano, until); err == nil {
		s.policy.Until = t
	}
	s.h.SetStreamHandler(ProtocolID, s.handle)
	return s, nil
}

// Policy returns the receiving policy in force (an "everyone" policy past
// its deadline reads as "contacts").
func (s *Service) Policy() Policy {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.effectiveLocked(time.Now())
}

func (s *Service) effectiveLocked(now time.Time) Policy {
	p := s.policy
	if p.Mode == PolicyEveryone && !now.Before(p.Until) {
		return Policy{Mode: PolicyContacts}
	}
	if p.Mode != PolicyEveryone {
		p.Until = time.Time{}
	}
	return p
}

// SetPolicy sets the receiving policy: contacts, nobody, or everyone for d
// (1 s to 24 h).
func (s *Service) SetPolicy(ctx context.Context, mode string, d time.Duration) (Policy, error) {
	p := Policy{Mode: mode}
	switch mode {
	case PolicyContacts, PolicyNobody:
	case PolicyEveryone:
		if d < time.Second || d > 24*time.Hour {
			return Policy{}, fmt.Errorf("%w: everyone needs a duration from 1s to 24h (e.g. everyone-for 10m)", ErrBadRequest)
		}
		p.Until = time.Now().Add(d)
	default:
		return Policy{}, fmt.Errorf("%w: policy %q: want contacts, everyone-for DURATION or nobody", ErrBadRequest, mode)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return Policy{}, fmt.Errorf("inbox: save policy: %w", err)
	}
	defer tx.Rollback()
	for k, v := range map[string]string{"policy": p.Mode, "until": p.Until.Format(time.RFC3339Nano)} {
		if _, err := tx.ExecContext(ctx, `INSERT INTO inbox_kv (k, v) VALUES (?, ?) ON CONFLICT(k) DO UPDATE SET v = excluded.v`, k, v); err != nil {
			return Policy{}, fmt.Errorf("inbox: save policy: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return Policy{}, fmt.Errorf("inbox: save policy: %w", err)
	}
	s.mu.Lock()
	s.policy = p
	s.mu.Unlock()
	return p, nil
}

// decision says what the policy does with from's offers now: accept them
// at once, ask the owner (a stranger under "contacts"), or refuse them
// (why says why).
func (s *Service) decision(from peer.ID) (accept, ask bool, why string) {
	p := s.Policy()
	switch {
	case p.Mode == PolicyNobody:
		return false, false, "the receiver accepts no files (receive policy: nobody)"
	case p.Mode == PolicyEveryone:
		return true, false, ""
	case s.cfg.Contacts.IsContact(from):
		return true, false, ""
	}
	return false, true, ""
}

// handle answers an offer a peer opened.
func (s *Service) handle(st network.Stream) {
	defer st.Close()
	from := st.Conn().RemotePeer()
	st.SetDeadline(time.Now().Add(p2p.FirstRequestTimeout))
	if !s.lim.Allow(from) {
		s.answer(st, answer{Reason: "too many offers; try again later"})
		return
	}
	// The policy decides before the offer is read: a refused sender costs
	// one small write.
	accept, ask, why := s.decision(from)
	if !accept && !ask {
		s.answer(st, answer{Reason: why})
		s.log.Info("refused an offer", "from", from, "why", why)
		return
	}
	b, err := p2p.ReadMsg(st, maxOffer)
	if err != nil {
		st.Reset()
		return
	}
	o, err := decodeOffer(b)
	if err != nil {
		s.answer(st, answer{Reason: err.Error()})
		return
	}
	if ask {
		s.ask(st, from, o)
		return
	}
	a := s.fetch(from, o)
	s.record(o, from, a)
	s.answer(st, a)
	s.log.Info("accepted an offer", "from", from, "files", len(o.Files))
}

// fetch queues o's files from from in the downloads folder and returns the
// answer for the sender.
func (s *Service) fetch(from peer.ID, o offer) answer {
	var failed []string
	s.mu.Lock()
	if len(s.accepting) > 10_000 {
		clear(s.accepting) // recorded in inbox_in by now
	}
	for _, f := range o.Files {
		s.accepting[f.CID] = true
	}
	s.mu.Unlock()
	for _, f := range o.Files {
		if err := s.cfg.Downloads.Fetch(from, f); err != nil {
			failed = append(failed, f.Name+": "+err.Error())
		}
	}
	a := answer{Accepted: len(failed) < len(o.Files)}
	if len(failed) > 0 {
		a.Reason = "could not queue " + strings.Join(failed, "; ")
	}
	return a
}

func (s *Service) answer(st network.Stream, a answer) {
	b, _ := json.Marshal(a)
	if err := p2p.WriteMsg(st, b); err != nil {
		st.Reset()
	}
}

// decodeOffer reads and checks an offer: at most MaxFiles files, each a
// valid single name (no path), a content id and a size.
func decodeOffer(b []byte) (offer, error) {
	var o offer
	if len(b) > maxOffer {
		return o, fmt.Errorf("offer of %d bytes, limit %d", len(b), maxOffer)
	}
	if err := json.Unmarshal(b, &o); err != nil {
		return o, fmt.Errorf("bad offer: %w", err)
	}
	if len(o.ID) == 0 || len(o.ID) > 64 {
		return o, errors.New("bad offer: id")
	}
	if len(o.Files) == 0 || len(o.Files) > MaxFiles {
		return o, fmt.Errorf("bad offer: %d files (1 to %d)", len(o.Files), MaxFiles)
	}
	for _, f := range o.Files {
		if err := content.ValidName(f.Name); err != nil {
			return o, fmt.Errorf("bad offer: %w", err)
		}
		if _, err := cid.Decode(f.CID); err != nil {
			return o, fmt.Errorf("bad offer: file %q: bad content id", f.Name)
		}
		if f.Size < 0 {
			return o, fmt.Errorf("bad offer: file %q: negative size", f.Name)
		}
	}
	return o, nil
}

func (s *Service) record(o offer, from peer.ID, a answer) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	files, _ := json.Marshal(o.Files)
	acc := 0
	if a.Accepted {
		acc = 1
	}
	if _, err := s.db.ExecContext(ctx, `INSERT INTO inbox_in (id, peer, files, accepted, reason, at) VALUES (?, ?, ?, ?, ?, ?)`,
		o.ID, from.String(), string(files), acc, a.Reason, time.Now().UnixMilli()); err != nil {
		s.log.Warn("inbox: offer not recorded", "err", err)
		return
	}
	s.db.ExecContext(ctx, `DELETE FROM inbox_in WHERE seq <= (SELECT MAX(seq) FROM inbox_in) - ?`, keepReceived)
}

// Received lists the offers accepted, newest first.
func (s *Service) Received(ctx context.Context) ([]Incoming, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, peer, files, accepted, reason, at FROM inbox_in ORDER BY seq DESC`)
	if err != nil {
		return nil, fmt.Errorf("inbox: received: %w", err)
	}
	defer rows.Close()
	out := []Incoming{}
	for rows.Next() {
		var in Incoming
		var p, files string
		var acc int
		var at int64
		if err := rows.Scan(&in.ID, &p, &files, &acc, &in.Reason, &at); err != nil {
			return nil, fmt.Errorf("inbox: received: %w", err)
		}
		in.From, _ = peer.Decode(p)
		json.Unmarshal([]byte(files), &in.Files)
		in.Accepted, in.Time = acc == 1, time.UnixMilli(at)
		out = append(out, in)
	}
	return out, rows.Err()
}

// Send shares paths and offers them to to. It returns once the peer
// answered (accepted or refused), or with the send queued when the peer
// cannot be reached now.
func (s *Service) Send(ctx context.Context, to peer.ID, paths []string) (Outgoing, error) {
	if len(paths) == 0 || len(paths) > MaxFiles {
		return Outgoing{}, fmt.Errorf("%w: send 1 to %d files", ErrBadRequest, MaxFiles)
	}
	if to == s.h.ID() {
		return Outgoing{}, fmt.Errorf("%w: that is this node itself", ErrBadRequest)
	}
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM inbox_out WHERE state = ?`, StateQueued).Scan(&n); err != nil {
		return Outgoing{}, fmt.Errorf("inbox: send: %w", err)
	}
	if n >= MaxQueued {
		return Outgoing{}, ErrQueueFull
	}
	files := make([]File, 0, len(paths))
	for _, p := range paths {
		abs, err := filepath.Abs(p)
		if err != nil {
			return Outgoing{}, fmt.Errorf("%w: %s: %v", ErrBadRequest, p, err)
		}
		if _, err := os.Stat(abs); err != nil {
			return Outgoing{}, fmt.Errorf("%w: %v", ErrBadRequest, err)
		}
		// Shared from the outbox, so that only its recipient may fetch it.
		if abs, err = s.stage(abs); err != nil {
			return Outgoing{}, err
		}
		f, err := s.cfg.Files.Offer(ctx, abs)
		if err != nil {
			return Outgoing{}, fmt.Errorf("inbox: share %s: %w", p, err)
		}
		files = append(files, f)
	}
	b := make([]byte, 8)
	rand.Read(b)
	now := time.Now()
	o := Outgoing{ID: hex.EncodeToString(b), To: to, Files: files, State: StateQueued, Created: now, Updated: now}
	fj, _ := json.Marshal(files)
	if _, err := s.db.ExecContext(ctx, `INSERT INTO inbox_out (id, peer, files, state, created, updated) VALUES (?, ?, ?, ?, ?, ?)`,
		o.ID, to.String(), string(fj), o.State, now.UnixMilli(), now.UnixMilli()); err != nil {
		return Outgoing{}, fmt.Errorf("inbox: send: %w", err)
	}
	return s.deliver(ctx, o), nil
}

// deliver offers o if its peer can be reached; it returns o as it now
// stands (still queued when the peer is away).
func (s *Service) deliver(ctx context.Context, o Outgoing) Outgoing {
	s.mu.Lock()
	if s.sending[o.ID] {
		s.mu.Unlock()
		return o
	}
	s.sending[o.ID] = true
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.sending, o.ID)
		s.mu.Unlock()
	}()
	if err := s.cfg.Contacts.Reach(ctx, o.To); err != nil {
		s.log.Debug("send queued: peer unreachable", "id", o.ID, "to", o.To, "err", err)
		return o
	}
	a, st, err := s.offer(ctx, o)
	if err != nil {
		s.log.Debug("send queued: offer failed", "id", o.ID, "to", o.To, "err", err)
		return o
	}
	if a.Pending {
		o.State, o.Reason, o.Updated = StatePending, "", time.Now()
		s.setState(o)
		s.waitFinal(st, o)
		return o
	}
	o.State, o.Reason = outcome(a)
	s.setState(o)
	return o
}

// outcome is the state and reason of a send the receiver answered.
func outcome(a answer) (state, reason string) {
	switch {
	case a.Accepted:
		return StateAccepted, a.Reason
	case a.Expired:
		return StateExpired, a.Reason
	}
	return StateRefused, a.Reason
}

// waitFinal waits, in the background, for the final answer to an offer the
// receiver's owner has yet to decide on, and records it. A stream that
// breaks first leaves the send queued: it is offered again and the
// receiver, who knows it by its id, answers for the same offer.
func (s *Service) waitFinal(st network.Stream, o Outgoing) {
	s.waiters.Add(1)
	go func() {
		defer s.waiters.Done()
		defer st.Close()
		stop := context.AfterFunc(s.bg, func() { st.Reset() })
		defer stop()
		st.SetDeadline(time.Now().Add(pendingWait))
		a, err := readAnswer(st)
		if err != nil {
			o.State, o.Reason = StateQueued, ""
			s.log.Debug("send queued: the answer did not come", "id", o.ID, "to", o.To, "err", err)
		} else {
			o.State, o.Reason = outcome(a)
		}
		if s.bg.Err() == nil {
			s.setState(o)
		}
	}()
}

// offer opens a stream to o's peer, offers o and reads the first answer.
// When that answer is pending the stream is returned open for the final
// one (the caller closes it); otherwise it is closed and st is nil.
func (s *Service) offer(ctx context.Context, o Outgoing) (a answer, st network.Stream, err error) {
	ctx, cancel := context.WithTimeout(ctx, answerTimeout)
	defer cancel()
	st, err = s.h.NewStream(ctx, o.To, ProtocolID)
	if err != nil {
		return answer{}, nil, err
	}
	defer func() {
		if !a.Pending || err != nil {
			st.Close()
			st = nil
		}
	}()
	st.SetDeadline(time.Now().Add(answerTimeout))
	b, _ := json.Marshal(offer{ID: o.ID, Files: o.Files})
	// The receiver may answer a refusal before it reads the offer and
	// close; a write error is then no error of ours, so read the answer
	// either way.
	werr := p2p.WriteMsg(st, b)
	st.CloseWrite()
	a, err = readAnswer(st)
	if err != nil {
		return answer{}, st, errors.Join(werr, err)
	}
	return a, st, nil
}

func readAnswer(st network.Stream) (answer, error) {
	rb, err := p2p.ReadMsg(st, maxAnswer)
	if err != nil {
		return answer{}, err
	}
	return decodeAnswer(rb)
}

// decodeAnswer reads a receiver's answer: at most maxAnswer bytes, a
// reason cut to 512 bytes, and never both accepted and pending.
func decodeAnswer(b []byte) (answer, error) {
	var a answer
	if len(b) > maxAnswer {
		return answer{}, fmt.Errorf("answer of %d bytes, limit %d", len(b), maxAnswer)
	}
	if err := json.Unmarshal(b, &a); err != nil {
		return answer{}, fmt.Errorf("bad answer: %w", err)
	}
	if a.Pending && (a.Accepted || a.Expired) {
		return answer{}, errors.New("bad answer: pending and final at once")
	}
	if len(a.Reason) > 512 {
		a.Reason = a.Reason[:512]
	}
	return a, nil
}

func (s *Service) setState(o Outgoing) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := s.db.ExecContext(ctx, `UPDATE inbox_out SET state = ?, reason = ?, updated = ? WHERE id = ?`,
		o.State, o.Reason, time.Now().UnixMilli(), o.ID); err != nil {
		s.log.Warn("inbox: send state not saved", "id", o.ID, "err", err)
	}
}

// Sends lists the sends, newest first.
func (s *Service) Sends(ctx context.Context) ([]Outgoing, error) {
	return s.sends(ctx, "")
}

func (s *Service) sends(ctx context.Context, state string) ([]Outgoing, error) {
	q := `SELECT id, peer, files, state, reason, created, updated FROM inbox_out`
	var args []any
	if state != "" {
		q += ` WHERE state = ?`
		args = append(args, state)
	}
	rows, err := s.db.QueryContext(ctx, q+` ORDER BY created DESC LIMIT 1000`, args...)
	if err != nil {
		return nil, fmt.Errorf("inbox: sends: %w", err)
	}
	defer rows.Close()
	out := []Outgoing{}
	for rows.Next() {
		var o Outgoing
		var p, files string
		var c, u int64
		if err := rows.Scan(&o.ID, &p, &files, &o.State, &o.Reason, &c, &u); err != nil {
			return nil, fmt.Errorf("inbox: sends: %w", err)
		}
		o.To, _ = peer.Decode(p)
		json.Unmarshal([]byte(files), &o.Files)
		o.Created, o.Updated = time.UnixMilli(c), time.UnixMilli(u)
		out = append(out, o)
	}
	return out, rows.Err()
}

// PeerOnline offers the sends queued for id; the contacts service calls it
// when a peer comes online.
func (s *Service) PeerOnline(id peer.ID) {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// Serve retries queued sends when a peer comes online and every
// retryEvery, until ctx ends.
func (s *Service) Serve(ctx context.Context) error {
	defer s.waiters.Wait()
	defer s.stop()
	t := time.NewTicker(retryEvery)
	defer t.Stop()
	for {
		s.retry(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-s.kick:
		}
	}
}

func (s *Service) retry(ctx context.Context) {
	queued, err := s.sends(ctx, StateQueued)
	if err != nil {
		s.log.Warn("inbox: queued sends", "err", err)
		return
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for _, o := range queued {
		if time.Since(o.Created) > QueueFor {
			o.State, o.Reason = StateExpired, "the peer did not come online within "+QueueFor.String()
			s.setState(o)
			continue
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return
		}
		wg.Go(func() {
			defer func() { <-sem }()
			s.deliver(ctx, o)
		})
	}
	wg.Wait()
}

// MaxUpload bounds one file sent through [Service.SendUpload].
const MaxUpload = 8 << 30

// SendUpload saves r (a file the web app dropped, at most MaxUpload bytes)
// as name in a folder of its own under Config.Outbox, durably, and sends it
// like [Service.Send]. The name must be a single valid file name.
func (s *Service) SendUpload(ctx context.Context, to peer.ID, name string, r io.Reader) (Outgoing, error) {
	if s.cfg.Outbox == "" {
		return Outgoing{}, fmt.Errorf("%w: this node has no outbox folder", ErrBadRequest)
	}
	if err := content.ValidName(name); err != nil {
		return Outgoing{}, fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	b := make([]byte, 8)
	rand.Read(b)
	dir := filepath.Join(s.cfg.Outbox, hex.EncodeToString(b))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return Outgoing{}, fmt.Errorf("inbox: outbox: %w", err)
	}
	path := filepath.Join(dir, name)
	f, err := os.CreateTemp(dir, ".upload-*")
	if err != nil {
		return Outgoing{}, fmt.Errorf("inbox: outbox: %w", err)
	}
	n, err := io.Copy(f, io.LimitReader(r, MaxUpload+1))
	if err == nil && n > MaxUpload {
		err = fmt.Errorf("%w: a file larger than %d bytes", ErrBadRequest, int64(MaxUpload))
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.RemoveAll(dir)
		if errors.Is(err, ErrBadRequest) {
			return Outgoing{}, err
		}
		return Outgoing{}, fmt.Errorf("inbox: save upload: %w", err)
	}
	return s.Send(ctx, to, []string{path})
}
