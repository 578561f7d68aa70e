package msg

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	kb "github.com/libp2p/go-libp2p-kbucket"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	lcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/time/rate"

	"github.com/peerpath/peerpath/internal/msg/ratchet"
	"github.com/peerpath/peerpath/internal/p2p"
	"github.com/peerpath/peerpath/internal/peerlimit"
	"github.com/peerpath/peerpath/internal/store"
)

// Peers is what msg needs to know of people: names and contacts. Package
// contacts implements it; node glues it.
type Peers interface {
	// Resolve turns a contact's name or a peer ID into a peer ID.
	Resolve(ctx context.Context, nameOrID string) (peer.ID, error)
	// IsContact reports whether p is one of this node's contacts.
	IsContact(p peer.ID) bool
}

// Routing finds the peers closest to a key in the DHT's key space
// (kad-dht's *IpfsDHT implements it).
type Routing interface {
	GetClosestPeers(ctx context.Context, key string) ([]peer.ID, error)
}

// Config configures a [Service]. Host, DB, Key and Peers are required.
type Config struct {
	Host host.Host
	DB   *store.DB
	// Key is the node's libp2p identity (Ed25519): it signs the X25519
	// identity key and the prekeys.
	Key lcrypto.PrivKey
	// Peers resolves names and knows the contacts.
	Peers Peers
	// Routing picks mailboxes; nil uses the connected peers only.
	Routing Routing
	// PubSub carries group messages; nil turns groups off.
	PubSub *pubsub.PubSub
	// Blocked reports a peer the user blocked (nil: nobody).
	Blocked func(peer.ID) bool
	// Logger receives the service's logs. Nil discards them.
	Logger *slog.Logger

	// Replicas is how many mailboxes hold each offline message (0: 3).
	Replicas int
	// MailboxTTL is how long a mailbox keeps a message (0: 7 days).
	MailboxTTL time.Duration
	// DirectTimeout bounds a direct delivery attempt (0: 5 s).
	DirectTimeout time.Duration
	// CollectEvery is how often mailboxes are asked for new messages,
	// beside every new connection (0: 1 min).
	CollectEvery time.Duration
	// Now is the clock (tests); nil is time.Now.
	Now func() time.Time
}

// Errors the service returns; httpapi maps them to statuses.
var (
	// ErrBadRequest: an empty or too long text, a bad name.
	ErrBadRequest = errors.New("msg: bad request")
	// ErrNoBundle: the recipient is unreachable and no mailbox holds its
	// prekey bundle, so no session can start yet.
	ErrNoBundle = errors.New("msg: no prekey bundle for the recipient (it is offline and no mailbox holds its keys)")
	// ErrBlocked: the peer is blocked.
	ErrBlocked = errors.New("msg: peer is blocked")
	// ErrNotFound: no such group.
	ErrNotFound = errors.New("msg: not found")
	// ErrClosed: the service stopped.
	ErrClosed = errors.New("msg: closed")
)

// Message states.
const (
	StateSent      = "sent"      // encrypted and queued; no one holds it yet
	StateStored    = "stored"    // held by mailboxes
	StateDelivered = "delivered" // the recipient has it
	StateRead      = "read"      // the recipient read it
)

// Folders of received messages.
const (
	FolderInbox    = "inbox"
	FolderRequests = "requests" // from a non-contact we never wrote to
)

// Message is one message of a conversation.
type Message struct {
	ID     string
	From   peer.ID
	To     string // a peer ID, or group:NAME
	Text   string
	Time   time.Time
	State  string
	Folder string
	Out    bool
}

// Service sends and receives end-to-end encrypted messages, keeps
// mailboxes for offline peers and runs groups. Create it with [New], run
// it with [Service.Serve].
type Service struct {
	cfg   Config
	log   *slog.Logger
	h     host.Host
	db    *store.DB
	self  peer.ID
	ident ratchet.Identity
	now   func() time.Time

	// mu serialises every change of ratchet state: a state is read,
	// advanced and written back with its message in one transaction.
	mu sync.Mutex

	limiter     *peerlimit.Limiter // incoming direct and group messages per sender
	mailLim     *peerlimit.Limiter // messages per sender collected from mailboxes (a backlog arrives at once)
	strangerLim *peerlimit.Limiter // texts per non-contact (the requests folder)
	memberLim   *peerlimit.Limiter // group traffic per non-contact member of a group this node is in
	mboxLim     *peerlimit.Limiter // mailbox requests per peer
	wake        chan struct{}      // a peer connected: flush and collect
	left        chan struct{}      // a peer disconnected: see whether the bundle's mailboxes changed
	subsMu      sync.Mutex
	subs        map[int]func(Message)
	nextSub     int

	groups *groups

	arrMu     sync.Mutex
	newPeers  map[peer.ID]bool // connected since the last collection
	lastLocs  [][tagSize]byte  // the places of the last collection
	lastPeers int              // how many peers this node had then

	initMu   sync.Mutex
	initSIDs map[[32]byte][sidSize]byte // hash of an X3DH init answered -> its session

	bundleReplicas atomic.Int32
	bundlePubs     atomic.Int64

	bgMu     sync.Mutex
	bgClosed bool
	bgWG     sync.WaitGroup
	bgCtx    context.Context
	bgCancel context.CancelFunc
}

// spawn runs fn in the background unless the service stopped; Serve
// waits for it before it returns.
func (s *Service) spawn(fn func(ctx context.Context)) bool {
	s.bgMu.Lock()
	defer s.bgMu.Unlock()
	if s.bgClosed {
		return false
	}
	s.bgWG.Add(1)
	go func() {
		defer s.bgWG.Done()
		fn(s.bgCtx)
	}()
	return true
}

func (s *Service) stopBackground() {
	s.bgMu.Lock()
	s.bgClosed = true
	s.bgMu.Unlock()
	s.bgCancel()
	s.bgWG.Wait()
}

// New opens the service's tables and keys and registers its protocols.
func New(ctx context.Context, cfg Config) (*Service, error) {
	if cfg.Host == nil || cfg.DB == nil || cfg.Key == nil || cfg.Peers == nil {
		return nil, errors.New("msg: Host, DB, Key and Peers are required")
	}
	if cfg.Key.Type() != lcrypto.Ed25519 {
		return nil, errors.New("msg: identity key must be Ed25519")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Replicas <= 0 {
		cfg.Replicas = 3
	}
	if cfg.MailboxTTL <= 0 {
		cfg.MailboxTTL = 7 * 24 * time.Hour
	}
	if cfg.DirectTimeout <= 0 {
		cfg.DirectTimeout = 5 * time.Second
	}
	if cfg.CollectEvery <= 0 {
		cfg.CollectEvery = time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Blocked == nil {
		cfg.Blocked = func(peer.ID) bool { return false }
	}
	if err := cfg.DB.Migrate(ctx, "msg", migrations); err != nil {
		return nil, err
	}
	raw, err := cfg.Key.Raw()
	if err != nil || len(raw) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("msg: identity key: %v", err)
	}
	s := &Service{
		cfg: cfg, log: cfg.Logger, h: cfg.Host, db: cfg.DB, self: cfg.Host.ID(), now: cfg.Now,
		limiter:     peerlimit.New(rate.Limit(5), 30),
		mboxLim:     peerlimit.New(rate.Limit(20), 100),
		mailLim:     peerlimit.New(rate.Limit(20), mailboxPerSender),
		strangerLim: peerlimit.New(strangerRate, strangerBurst),
		memberLim:   peerlimit.New(memberRate, memberBurst),
		wake:        make(chan struct{}, 1),
		left:        make(chan struct{}, 1),
		subs:        map[int]func(Message){},
		initSIDs:    map[[32]byte][sidSize]byte{},
		newPeers:    map[peer.ID]bool{},
	}
	s.bgCtx, s.bgCancel = context.WithCancel(context.Background())
	dh, err := s.loadOrMakeKey(ctx, 0)
	if err != nil {
		return nil, err
	}
	s.ident = ratchet.Identity{Sign: ed25519.PrivateKey(raw), DH: dh}
	if _, _, err := s.currentPreKey(ctx); err != nil {
		return nil, err
	}
	s.groups = newGroups(s)
	s.h.SetStreamHandler(ProtocolID, s.handleDirect)
	s.h.SetStreamHandler(MailboxProtocol, s.handleMailbox)
	return s, nil
}

// Bundle republication: at least every bundleRefresh, and sooner (but
// not more often than every bundleMinGap) when the peers closest to the
// bundle's key, which would hold it, are no longer those it went to.
const (
	bundleRefresh = 30 * time.Minute
	bundleMinGap  = 5 * time.Second
)

// Serve delivers queued messages, collects from mailboxes (at start,
// on every new connection and every CollectEvery), publishes this node's
// prekey bundle (see bundleRefresh) and expires what mailboxes hold,
// until ctx ends.
func (s *Service) Serve(ctx context.Context) error {
	defer s.h.RemoveStreamHandler(ProtocolID)
	defer s.h.RemoveStreamHandler(MailboxProtocol)
	defer s.stopBackground()
	notifee := &network.NotifyBundle{
		ConnectedF: func(_ network.Network, c network.Conn) { s.arrived(c.RemotePeer()) },
		DisconnectedF: func(network.Network, network.Conn) {
			select {
			case s.left <- struct{}{}:
			default:
			}
		},
	}
	s.h.Network().Notify(notifee)
	defer s.h.Network().StopNotify(notifee)

	var wg sync.WaitGroup
	defer wg.Wait()
	if s.groups != nil {
		wg.Add(1)
		go func() { defer wg.Done(); s.groups.serve(ctx) }()
	}
	tick := time.NewTicker(s.cfg.CollectEvery)
	defer tick.Stop()
	var (
		published time.Time // the last complete publication
		tried     time.Time // the last attempt
		holders   string    // the peers closest to the bundle key then
	)
	var again <-chan time.Time // a republication held back by bundleMinGap
	republish := func() {
		if len(s.h.Network().Peers()) == 0 {
			return // no one to hold it; a connection wakes the loop
		}
		near := s.nearBundleKey()
		if !published.IsZero() && time.Since(published) < bundleRefresh && near == holders {
			return
		}
		if wait := bundleMinGap - time.Since(tried); !tried.IsZero() && wait > 0 {
			again = time.After(wait)
			return
		}
		tried = time.Now()
		n := s.publishBundle(ctx)
		s.bundleReplicas.Store(int32(n))
		s.bundlePubs.Add(1)
		if n > 0 && n >= min(s.cfg.Replicas, len(s.h.Network().Peers())) {
			published, holders = time.Now(), near
		}
	}
	full := true        // the first collection looks back over every day a mailbox keeps
	s.sendReceipts(ctx) // owed before a crash
	force := true       // collect whatever peers arrived
	for {
		republish()
		s.flush(ctx)
		if len(s.h.Network().Peers()) > 0 && (force || s.worthCollecting()) {
			s.collect(ctx, full)
			full = false
		}
		force = false
		s.expire(ctx)
	wait:
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			force = true
		case <-s.left:
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(time.Second):
			}
			republish()
			goto wait
		case <-again:
			again = nil
			republish()
			goto wait
		case <-s.wake:
			// Let the connection settle (identify, DHT) before asking.
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(300 * time.Millisecond):
			}
		}
	}
}

// nearBundleKey names the connected peers that would hold this node's
// bundle now (the Replicas closest to its key), cheaply: no DHT query.
func (s *Service) nearBundleKey() string {
	ps := kb.SortClosestPeers(s.h.Network().Peers(), kb.ConvertKey(bundleKey(s.self)))
	ps = ps[:min(len(ps), s.cfg.Replicas)]
	var b strings.Builder
	for _, p := range ps {
		b.WriteString(string(p))
	}
	return b.String()
}

// BundlePublications counts this node's prekey bundle publications
// (tests).
func (s *Service) BundlePublications() int64 { return s.bundlePubs.Load() }

// PeerOnline tells the service that p came online: queued messages are
// retried at once, and mailboxes asked if p may be one of this node's.
func (s *Service) PeerOnline(p peer.ID) { s.arrived(p) }

// arrived notes a peer that connected and wakes the loop.
func (s *Service) arrived(p peer.ID) {
	s.arrMu.Lock()
	if len(s.newPeers) < 4096 {
		s.newPeers[p] = true
	}
	s.arrMu.Unlock()
	s.poke()
}

// worthCollecting reports whether a peer that arrived since the last
// collection may hold this node's messages: it is among the 2r closest
// connected peers of a place this node collects from, or this node had
// too few peers then to have asked every mailbox. A node connected to
// many peers does not ask every mailbox again each time any of them
// connects.
func (s *Service) worthCollecting() bool {
	s.arrMu.Lock()
	arrived := s.newPeers
	s.newPeers = map[peer.ID]bool{}
	locs, had := s.lastLocs, s.lastPeers
	s.arrMu.Unlock()
	if len(arrived) == 0 {
		return false
	}
	want := 2 * s.cfg.Replicas
	if had < 2*want || len(locs) == 0 || len(locs) > 1024 {
		return true
	}
	peers := s.h.Network().Peers()
	for p := range arrived {
		pk := kb.ConvertPeerID(p)
		for _, loc := range locs {
			lk := kb.ConvertKey(string(loc[:]))
			d := xorKey(pk, lk)
			closer := 0
			for _, o := range peers {
				if o != p && bytes.Compare(xorKey(kb.ConvertPeerID(o), lk), d) < 0 {
					if closer++; closer >= want {
						break
					}
				}
			}
			if closer < want {
				return true
			}
		}
	}
	return false
}

func xorKey(a, b []byte) []byte {
	out := make([]byte, len(a))
	for i := range a {
		out[i] = a[i] ^ b[i]
	}
	return out
}

func (s *Service) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Subscribe calls fn for every message that arrives or changes state
// until the returned func is called.
func (s *Service) Subscribe(fn func(Message)) (cancel func()) {
	s.subsMu.Lock()
	id := s.nextSub
	s.nextSub++
	s.subs[id] = fn
	s.subsMu.Unlock()
	return func() { s.subsMu.Lock(); delete(s.subs, id); s.subsMu.Unlock() }
}

func (s *Service) notify(m Message) {
	s.subsMu.Lock()
	fns := make([]func(Message), 0, len(s.subs))
	for _, f := range s.subs {
		fns = append(fns, f)
	}
	s.subsMu.Unlock()
	for _, f := range fns {
		f(m)
	}
}

// ---- keys ----

// loadOrMakeKey returns X25519 key id (0: identity), making it if absent.
func (s *Service) loadOrMakeKey(ctx context.Context, id uint32) (ratchet.KeyPair, error) {
	var priv []byte
	err := s.db.QueryRowContext(ctx, `SELECT priv FROM msg_keys WHERE id = ?`, id).Scan(&priv)
	if err == nil && len(priv) == ratchet.KeySize {
		return ratchet.KeyPairFromPrivate([ratchet.KeySize]byte(priv))
	}
	if err != nil && !noRows(err) {
		return ratchet.KeyPair{}, fmt.Errorf("msg: keys: %w", err)
	}
	kp, err := ratchet.NewKeyPair(nil)
	if err != nil {
		return kp, err
	}
	if _, err := s.db.ExecContext(ctx, `INSERT OR IGNORE INTO msg_keys(id, priv, created) VALUES (?, ?, ?)`, id, kp.Private[:], s.now().Unix()); err != nil {
		return kp, fmt.Errorf("msg: keys: %w", err)
	}
	return s.loadOrMakeKey(ctx, id) // whoever inserted first wins
}

// preKeyLife is how long a prekey is the current one; the previous one
// is kept as long again, so messages sent to it while its owner was
// offline still open, then deleted (forward secrecy of first messages).
const preKeyLife = 7 * 24 * time.Hour

// currentPreKey returns the newest prekey, rotating it when old.
func (s *Service) currentPreKey(ctx context.Context) (uint32, ratchet.KeyPair, error) {
	var id uint32
	var created int64
	err := s.db.QueryRowContext(ctx, `SELECT id, created FROM msg_keys WHERE id > 0 ORDER BY id DESC LIMIT 1`).Scan(&id, &created)
	if err != nil && !noRows(err) {
		return 0, ratchet.KeyPair{}, fmt.Errorf("msg: prekey: %w", err)
	}
	if noRows(err) || s.now().Sub(time.Unix(created, 0)) > preKeyLife {
		id++
		if _, err := s.db.ExecContext(ctx, `DELETE FROM msg_keys WHERE id > 0 AND id < ?`, int64(id)-1); err != nil {
			return 0, ratchet.KeyPair{}, fmt.Errorf("msg: prekey: %w", err)
		}
	}
	kp, err := s.loadOrMakeKey(ctx, id)
	return id, kp, err
}

// preKeys returns every prekey kept (the current and the previous).
func (s *Service) preKeys(ctx context.Context) (map[uint32]ratchet.KeyPair, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, priv FROM msg_keys WHERE id > 0`)
	if err != nil {
		return nil, fmt.Errorf("msg: prekeys: %w", err)
	}
	defer rows.Close()
	out := map[uint32]ratchet.KeyPair{}
	for rows.Next() {
		var id uint32
		var priv []byte
		if err := rows.Scan(&id, &priv); err != nil || len(priv) != ratchet.KeySize {
			continue
		}
		kp, err := ratchet.KeyPairFromPrivate([ratchet.KeySize]byte(priv))
		if err == nil {
			out[id] = kp
		}
	}
	return out, rows.Err()
}

// bundle returns this node's current prekey bundle.
func (s *Service) bundle(ctx context.Context) (ratchet.Bundle, error) {
	id, kp, err := s.currentPreKey(ctx)
	if err != nil {
		return ratchet.Bundle{}, err
	}
	return ratchet.NewBundle(s.ident, id, kp), nil
}

// peerOf returns the peer ID of an Ed25519 public key.
func peerOf(pub [ed25519.PublicKeySize]byte) (peer.ID, error) {
	pk, err := lcrypto.UnmarshalEd25519PublicKey(pub[:])
	if err != nil {
		return "", err
	}
	return peer.IDFromPublicKey(pk)
}

// ---- tags ----

// day numbers a UTC day; tags rotate with it.
func day(t time.Time) int64 { return t.Unix() / 86400 }

// sessionTag is the mailbox tag of messages to recipient in a session on
// a day: an HMAC under the session's secret, so only the two parties can
// compute it, and a new one every day.
func sessionTag(secret []byte, recipient peer.ID, d int64) [tagSize]byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("peerpath mailbox tag"))
	m.Write([]byte(recipient))
	binary.Write(m, binary.BigEndian, d)
	return [tagSize]byte(m.Sum(nil))
}

// introTag is where a session's first messages are found, before the
// recipient knows the session: an HMAC keyed by the prekey they use, one
// a day. Whoever holds the recipient's bundle can compute it (see
// docs/messages.md). Mailboxes are chosen by this tag; the envelopes are
// stored under one of introBuckets bucket tags beside it (see introBucket),
// so that the mailboxes' per-tag bound limits each bucket, not every first
// message a recipient gets in a day.
func introTag(preKey [ratchet.KeySize]byte, d int64) [tagSize]byte {
	m := hmac.New(sha256.New, preKey[:])
	m.Write([]byte("peerpath mailbox intro"))
	binary.Write(m, binary.BigEndian, d)
	return [tagSize]byte(m.Sum(nil))
}

// introBuckets is how many bucket tags a day's intro tag spreads over.
const introBuckets = 16

// introBucketTag is bucket b's tag of a prekey's intro tag on day d.
func introBucketTag(preKey [ratchet.KeySize]byte, d int64, b int) [tagSize]byte {
	m := hmac.New(sha256.New, preKey[:])
	m.Write([]byte("peerpath mailbox intro bucket"))
	binary.Write(m, binary.BigEndian, d)
	m.Write([]byte{byte(b)})
	return [tagSize]byte(m.Sum(nil))
}

// introBucket picks an envelope's bucket from its bytes: spread evenly,
// and the same for every retry of the same envelope.
func introBucket(env []byte) int {
	sum := sha256.Sum256(env)
	return int(sum[0]) % introBuckets
}

func sidOf(secret [ratchet.KeySize]byte) [sidSize]byte {
	m := hmac.New(sha256.New, secret[:])
	m.Write([]byte("peerpath session id"))
	return [sidSize]byte(m.Sum(nil))
}

func newID() string {
	b := make([]byte, idSize)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// ---- sending ----

// Sent is what [Service.Send] returns.
type Sent struct {
	ID    string
	State string
}

// Send sends text to a contact's name, a peer ID, or group:NAME. It
// returns once the message was delivered, stored on mailboxes, or (when
// neither worked yet) queued for retries.
func (s *Service) Send(ctx context.Context, to, text string) (Sent, error) {
	if text == "" || len(text) > MaxText {
		return Sent{}, fmt.Errorf("%w: text must be 1 to %d bytes", ErrBadRequest, MaxText)
	}
	if name, ok := strings.CutPrefix(to, "group:"); ok {
		return s.groups.send(ctx, name, text)
	}
	p, err := s.cfg.Peers.Resolve(ctx, to)
	if err != nil {
		return Sent{}, fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	if p == s.self {
		return Sent{}, fmt.Errorf("%w: that is this node", ErrBadRequest)
	}
	if s.cfg.Blocked(p) {
		return Sent{}, ErrBlocked
	}
	id := newID()
	now := s.now()
	pl := payload{Kind: kindText, ID: id, Time: now.UnixMilli(), Text: text}
	seq, err := s.seal(ctx, p, pl, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO msg_messages(peer, id, out, sender, text, time, state, folder) VALUES (?, ?, 1, ?, ?, ?, ?, ?)`,
			p.String(), id, s.self.String(), text, now.UnixMilli(), StateSent, FolderInbox)
		return err
	})
	if err != nil {
		return Sent{}, err
	}
	s.notify(Message{ID: id, From: s.self, To: p.String(), Text: text, Time: now, State: StateSent, Folder: FolderInbox, Out: true})
	st := s.deliver(ctx, seq)
	return Sent{ID: id, State: st}, nil
}

// seal encrypts pl for p in p's current session (starting one if there
// is none) and queues the envelope; the new ratchet state, the envelope
// and whatever extra writes go in one transaction.
func (s *Service) seal(ctx context.Context, p peer.ID, pl payload, extra func(*sql.Tx) error) (int64, error) {
	if err := s.ensureSession(ctx, p); err != nil {
		return 0, err
	}
	pt, err := json.Marshal(pl)
	if err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var seq int64
	err = inTx(ctx, s.db, func(tx *sql.Tx) error {
		sid, env, err := s.encryptTx(ctx, tx, p, pt)
		if err != nil {
			return err
		}
		if extra != nil {
			if err := extra(tx); err != nil {
				return err
			}
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO msg_outbox(peer, sid, msgid, envelope, created) VALUES (?, ?, ?, ?, ?)`,
			p.String(), sid, textID(pl), env, s.now().Unix())
		if err != nil {
			return err
		}
		seq, err = res.LastInsertId()
		return err
	})
	return seq, err
}

// encryptTx encrypts pt with p's newest session in tx, writes the
// advanced state and returns the session id and the encoded envelope.
// The caller holds s.mu.
func (s *Service) encryptTx(ctx context.Context, tx *sql.Tx, p peer.ID, pt []byte) (sid, env []byte, err error) {
	var raw, init []byte
	if err := tx.QueryRowContext(ctx, `SELECT sid, state, init FROM msg_sessions WHERE peer = ? ORDER BY used DESC LIMIT 1`, p.String()).Scan(&sid, &raw, &init); err != nil {
		return nil, nil, fmt.Errorf("msg: session: %w", err)
	}
	st, err := ratchet.UnmarshalState(raw)
	if err != nil {
		return nil, nil, err
	}
	st2, h, ct, err := st.Encrypt(pt)
	if err != nil {
		return nil, nil, err
	}
	e := envelope{Header: h, CT: ct}
	if len(init) > 0 {
		e.Init = init
	} else {
		e.SID = [sidSize]byte(sid)
	}
	raw2, _ := st2.MarshalBinary()
	if _, err := tx.ExecContext(ctx, `UPDATE msg_sessions SET state = ?, used = ? WHERE sid = ?`, raw2, s.now().UnixNano(), sid); err != nil {
		return nil, nil, err
	}
	return sid, e.encode(), nil
}

func textID(pl payload) string {
	if pl.Kind == kindText {
		return pl.ID
	}
	return ""
}

// ensureSession starts a session with p from its prekey bundle (asked of
// p itself, else of the mailboxes that keep bundles) unless one exists.
func (s *Service) ensureSession(ctx context.Context, p peer.ID) error {
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM msg_sessions WHERE peer = ?`, p.String()).Scan(&n); err != nil {
		return fmt.Errorf("msg: session: %w", err)
	}
	if n > 0 {
		return nil
	}
	b, err := s.fetchBundle(ctx, p)
	if err != nil {
		return err
	}
	sess, in, err := ratchet.Start(s.ident, b, nil)
	if err != nil {
		return err
	}
	raw, _ := sess.State.MarshalBinary()
	sid := sidOf(sess.Secret)
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	_, err = s.db.ExecContext(ctx, `INSERT OR IGNORE INTO msg_sessions(sid, peer, state, secret, init, intro, created, used) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		sid[:], p.String(), raw, sess.Secret[:], in.Encode(), b.PreKey[:], now.Unix(), now.UnixNano())
	if err != nil {
		return fmt.Errorf("msg: session: %w", err)
	}
	return nil
}

// deliver tries to hand outbox entry seq to its recipient directly, then
// to mailboxes. It returns the message's state after the attempt.
func (s *Service) deliver(ctx context.Context, seq int64) string {
	var peerStr, msgid string
	var sid, env []byte
	err := s.db.QueryRowContext(ctx, `SELECT peer, sid, msgid, envelope FROM msg_outbox WHERE seq = ?`, seq).Scan(&peerStr, &sid, &msgid, &env)
	if err != nil {
		return StateSent
	}
	p, err := peer.Decode(peerStr)
	if err != nil {
		return StateSent
	}
	state := StateSent
	if err := s.sendDirect(ctx, p, env); err == nil {
		state = StateDelivered
	} else {
		s.log.Debug("direct delivery failed", "peer", p, "err", err)
		loc, tag, err := s.outTag(ctx, sid, p, env)
		if err == nil && s.deposit(ctx, p, loc, tag, env) > 0 {
			state = StateStored
		}
	}
	if state == StateSent {
		return state
	}
	inTx(ctx, s.db, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM msg_outbox WHERE seq = ?`, seq); err != nil {
			return err
		}
		if msgid != "" {
			return s.setState(ctx, tx, peerStr, []string{msgid}, state)
		}
		return nil
	})
	if msgid != "" {
		s.notify(Message{ID: msgid, To: peerStr, State: state, Out: true})
	}
	return state
}

// stateRank orders the states of a sent message; a state never goes back.
var stateRank = map[string]int{StateSent: 0, StateStored: 1, StateDelivered: 2, StateRead: 3}

func (s *Service) setState(ctx context.Context, tx *sql.Tx, peerStr string, ids []string, state string) error {
	lower := []string{}
	for st, r := range stateRank {
		if r < stateRank[state] {
			lower = append(lower, "'"+st+"'")
		}
	}
	for _, id := range ids {
		if _, err := tx.ExecContext(ctx, `UPDATE msg_messages SET state = ? WHERE peer = ? AND id = ? AND out = 1 AND state IN (`+strings.Join(lower, ",")+`)`,
			state, peerStr, id); err != nil {
			return err
		}
	}
	return nil
}

// outTag picks where an envelope is stored: while the session's init
// rides along, one of the intro bucket tags, found at the intro tag's
// mailboxes; else today's session tag, at its own.
func (s *Service) outTag(ctx context.Context, sid []byte, p peer.ID, env []byte) (loc, tag [tagSize]byte, err error) {
	var secret, intro []byte
	if err := s.db.QueryRowContext(ctx, `SELECT secret, intro FROM msg_sessions WHERE sid = ?`, sid).Scan(&secret, &intro); err != nil {
		return loc, tag, err
	}
	d := day(s.now())
	if len(env) > 1 && env[1]&envHasInit != 0 && len(intro) == ratchet.KeySize {
		pk := [ratchet.KeySize]byte(intro)
		return introTag(pk, d), introBucketTag(pk, d, introBucket(env)), nil
	}
	t := sessionTag(secret, p, d)
	return t, t, nil
}

// sendDirect hands an envelope to p over ProtocolID and waits for its
// answer.
func (s *Service) sendDirect(ctx context.Context, p peer.ID, env []byte) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.DirectTimeout)
	defer cancel()
	st, err := s.h.NewStream(network.WithAllowLimitedConn(ctx, "msg"), p, ProtocolID)
	if err != nil {
		return err
	}
	defer st.Close()
	dl, _ := ctx.Deadline()
	st.SetDeadline(dl)
	if err := p2p.WriteMsg(st, env); err != nil {
		st.Reset()
		return err
	}
	ans, err := p2p.ReadMsg(st, 16)
	if err != nil {
		st.Reset()
		return err
	}
	if len(ans) != 1 || ans[0] != stOK {
		return fmt.Errorf("msg: %s refused the message (%v)", p, ans)
	}
	return nil
}

// flush retries every queued envelope.
func (s *Service) flush(ctx context.Context) {
	rows, err := s.db.QueryContext(ctx, `SELECT seq FROM msg_outbox ORDER BY seq LIMIT 200`)
	if err != nil {
		return
	}
	var seqs []int64
	for rows.Next() {
		var q int64
		if rows.Scan(&q) == nil {
			seqs = append(seqs, q)
		}
	}
	rows.Close()
	for _, q := range seqs {
		if ctx.Err() != nil {
			return
		}
		s.deliver(ctx, q)
	}
}

// ---- receiving ----

// errUnknownSession: an envelope names a session this node does not have.
var errUnknownSession = errors.New("msg: unknown session")

// handleDirect serves ProtocolID: one envelope a stream, answered with
// one status byte once the message is stored.
func (s *Service) handleDirect(st network.Stream) {
	defer st.Close()
	st.SetDeadline(time.Now().Add(30 * time.Second))
	st.SetReadDeadline(time.Now().Add(p2p.FirstRequestTimeout))
	remote := st.Conn().RemotePeer()
	b, err := p2p.ReadMsg(st, maxEnvelope)
	if err != nil {
		st.Reset()
		return
	}
	status := byte(stOK)
	switch {
	case s.cfg.Blocked(remote):
		status = stRefused
	case !s.limiter.Allow(remote):
		status = stFull
	default:
		env, err := decodeEnvelope(b)
		if err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			err = s.receive(ctx, env, remote, false)
			cancel()
		}
		switch {
		case errors.Is(err, errDuplicate):
			// stored already: say so again
		case errors.Is(err, errRateLimited):
			status = stFull
		case errors.Is(err, ErrBlocked):
			status = stRefused
		case err != nil:
			s.log.Debug("message refused", "peer", remote, "err", err)
			status = stBad
		}
	}
	p2p.WriteMsg(st, []byte{status})
}

// receive decrypts an envelope and stores what it carries, with the new
// ratchet state, in one transaction. from is the stream's authenticated
// peer for a direct delivery, or "" for one from a mailbox (the session,
// and through it the sender, is then found from the envelope).
func (s *Service) receive(ctx context.Context, env envelope, from peer.ID, viaMailbox bool) error {
	hash := sha256.Sum256(env.encode())
	var pks map[uint32]ratchet.KeyPair
	var initHash [32]byte
	var answered *[sidSize]byte // the session of an init opened here
	if env.Init != nil {
		initHash = sha256.Sum256(env.Init)
		s.initMu.Lock()
		sid, ok := s.initSIDs[initHash]
		s.initMu.Unlock()
		if ok {
			// A session this node already answered (a backlog of first
			// messages all carry its init): no X3DH again.
			env.Init, env.SID = nil, sid
		} else {
			var err error
			if pks, err = s.preKeys(ctx); err != nil {
				return err
			}
		}
	}
	s.mu.Lock()
	var (
		sender    peer.ID
		pl        payload
		notify    []Message
		joined    *Group // a group whose key arrived
		myKey     []byte // this node's new key for it, to send to its members
		parkedGID string // a group whose member key arrived early
	)
	dup := false
	var refused error // the envelope opened (its key is spent) but what it says is refused
	err := inTx(ctx, s.db, func(tx *sql.Tx) error {
		var (
			sid   [sidSize]byte
			st    *ratchet.State
			fresh *ratchet.Session
		)
		// An envelope already opened: acknowledged again (the sender did
		// not hear the first answer, or a mailbox kept a copy), never
		// opened twice.
		var seenBy, seenID string
		switch err := tx.QueryRowContext(ctx, `SELECT sender, msgid FROM msg_seen WHERE hash = ?`, hash[:]).Scan(&seenBy, &seenID); {
		case err == nil:
			if from != "" && from.String() != seenBy {
				return fmt.Errorf("msg: %s replayed %s's envelope", from, seenBy)
			}
			dup = true
			if viaMailbox && seenID != "" {
				_, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO msg_rcpt_due(peer, id, kind) VALUES (?, ?, ?)`, seenBy, seenID, kindReceipt)
				return err
			}
			return nil
		case !noRows(err):
			return err
		}
		if env.Init != nil {
			in, err := ratchet.DecodeInit(env.Init)
			if err != nil {
				return err
			}
			sess, err := ratchet.Respond(s.ident, func(id uint32) (ratchet.KeyPair, bool) { kp, ok := pks[id]; return kp, ok }, in)
			if err != nil {
				return err
			}
			if sender, err = peerOf(sess.Peer.Sign); err != nil {
				return err
			}
			sid = sidOf(sess.Secret)
			answered = &sid
			var raw []byte
			var owner string
			err = tx.QueryRowContext(ctx, `SELECT state, peer FROM msg_sessions WHERE sid = ?`, sid[:]).Scan(&raw, &owner)
			switch {
			case err == nil && owner == sender.String():
				if st, err = ratchet.UnmarshalState(raw); err != nil {
					return err
				}
			case noRows(err):
				st, fresh = sess.State, sess
			default:
				return fmt.Errorf("msg: session: %v", err)
			}
		} else {
			sid = env.SID
			var raw []byte
			var owner string
			if err := tx.QueryRowContext(ctx, `SELECT state, peer FROM msg_sessions WHERE sid = ?`, sid[:]).Scan(&raw, &owner); err != nil {
				if noRows(err) {
					return errUnknownSession
				}
				return err
			}
			var err error
			if sender, err = peer.Decode(owner); err != nil {
				return err
			}
			if st, err = ratchet.UnmarshalState(raw); err != nil {
				return err
			}
		}
		if from != "" && from != sender {
			return fmt.Errorf("msg: envelope of %s's session came from %s", sender, from)
		}
		if s.cfg.Blocked(sender) {
			return ErrBlocked
		}
		if viaMailbox && !s.mailLim.Allow(sender) {
			return errRateLimited
		}
		st2, pt, err := st.Decrypt(env.Header, env.CT, nil)
		if err != nil {
			return err
		}
		// A non-contact's envelope counts against the stranger's limit,
		// or, when it is group traffic of a group this node is in and the
		// sender a member, the member's limit. Checked before the new
		// state is written (Decrypt changes nothing: a refusal rolls the
		// transaction back), so the key is not spent and what is held
		// back is not lost: the sender retries, or it stays on the
		// mailboxes.
		pl, err = decodePayload(pt)
		if s.folderOf(ctx, tx, sender) == FolderRequests {
			lim, who := s.strangerLim, "a non-contact"
			if err == nil && s.groups.isMember(ctx, tx, groupOf(pl), sender) {
				lim, who = s.memberLim, "a group member"
			}
			if !lim.Allow(sender) {
				return fmt.Errorf("%w (%s)", errRateLimited, who)
			}
		}
		raw2, _ := st2.MarshalBinary()
		now := s.now()
		if fresh != nil {
			if _, err := tx.ExecContext(ctx, `INSERT INTO msg_sessions(sid, peer, state, secret, created, used) VALUES (?, ?, ?, ?, ?, ?)`,
				sid[:], sender.String(), raw2, fresh.Secret[:], now.Unix(), now.UnixNano()); err != nil {
				return err
			}
		} else if _, err := tx.ExecContext(ctx, `UPDATE msg_sessions SET state = ?, used = ?, init = NULL WHERE sid = ?`,
			raw2, now.UnixNano(), sid[:]); err != nil {
			return err
		}
		// The key is spent whatever the payload says: the new state is
		// kept even when the payload is refused (err: decodePayload's).
		// msgid: the text this envelope delivered (a receipt is owed for
		// it if it comes again), '' for anything else.
		gotID := ""
		if err == nil && pl.Kind == kindText && pl.GID == "" {
			gotID = pl.ID
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO msg_seen(hash, sender, msgid, time) VALUES (?, ?, ?, ?)`,
			hash[:], sender.String(), gotID, now.Unix()); err != nil {
			return err
		}
		if err != nil {
			refused = err
			return nil
		}
		switch pl.Kind {
		case kindText:
			t := time.UnixMilli(pl.Time)
			if t.After(now.Add(time.Hour)) || t.Before(now.Add(-30*24*time.Hour)) {
				t = now // a sender's clock is not trusted beyond that
			}
			if pl.GID != "" {
				m, err := s.groups.receiveRelayed(ctx, tx, sender, pl, t)
				if err != nil {
					refused = err // the key is spent: the state is kept
					return nil
				}
				if m != nil {
					notify = append(notify, *m)
				}
				return nil
			}
			folder := s.folderOf(ctx, tx, sender)
			res, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO msg_messages(peer, id, out, sender, text, time, state, folder) VALUES (?, ?, 0, ?, ?, ?, ?, ?)`,
				sender.String(), pl.ID, sender.String(), pl.Text, t.UnixMilli(), StateDelivered, folder)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n > 0 {
				notify = append(notify, Message{ID: pl.ID, From: sender, To: s.self.String(), Text: pl.Text, Time: t, State: StateDelivered, Folder: folder})
			}
			if viaMailbox {
				// Owed a receipt, sent once per sender after the collection.
				if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO msg_rcpt_due(peer, id, kind) VALUES (?, ?, ?)`, sender.String(), pl.ID, kindReceipt); err != nil {
					return err
				}
			}
		case kindReceipt, kindRead:
			state := StateDelivered
			if pl.Kind == kindRead {
				state = StateRead
			}
			if err := s.setState(ctx, tx, sender.String(), pl.Refs, state); err != nil {
				return err
			}
			for _, id := range pl.Refs {
				notify = append(notify, Message{ID: id, To: sender.String(), State: state, Out: true})
			}
		case kindGroup:
			gr, mine, err := s.groups.receiveInvite(ctx, tx, sender, pl)
			if err != nil {
				refused = err
				return nil // the key is spent; the state must be kept
			}
			joined, myKey = gr, mine
			if gr == nil {
				parkedGID = pl.Group.GID
			}
		}
		return nil
	})
	s.mu.Unlock()
	if err != nil {
		return err
	}
	if answered != nil {
		s.initMu.Lock()
		if len(s.initSIDs) >= 4096 {
			clear(s.initSIDs)
		}
		s.initSIDs[initHash] = *answered
		s.initMu.Unlock()
	}
	if dup {
		return errDuplicate
	}
	if refused != nil {
		return refused
	}
	for _, m := range notify {
		s.notify(m)
	}
	if joined != nil {
		gr := *joined
		s.groups.join(gr.ID)
		if myKey != nil {
			s.spawn(func(ctx context.Context) { s.groups.distribute(ctx, gr, myKey) })
		}
		s.groups.retryParked(gr.ID)
	}
	if parkedGID != "" {
		s.groups.retryParked(parkedGID)
	}
	return nil
}

var errRateLimited = errors.New("msg: sender over its rate limit")

// A non-contact we never wrote to may send strangerBurst texts at once,
// then one every 1/strangerRate seconds; the rest are refused (and, from
// a mailbox, dropped).
const (
	strangerRate  = rate.Limit(0.2)
	strangerBurst = 20
)

// A non-contact who is a member of a group this node is in may send that
// group's traffic over the pairwise session (its key at each epoch, the
// group texts relayed to this node while it was away) at memberRate, with
// a burst of memberBurst: a backlog collected from mailboxes arrives at
// once, and a hostile member is still bounded. Anything else it sends is
// a stranger's.
const (
	memberRate  = rate.Limit(2)
	memberBurst = 200
)

// groupOf is the group pl is traffic of ("" for none): a relayed group
// text or a group's membership and key.
func groupOf(pl payload) string {
	switch {
	case pl.Kind == kindText && pl.GID != "":
		return pl.GID
	case pl.Kind == kindGroup && pl.Group != nil:
		return pl.Group.GID
	}
	return ""
}

// errDuplicate: an envelope this node opened before (acknowledged again,
// not opened twice).
var errDuplicate = errors.New("msg: envelope already received")

// folderOf files a message from p: the inbox for a contact or a peer we
// wrote to, else requests.
func (s *Service) folderOf(ctx context.Context, tx *sql.Tx, p peer.ID) string {
	if s.cfg.Peers.IsContact(p) {
		return FolderInbox
	}
	var n int
	tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM msg_messages WHERE peer = ? AND out = 1`, p.String()).Scan(&n)
	if n > 0 {
		return FolderInbox
	}
	return FolderRequests
}

// sendReceipts seals the receipts owed (msg_rcpt_due: delivered through
// mailboxes, or read), one per sender and kind, deleting what each
// carries in the same transaction, and delivers them in the background.
// What a crash interrupts stays owed and goes with the next call.
func (s *Service) sendReceipts(ctx context.Context) {
	rows, err := s.db.QueryContext(ctx, `SELECT peer, id, kind FROM msg_rcpt_due ORDER BY peer, kind LIMIT 20000`)
	if err != nil {
		return
	}
	type key struct{ peer, kind string }
	due := map[key][]string{}
	var order []key
	for rows.Next() {
		var k key
		var id string
		if rows.Scan(&k.peer, &id, &k.kind) == nil {
			if due[k] == nil {
				order = append(order, k)
			}
			due[k] = append(due[k], id)
		}
	}
	rows.Close()
	for _, k := range order {
		p, err := peer.Decode(k.peer)
		ids := due[k]
		if err != nil || (k.kind != kindReceipt && k.kind != kindRead) {
			s.db.ExecContext(ctx, `DELETE FROM msg_rcpt_due WHERE peer = ? AND kind = ?`, k.peer, k.kind)
			continue
		}
		s.spawn(func(ctx context.Context) {
			ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			for len(ids) > 0 {
				chunk := ids[:min(len(ids), maxRefs)]
				ids = ids[len(chunk):]
				seq, err := s.seal(ctx, p, payload{Kind: k.kind, Refs: chunk}, func(tx *sql.Tx) error {
					for _, id := range chunk {
						if _, err := tx.ExecContext(ctx, `DELETE FROM msg_rcpt_due WHERE peer = ? AND id = ? AND kind = ?`, k.peer, id, k.kind); err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					s.log.Debug("receipt not sealed", "peer", p, "err", err)
					return
				}
				s.deliver(ctx, seq)
			}
		})
	}
}

// ---- reading ----

// ListOptions filters [Service.List].
type ListOptions struct {
	// With is a contact's name, a peer ID or group:NAME; empty lists all.
	With string
	// Folder is inbox or requests; empty lists both.
	Folder string
	// Limit bounds the answer (0: 1000), newest kept.
	Limit int
}

// List returns messages, oldest first.
func (s *Service) List(ctx context.Context, opt ListOptions) ([]Message, error) {
	if err := s.acceptRequests(ctx); err != nil {
		return nil, err
	}
	where := ``
	var args []any
	if opt.With != "" {
		key, err := s.conversation(ctx, opt.With)
		if err != nil {
			return nil, err
		}
		where += ` AND peer = ?`
		args = append(args, key)
	}
	if opt.Folder != "" {
		if opt.Folder != FolderInbox && opt.Folder != FolderRequests {
			return nil, fmt.Errorf("%w: folder is inbox or requests", ErrBadRequest)
		}
		where += ` AND folder = ?`
		args = append(args, opt.Folder)
	}
	if opt.Limit <= 0 || opt.Limit > 1000 {
		opt.Limit = 1000
	}
	q := `SELECT peer, id, out, sender, text, time, state, folder FROM (
		SELECT rowid AS r, * FROM msg_messages WHERE 1=1` + where + ` ORDER BY time DESC, r DESC LIMIT ?)
		ORDER BY time, r`
	args = append(args, opt.Limit)
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("msg: list: %w", err)
	}
	defer rows.Close()
	var out []Message
	for rows.Next() {
		var m Message
		var peerStr, sender string
		var ms int64
		var o int
		if err := rows.Scan(&peerStr, &m.ID, &o, &sender, &m.Text, &ms, &m.State, &m.Folder); err != nil {
			return nil, fmt.Errorf("msg: list: %w", err)
		}
		m.Out = o == 1
		m.Time = time.UnixMilli(ms)
		m.From, _ = peer.Decode(sender)
		if m.Out {
			m.To = peerStr
		} else if strings.HasPrefix(peerStr, "group:") {
			m.To = peerStr
		} else {
			m.To = s.self.String()
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// acceptRequests moves to the inbox the requests of peers that became
// contacts, or that this node wrote to, since they arrived.
func (s *Service) acceptRequests(ctx context.Context) error {
	rows, err := s.db.QueryContext(ctx, `SELECT DISTINCT peer FROM msg_messages WHERE folder = ? LIMIT 1000`, FolderRequests)
	if err != nil {
		return fmt.Errorf("msg: list: %w", err)
	}
	var keys, move []string
	for rows.Next() {
		var k string
		if rows.Scan(&k) == nil {
			keys = append(keys, k)
		}
	}
	rows.Close()
	for _, k := range keys {
		p, err := peer.Decode(k)
		if err != nil {
			continue
		}
		var n int
		if s.cfg.Peers.IsContact(p) ||
			s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM msg_messages WHERE peer = ? AND out = 1`, k).Scan(&n) == nil && n > 0 {
			move = append(move, k)
		}
	}
	for _, k := range move {
		if _, err := s.db.ExecContext(ctx, `UPDATE msg_messages SET folder = ? WHERE peer = ? AND folder = ?`, FolderInbox, k, FolderRequests); err != nil {
			return fmt.Errorf("msg: list: %w", err)
		}
	}
	return nil
}

// conversation turns a name, peer ID or group:NAME into the key its
// messages are stored under.
func (s *Service) conversation(ctx context.Context, with string) (string, error) {
	if name, ok := strings.CutPrefix(with, "group:"); ok {
		g, err := s.groups.byName(ctx, name)
		if err != nil {
			return "", err
		}
		return "group:" + g.Name, nil
	}
	p, err := s.cfg.Peers.Resolve(ctx, with)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	return p.String(), nil
}

// MarkRead marks a conversation's received messages read and tells their
// senders. It returns how many messages changed.
func (s *Service) MarkRead(ctx context.Context, with string) (int, error) {
	key, err := s.conversation(ctx, with)
	if err != nil {
		return 0, err
	}
	n := 0
	// The read receipts owed are written with the change of state, so a
	// crash cannot lose them (sendReceipts sends them).
	err = inTx(ctx, s.db, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT id, sender FROM msg_messages WHERE peer = ? AND out = 0 AND state != ?`, key, StateRead)
		if err != nil {
			return err
		}
		type due struct{ id, sender string }
		var all []due
		for rows.Next() {
			var d due
			if rows.Scan(&d.id, &d.sender) == nil {
				all = append(all, d)
			}
		}
		rows.Close()
		n = len(all)
		if _, err := tx.ExecContext(ctx, `UPDATE msg_messages SET state = ? WHERE peer = ? AND out = 0`, StateRead, key); err != nil {
			return err
		}
		if strings.HasPrefix(key, "group:") {
			return nil
		}
		for _, d := range all {
			if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO msg_rcpt_due(peer, id, kind) VALUES (?, ?, ?)`, d.sender, d.id, kindRead); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("msg: read: %w", err)
	}
	s.sendReceipts(ctx)
	return n, nil
}

// Unread counts unread received messages per conversation.
func (s *Service) Unread(ctx context.Context) (map[string]int, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT peer, COUNT(*) FROM msg_messages WHERE out = 0 AND state != ? GROUP BY peer`, StateRead)
	if err != nil {
		return nil, fmt.Errorf("msg: unread: %w", err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var k string
		var n int
		if rows.Scan(&k, &n) == nil {
			out[k] = n
		}
	}
	return out, rows.Err()
}
