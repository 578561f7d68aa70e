// Package contacts gives peers names: this node's own display name and
// device type, which it tells every peer it connects to; a local address
// book of contacts, each under a petname only this node chooses; the
// presence of contacts (online, last seen); the LAN neighbours found by
// mDNS; and the one resolver that turns a "NAME or PEERID" argument into a
// peer ID for every command and API route.
//
// A contact's name is a petname: it lives only in this node's database and
// no other peer can set or change it, so a stranger who announces the same
// name ("Ana's laptop") never takes a contact's place. What a peer says its
// name is (its [Profile]) is only a suggestion, shown beside its id and
// marked unverified; the resolver never resolves it.
//
// Profiles travel over /peerpath/profile/1.0.0 as soon as a connection is
// identified (a LAN neighbour found by mDNS is connected at once, so its
// name shows within a second or so): the side that opens the stream sends
// its own profile and reads the other's, so one stream tells both. A node
// whose name or visibility changes opens the exchange again with every
// connected peer.
package contacts

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/peerpath/peerpath/internal/p2p"
	"github.com/peerpath/peerpath/internal/peerlimit"
	"github.com/peerpath/peerpath/internal/store"
)

// ProtocolID is the profile exchange protocol.
const ProtocolID protocol.ID = "/peerpath/profile/1.0.0"

// Limits.
const (
	// MaxContacts bounds the address book.
	MaxContacts = 10000
	// maxKnown bounds the profiles of other peers held in memory; a
	// profile is dropped when its peer disconnects.
	maxKnown = 4096
	// exchangeQueue bounds the exchanges waiting for a worker; past it a
	// new connection's exchange is dropped (the periodic refresh retries).
	exchangeQueue   = 1024
	exchangeWorkers = 4
	// exchangeTimeout bounds one exchange.
	exchangeTimeout = 10 * time.Second
)

// Timings; variables so tests can shorten them.
var (
	// reachEvery is how often contacts that are not connected are dialled,
	// so that presence and queued sends notice them coming online.
	reachEvery = 30 * time.Second
	// reachTimeout bounds one dial of a contact.
	reachTimeout = 10 * time.Second
)

// Errors.
var (
	// ErrUnknownName is returned by [Service.Resolve] for a string that is
	// neither a contact's name nor a peer ID.
	ErrUnknownName = errors.New("contacts: no contact of that name, and not a peer ID")
	// ErrNameTaken is returned when a petname is already another
	// contact's.
	ErrNameTaken = errors.New("contacts: name already used by another contact")
	// ErrNoContact is returned when removing a contact that does not exist.
	ErrNoContact = errors.New("contacts: no such contact")
	// ErrSelf is returned when adding this node itself as a contact.
	ErrSelf = errors.New("contacts: that is this node itself")
	// ErrTooMany is returned past MaxContacts.
	ErrTooMany = errors.New("contacts: too many contacts")
)

// PeerFinder finds a peer's addresses (the DHT's FindPeer).
type PeerFinder interface {
	FindPeer(ctx context.Context, id peer.ID) (peer.AddrInfo, error)
}

// Config configures a Service.
type Config struct {
	// Host is the node's libp2p host. Required.
	Host host.Host
	// DB is the node's database. Required.
	DB *store.DB
	// Logger receives the service's logs. Nil discards them.
	Logger *slog.Logger
	// Finder finds contacts that are not connected. Nil: only addresses
	// already in the peerstore are dialled.
	Finder PeerFinder
	// LAN reports whether a connected peer was found on the LAN (mDNS).
	// Nil: no neighbours.
	LAN func(peer.ID) bool
	// Invisible forces this node invisible whatever its saved setting
	// (the daemon's --invisible).
	Invisible bool
}

// Contact is one entry of the address book.
type Contact struct {
	ID   peer.ID
	Name string // the petname
	// Online reports a connected contact that shows itself online.
	Online bool
	// LastSeen is when the contact was last seen online (zero: never).
	LastSeen time.Time
	// Suggested is the name the contact announces for itself, if known.
	Suggested string
	Device    string
}

// Neighbour is a connected peer found on the LAN.
type Neighbour struct {
	ID peer.ID
	// Name and Device are what the peer announces (unverified).
	Name, Device string
	// Contact is the petname, when the peer is a contact.
	Contact string
}

// Label is how a peer is shown: a contact's name, else its self-chosen
// name marked unverified, else its short id.
type Label struct {
	ID peer.ID
	// Text is the label to show.
	Text string
	// Kind is "contact", "unverified" or "id".
	Kind string
	// Name is the contact's name or the self-chosen name ("" for "id").
	Name string
}

// known is what we heard from one connected peer.
type known struct {
	p  Profile
	at time.Time
}

// Service is the contacts service. Create it with [New] and run it with
// [Service.Serve]; its methods are safe for concurrent use.
type Service struct {
	cfg  Config
	log  *slog.Logger
	h    host.Host
	db   *store.DB
	lim  *peerlimit.Limiter
	work chan peer.ID

	mu    sync.Mutex
	self  Profile // as saved (Invisible: the saved setting)
	peers map[peer.ID]known
	// byID caches the address book: every resolve and label reads it.
	byID   map[peer.ID]string
	byName map[string]peer.ID // lower-case name → id
	onUp   []func(peer.ID)
}

var migrations = []store.Migration{{Version: 1, SQL: `
CREATE TABLE contacts_self (
	k TEXT PRIMARY KEY,
	v TEXT NOT NULL
);
CREATE TABLE contacts (
	id        TEXT PRIMARY KEY,
	name      TEXT NOT NULL,
	name_key  TEXT NOT NULL UNIQUE,
	added     INTEGER NOT NULL,
	last_seen INTEGER NOT NULL DEFAULT 0
);`}}

// New opens the service's tables and loads the address book.
func New(ctx context.Context, cfg Config) (*Service, error) {
	if cfg.Host == nil || cfg.DB == nil {
		return nil, errors.New("contacts: Host and DB are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if err := cfg.DB.Migrate(ctx, "contacts", migrations); err != nil {
		return nil, err
	}
	s := &Service{
		cfg: cfg, log: cfg.Logger, h: cfg.Host, db: cfg.DB,
		lim:    peerlimit.New(2, 10),
		work:   make(chan peer.ID, exchangeQueue),
		peers:  make(map[peer.ID]known),
		byID:   make(map[peer.ID]string),
		byName: make(map[string]peer.ID),
	}
	if err := s.load(ctx); err != nil {
		return nil, err
	}
	s.h.SetStreamHandler(ProtocolID, s.handle)
	return s, nil
}

func (s *Service) load(ctx context.Context) error {
	rows, err := s.db.QueryContext(ctx, `SELECT k, v FROM contacts_self`)
	if err != nil {
		return fmt.Errorf("contacts: load: %w", err)
	}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			rows.Close()
			return fmt.Errorf("contacts: load: %w", err)
		}
		switch k {
		case "name":
			s.self.Name = v
		case "device":
			s.self.Device = v
		case "invisible":
			s.self.Invisible = v == "1"
		}
	}
	rows.Close()
	rows, err = s.db.QueryContext(ctx, `SELECT id, name FROM contacts`)
	if err != nil {
		return fmt.Errorf("contacts: load: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var ids, name string
		if err := rows.Scan(&ids, &name); err != nil {
			return fmt.Errorf("contacts: load: %w", err)
		}
		id, err := peer.Decode(ids)
		if err != nil {
			continue
		}
		s.byID[id] = name
		s.byName[strings.ToLower(name)] = id
	}
	return rows.Err()
}

// Self returns this node's profile as it announces it.
func (s *Service) Self() Profile {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.announced()
}

func (s *Service) announced() Profile {
	p := s.self
	p.Invisible = p.Invisible || s.cfg.Invisible
	return p
}

// SetProfile sets this node's display name and device type ("" clears
// the device type; a name is required) and tells every connected peer.
func (s *Service) SetProfile(ctx context.Context, name, device string) (Profile, error) {
	name, err := CheckName(name)
	if err != nil {
		return Profile{}, err
	}
	device, err = CheckDevice(device)
	if err != nil {
		return Profile{}, err
	}
	if err := s.saveSelf(ctx, map[string]string{"name": name, "device": device}); err != nil {
		return Profile{}, err
	}
	s.mu.Lock()
	s.self.Name, s.self.Device = name, device
	p := s.announced()
	s.mu.Unlock()
	s.tellAll()
	return p, nil
}

// SetInvisible saves whether this node shows itself online to its
// contacts, and tells every connected peer. The daemon's --invisible
// overrides a visible setting.
func (s *Service) SetInvisible(ctx context.Context, invisible bool) (Profile, error) {
	v := "0"
	if invisible {
		v = "1"
	}
	if err := s.saveSelf(ctx, map[string]string{"invisible": v}); err != nil {
		return Profile{}, err
	}
	s.mu.Lock()
	s.self.Invisible = invisible
	p := s.announced()
	s.mu.Unlock()
	s.tellAll()
	return p, nil
}

func (s *Service) saveSelf(ctx context.Context, kv map[string]string) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("contacts: save: %w", err)
	}
	defer tx.Rollback()
	for k, v := range kv {
		if _, err := tx.ExecContext(ctx, `INSERT INTO contacts_self (k, v) VALUES (?, ?) ON CONFLICT(k) DO UPDATE SET v = excluded.v`, k, v); err != nil {
			return fmt.Errorf("contacts: save: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("contacts: save: %w", err)
	}
	return nil
}

// Add adds id to the address book under name, or renames it.
func (s *Service) Add(ctx context.Context, id peer.ID, name string) (Contact, error) {
	name, err := CheckName(name)
	if err != nil {
		return Contact{}, err
	}
	if id == s.h.ID() {
		return Contact{}, ErrSelf
	}
	if err := id.Validate(); err != nil {
		return Contact{}, fmt.Errorf("contacts: bad peer ID: %w", err)
	}
	key := strings.ToLower(name)
	s.mu.Lock()
	defer s.mu.Unlock()
	if other, ok := s.byName[key]; ok && other != id {
		return Contact{}, fmt.Errorf("%w: %q is %s", ErrNameTaken, s.byID[other], other)
	}
	old, exists := s.byID[id]
	if !exists && len(s.byID) >= MaxContacts {
		return Contact{}, fmt.Errorf("%w (%d)", ErrTooMany, MaxContacts)
	}
	if _, err := s.db.ExecContext(ctx, `INSERT INTO contacts (id, name, name_key, added) VALUES (?, ?, ?, ?)
		ON CONFLICT(id) DO UPDATE SET name = excluded.name, name_key = excluded.name_key`,
		id.String(), name, key, time.Now().UnixMilli()); err != nil {
		return Contact{}, fmt.Errorf("contacts: add: %w", err)
	}
	if exists {
		delete(s.byName, strings.ToLower(old))
	}
	s.byID[id] = name
	s.byName[key] = id
	return s.contactLocked(ctx, id, name), nil
}

// Remove removes the contact named by nameOrID (its petname or peer ID).
func (s *Service) Remove(ctx context.Context, nameOrID string) (Contact, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok := s.byName[strings.ToLower(strings.TrimSpace(nameOrID))]
	if !ok {
		var err error
		if id, err = peer.Decode(strings.TrimSpace(nameOrID)); err != nil {
			return Contact{}, fmt.Errorf("%w: %q", ErrNoContact, nameOrID)
		}
	}
	name, ok := s.byID[id]
	if !ok {
		return Contact{}, fmt.Errorf("%w: %s", ErrNoContact, id)
	}
	if _, err := s.db.ExecContext(ctx, `DELETE FROM contacts WHERE id = ?`, id.String()); err != nil {
		return Contact{}, fmt.Errorf("contacts: remove: %w", err)
	}
	delete(s.byID, id)
	delete(s.byName, strings.ToLower(name))
	return Contact{ID: id, Name: name}, nil
}

// List returns the address book, by name.
func (s *Service) List(ctx context.Context) ([]Contact, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Contact, 0, len(s.byID))
	for id, name := range s.byID {
		out = append(out, s.contactLocked(ctx, id, name))
	}
	slices.SortFunc(out, func(a, b Contact) int { return strings.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name)) })
	return out, nil
}

// contactLocked fills in a contact's presence. Called with mu held.
func (s *Service) contactLocked(ctx context.Context, id peer.ID, name string) Contact {
	c := Contact{ID: id, Name: name}
	k, ok := s.peers[id]
	if ok {
		c.Suggested, c.Device = k.p.Name, k.p.Device
		c.Online = !k.p.Invisible && s.h.Network().Connectedness(id) == network.Connected
	}
	var ms int64
	if err := s.db.QueryRowContext(ctx, `SELECT last_seen FROM contacts WHERE id = ?`, id.String()).Scan(&ms); err == nil && ms > 0 {
		c.LastSeen = time.UnixMilli(ms)
	}
	if c.Online {
		c.LastSeen = time.Now()
	}
	return c
}

// IsContact reports whether id is in the address book.
func (s *Service) IsContact(id peer.ID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.byID[id]
	return ok
}

// Online reports whether id is connected and shows itself online.
func (s *Service) Online(id peer.ID) bool {
	s.mu.Lock()
	k, ok := s.peers[id]
	s.mu.Unlock()
	return ok && !k.p.Invisible && s.h.Network().Connectedness(id) == network.Connected
}

// Resolve turns a command's "NAME or PEERID" argument into a peer ID: a
// contact's petname (case-insensitive) first, else a peer ID. A name a
// peer announces for itself is never resolved.
func (s *Service) Resolve(nameOrID string) (peer.ID, error) {
	t := strings.TrimSpace(nameOrID)
	s.mu.Lock()
	id, ok := s.byName[strings.ToLower(t)]
	s.mu.Unlock()
	if ok {
		return id, nil
	}
	id, err := peer.Decode(t)
	if err != nil {
		return "", fmt.Errorf("%w: %q", ErrUnknownName, nameOrID)
	}
	return id, nil
}

// Label returns how id is shown.
func (s *Service) Label(id peer.ID) Label {
	s.mu.Lock()
	defer s.mu.Unlock()
	if name, ok := s.byID[id]; ok {
		return Label{ID: id, Text: name, Kind: "contact", Name: name}
	}
	if id == s.h.ID() && s.self.Name != "" {
		return Label{ID: id, Text: s.self.Name + " (this node)", Kind: "self", Name: s.self.Name}
	}
	if k, ok := s.peers[id]; ok && k.p.Name != "" {
		return Label{ID: id, Text: k.p.Name + " (unverified, " + ShortID(id) + ")", Kind: "unverified", Name: k.p.Name}
	}
	return Label{ID: id, Text: ShortID(id), Kind: "id"}
}

// Neighbours lists the connected peers found on the LAN, by label.
func (s *Service) Neighbours() []Neighbour {
	if s.cfg.LAN == nil {
		return []Neighbour{}
	}
	out := []Neighbour{}
	for _, id := range s.h.Network().Peers() {
		if !s.cfg.LAN(id) {
			continue
		}
		s.mu.Lock()
		k := s.peers[id]
		out = append(out, Neighbour{ID: id, Name: k.p.Name, Device: k.p.Device, Contact: s.byID[id]})
		s.mu.Unlock()
	}
	slices.SortFunc(out, func(a, b Neighbour) int {
		return strings.Compare(strings.ToLower(a.Contact+"\x00"+a.Name+"\x00"+a.ID.String()), strings.ToLower(b.Contact+"\x00"+b.Name+"\x00"+b.ID.String()))
	})
	return out
}

// OnOnline registers f, called (in a goroutine of its own) each time a
// peer's profile arrives showing it online: a contact coming online, for
// queued sends and messages. Call it before Serve.
func (s *Service) OnOnline(f func(peer.ID)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onUp = append(s.onUp, f)
}

// Reach connects to id if it is not connected: through the peerstore's
// addresses, else through the Finder. It reports the connection's error.
func (s *Service) Reach(ctx context.Context, id peer.ID) error {
	if s.h.Network().Connectedness(id) == network.Connected {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, reachTimeout)
	defer cancel()
	info := peer.AddrInfo{ID: id, Addrs: s.h.Peerstore().Addrs(id)}
	if len(info.Addrs) > 0 {
		if err := s.h.Connect(ctx, info); err == nil {
			return nil
		}
	}
	if s.cfg.Finder == nil {
		return fmt.Errorf("contacts: %s: no known address", ShortID(id))
	}
	found, err := s.cfg.Finder.FindPeer(ctx, id)
	if err != nil {
		return fmt.Errorf("contacts: find %s: %w", ShortID(id), err)
	}
	if err := s.h.Connect(ctx, found); err != nil {
		return fmt.Errorf("contacts: connect %s: %w", ShortID(id), err)
	}
	return nil
}

// Serve runs the profile exchanges and presence until ctx ends.
func (s *Service) Serve(ctx context.Context) error {
	sub, err := s.h.EventBus().Subscribe([]any{new(event.EvtPeerIdentificationCompleted), new(event.EvtPeerConnectednessChanged)})
	if err != nil {
		return fmt.Errorf("contacts: subscribe: %w", err)
	}
	defer sub.Close()
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for range exchangeWorkers {
		wg.Go(func() {
			for {
				select {
				case <-ctx.Done():
					return
				case id := <-s.work:
					s.exchange(ctx, id)
				}
			}
		})
	}
	wg.Go(func() { s.reachLoop(ctx) })
	// Peers already connected and identified before Serve started.
	for _, id := range s.h.Network().Peers() {
		s.queue(id)
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-sub.Out():
			if !ok {
				return nil
			}
			switch e := ev.(type) {
			case event.EvtPeerIdentificationCompleted:
				if slices.Contains(e.Protocols, ProtocolID) {
					s.queue(e.Peer)
				}
			case event.EvtPeerConnectednessChanged:
				if e.Connectedness == network.NotConnected {
					s.gone(e.Peer)
				}
			}
		}
	}
}

func (s *Service) queue(id peer.ID) {
	select {
	case s.work <- id:
	default:
		s.log.Debug("profile exchange queue full; dropped", "peer", id)
	}
}

// tellAll queues an exchange with every connected peer.
func (s *Service) tellAll() {
	for _, id := range s.h.Network().Peers() {
		s.queue(id)
	}
}

// gone forgets a disconnected peer's profile, noting when a visible
// contact was last seen.
func (s *Service) gone(id peer.ID) {
	s.mu.Lock()
	k, ok := s.peers[id]
	delete(s.peers, id)
	_, contact := s.byID[id]
	s.mu.Unlock()
	if ok && contact && !k.p.Invisible {
		s.seen(id)
	}
}

func (s *Service) seen(id peer.ID) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := s.db.ExecContext(ctx, `UPDATE contacts SET last_seen = ? WHERE id = ?`, time.Now().UnixMilli(), id.String()); err != nil {
		s.log.Warn("contacts: last seen not saved", "peer", id, "err", err)
	}
}

// exchange opens the profile protocol to id: it sends our profile and
// reads the peer's.
func (s *Service) exchange(ctx context.Context, id peer.ID) {
	if s.h.Network().Connectedness(id) != network.Connected {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, exchangeTimeout)
	defer cancel()
	st, err := s.h.NewStream(network.WithAllowLimitedConn(ctx, "profile"), id, ProtocolID)
	if err != nil {
		s.log.Debug("profile exchange", "peer", id, "err", err)
		return
	}
	defer st.Close()
	st.SetDeadline(time.Now().Add(exchangeTimeout))
	if err := p2p.WriteMsg(st, encodeProfile(s.Self())); err != nil {
		st.Reset()
		return
	}
	b, err := p2p.ReadMsg(st, maxProfileMsg)
	if err != nil {
		st.Reset()
		s.log.Debug("profile exchange", "peer", id, "err", err)
		return
	}
	p, err := decodeProfile(b)
	if err != nil {
		st.Reset()
		return
	}
	s.heard(id, p)
}

// handle answers a profile exchange a peer opened: read its profile,
// send ours.
func (s *Service) handle(st network.Stream) {
	defer st.Close()
	id := st.Conn().RemotePeer()
	if !s.lim.Allow(id) {
		st.Reset()
		return
	}
	st.SetDeadline(time.Now().Add(p2p.FirstRequestTimeout))
	b, err := p2p.ReadMsg(st, maxProfileMsg)
	if err != nil {
		st.Reset()
		return
	}
	p, err := decodeProfile(b)
	if err != nil {
		st.Reset()
		return
	}
	if err := p2p.WriteMsg(st, encodeProfile(s.Self())); err != nil {
		st.Reset()
		return
	}
	s.heard(id, p)
}

// heard records a peer's profile (the peer is the stream's authenticated
// remote peer, never a field it sent).
func (s *Service) heard(id peer.ID, p Profile) {
	if s.h.Network().Connectedness(id) != network.Connected {
		return
	}
	s.mu.Lock()
	prev, had := s.peers[id]
	if !had && len(s.peers) >= maxKnown {
		s.evictLocked()
	}
	s.peers[id] = known{p: p, at: time.Now()}
	_, contact := s.byID[id]
	hooks := slices.Clone(s.onUp)
	s.mu.Unlock()
	cameOnline := !p.Invisible && (!had || prev.p.Invisible)
	if contact && !p.Invisible {
		s.seen(id)
	}
	if cameOnline {
		for _, f := range hooks {
			go f(id)
		}
	}
}

// evictLocked drops the profile of a peer no longer connected, else the
// oldest one. Called with mu held.
func (s *Service) evictLocked() {
	var oldest peer.ID
	var at time.Time
	for id, k := range s.peers {
		if s.h.Network().Connectedness(id) != network.Connected {
			delete(s.peers, id)
			return
		}
		if oldest == "" || k.at.Before(at) {
			oldest, at = id, k.at
		}
	}
	delete(s.peers, oldest)
}

// reachLoop dials the contacts that are not connected, now and every
// reachEvery, so that their presence is known and they learn ours.
func (s *Service) reachLoop(ctx context.Context) {
	for {
		s.mu.Lock()
		var ids []peer.ID
		for id := range s.byID {
			if s.h.Network().Connectedness(id) != network.Connected {
				ids = append(ids, id)
			}
		}
		s.mu.Unlock()
		sem := make(chan struct{}, 8)
		var wg sync.WaitGroup
		for _, id := range ids {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
			}
			if ctx.Err() != nil {
				break
			}
			wg.Go(func() {
				defer func() { <-sem }()
				if err := s.Reach(ctx, id); err != nil {
					s.log.Debug("contact unreachable", "peer", id, "err", err)
				}
			})
		}
		wg.Wait()
		t := time.NewTimer(reachEvery)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}
