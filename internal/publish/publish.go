// Package publish keeps documents up the way Publius did: encrypted,
// erasure-coded across storing peers, readable by whoever holds the URL,
// changeable only by whoever holds the publisher's secret, and available
// with the publisher offline and n−k of the storing peers gone.
//
// A document is a storage object (internal/storage, through [Store]):
// encrypted under a fresh key, cut into n shares of which any k rebuild it,
// each share checked by its hash. What makes the URL stable across updates
// is a small signed record, kept by each of the storing peers under the
// document's locator (the public half of an ed25519 key pair drawn for this
// document alone):
//
//   - the URL is peerpath://doc/LOCATOR[?via=PEERS]#KEY: the locator, a
//     few peers to ask first, and a 32-byte key (in the fragment) that
//     decrypts the record's body (the storage reference, which carries the
//     object's own key, its content id, name and size);
//   - the publisher's secret is the private key's seed: it signs every
//     record (publish, update, renewal, delete), and a key derived from it
//     deletes the old version's shares (storage's per-share secrets);
//   - a storing peer checks each record's signature against the locator,
//     keeps the one with the highest version (an older one is refused, so
//     a replay cannot roll a document back) and refuses anything after a
//     signed delete. It holds only the public key and sealed bytes: it can
//     neither read the document nor sign a change.
//
// Whoever fetches asks the URL's hints and the peers the DHT names for the
// locator, keeps the highest correctly signed version, opens it with the
// URL's key and fetches the object from any k of its holders.
package publish

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/zeebo/blake3"
	"golang.org/x/time/rate"

	"github.com/peerpath/peerpath/internal/content"
	"github.com/peerpath/peerpath/internal/p2p"
	"github.com/peerpath/peerpath/internal/store"
)

// Store keeps objects on other peers (the node implements it over
// internal/storage). A ref carries the object's key: it goes only into a
// record's sealed body and this home.
type Store interface {
	// Put stores plain as k of n shares that secret may delete; it
	// returns the reference and the peers that took the shares.
	Put(ctx context.Context, plain []byte, k, n int, secret []byte) (ref string, holders []peer.ID, err error)
	Get(ctx context.Context, ref string) ([]byte, error)
	// Delete drops the object's shares with secret; it returns how many.
	Delete(ctx context.Context, ref string, secret []byte) (int, error)
	// Offering reports whether this node offers storage to others (it
	// keeps new documents' records only then).
	Offering(ctx context.Context) bool
}

// Routing announces and finds the peers that keep a locator's record
// (the node: the DHT, and connected peers).
type Routing interface {
	Provide(ctx context.Context, id cid.Cid) error
	FindProviders(ctx context.Context, id cid.Cid) ([]peer.AddrInfo, error)
}

// Config configures a [Service]. Host, DB and Store are required.
type Config struct {
	Host    host.Host
	DB      *store.DB
	Store   Store
	Routing Routing
	Logger  *slog.Logger
	// Lease is how long a record is signed to be kept; the publisher's
	// node renews it when a third is left. Zero means [DefaultLease].
	Lease time.Duration
	// Grace is how long a storing peer keeps a record after it expired;
	// zero means [DefaultGrace].
	Grace time.Duration
	// Downloads is where [Service.Save] puts a document given no output.
	Downloads string
	// Policy, if set, is this node's content policy: a document whose
	// content id it denies is neither published nor fetched here (the
	// edges where the id is known; storing peers see only ciphertext).
	Policy Policy
}

// Policy refuses content ids (the node: internal/policy's lists).
type Policy interface {
	// Check returns an error when id is denied.
	Check(id cid.Cid) error
}

// Defaults and bounds.
const (
	DefaultLease = 30 * 24 * time.Hour
	DefaultGrace = 7 * 24 * time.Hour
	// MaxLease is the longest a storing peer agrees to keep a record.
	MaxLease = 366 * 24 * time.Hour
	// MaxDocument is the largest document (one storage object).
	MaxDocument = 32 << 20
	// MaxRecordsPerClient bounds the records one peer may have a storing
	// peer keep; MaxRecords bounds them all.
	MaxRecordsPerClient = 1024
	MaxRecords          = 10_000
	// maxAsk bounds the peers asked for a locator's record.
	maxAsk = 32
)

// Errors.
var (
	// ErrInvalid is returned for bad arguments.
	ErrInvalid = errors.New("publish: invalid request")
	// ErrNotFound is returned when no peer keeps a record of the URL.
	ErrNotFound = errors.New("publish: document not found")
	// ErrDeleted is returned for a document its publisher deleted.
	ErrDeleted = errors.New("publish: document deleted by its publisher")
	// ErrNoSecret is returned for an update or delete without the secret.
	ErrNoSecret = errors.New("publish: the publisher's secret is needed (this home has none for this document; pass --secret FILE)")
	// ErrWrongSecret is returned for a secret of another document.
	ErrWrongSecret = errors.New("publish: the secret is not this document's")
	// ErrRefused is returned when storing peers refused a record.
	ErrRefused = errors.New("publish: refused by storing peers")
	// ErrStale is a storing peer's answer to a version not newer than the
	// one it keeps (a replay or a rollback).
	ErrStale = errors.New("publish: stale version")
	// ErrCorrupt is returned when the fetched document does not match the
	// content id its record names.
	ErrCorrupt = errors.New("publish: document does not match its content id")
)

// SecretPrefix starts a publisher's secret string.
const SecretPrefix = "ppsecret1:"

// Service publishes, updates, deletes and fetches documents, and keeps
// other publishers' records when this node offers storage.
type Service struct {
	cfg   Config
	log   *slog.Logger
	admit *p2p.Admission

	mu      sync.Mutex // serializes record writes (the storing side)
	provide *p2p.ProvideQueue
	started int64 // unix seconds when New ran: older pending rows are a killed run's
}

var migrations = []store.Migration{{Version: 1, SQL: `
-- Records this node keeps for publishers (the storing side).
CREATE TABLE publish_records (
	loc     BLOB PRIMARY KEY,
	seq     INTEGER NOT NULL,
	op      INTEGER NOT NULL,
	expires INTEGER NOT NULL,
	record  BLOB NOT NULL,
	client  TEXT NOT NULL,
	stored  INTEGER NOT NULL
);
CREATE INDEX publish_records_client ON publish_records(client);
-- Documents this home published (or holds the secret of).
CREATE TABLE publish_docs (
	loc     BLOB PRIMARY KEY,
	seed    BLOB NOT NULL,
	url     TEXT NOT NULL,
	seq     INTEGER NOT NULL,
	expires INTEGER NOT NULL,
	ref     TEXT NOT NULL,
	cid     TEXT NOT NULL,
	name    TEXT NOT NULL,
	size    INTEGER NOT NULL,
	k       INTEGER NOT NULL,
	n       INTEGER NOT NULL,
	holders TEXT NOT NULL,
	created INTEGER NOT NULL,
	deleted INTEGER NOT NULL DEFAULT 0
);
`}}

// New opens the service and registers its protocol handler.
func New(ctx context.Context, cfg Config) (*Service, error) {
	if cfg.Host == nil || cfg.DB == nil || cfg.Store == nil {
		return nil, errors.New("publish: Config needs Host, DB and Store")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Lease <= 0 {
		cfg.Lease = DefaultLease
	}
	cfg.Lease = min(cfg.Lease, MaxLease)
	if cfg.Grace <= 0 {
		cfg.Grace = DefaultGrace
	}
	if err := cfg.DB.Migrate(ctx, "publish", migrations); err != nil {
		return nil, err
	}
	s := &Service{
		cfg: cfg, log: cfg.Logger,
		admit: p2p.NewAdmission(p2p.AdmitConfig{
			Rate: rate.Limit(50), Burst: 200, Concurrent: 32,
			Deadline: requestDeadline, MaxRequest: maxRequest,
			Busy: (&response{Status: statusBusy, Msg: "busy"}).encode(),
		}),
		provide: p2p.NewProvideQueue(1024),
		started: time.Now().Unix(),
	}
	cfg.Host.SetStreamHandler(ProtocolID, s.handle)
	return s, nil
}

// Close unregisters the protocol handler.
func (s *Service) Close() { s.cfg.Host.RemoveStreamHandler(ProtocolID) }

// Serve runs until ctx ends: it announces the records this node keeps,
// drops expired ones, and renews the records of this home's documents.
func (s *Service) Serve(ctx context.Context) error {
	s.cfg.Host.SetStreamHandler(ProtocolID, s.handle)
	defer s.Close()
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Add(1)
	go func() { defer wg.Done(); s.provide.Run(ctx, s.providefn(), s.log, "publish") }()
	s.announceAll(ctx)
	if err := s.cleanPending(ctx); err != nil && ctx.Err() == nil {
		s.log.Warn("publish: dropping unfinished publishes", "err", err)
	}
	tick := time.NewTicker(time.Hour)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			if n, err := s.expire(ctx, time.Now()); err != nil {
				s.log.Warn("publish: expiring records", "err", err)
			} else if n > 0 {
				s.log.Info("publish: dropped expired records", "records", n)
			}
			if err := s.renewAll(ctx, time.Now()); err != nil && ctx.Err() == nil {
				s.log.Warn("publish: renewing records", "err", err)
			}
			s.announceAll(ctx)
		}
	}
}

// providefn is how queued ids are announced: nil without a DHT.
func (s *Service) providefn() func(context.Context, cid.Cid) error {
	if s.cfg.Routing == nil {
		return nil
	}
	return s.cfg.Routing.Provide
}

func (s *Service) announceAll(ctx context.Context) {
	rows, err := s.cfg.DB.QueryContext(ctx, `SELECT loc FROM publish_records WHERE op = ? LIMIT 1000`, opPublish)
	if err != nil {
		return
	}
	defer rows.Close()
	for rows.Next() {
		var b []byte
		if rows.Scan(&b) == nil && len(b) == 32 {
			var l Locator
			copy(l[:], b)
			s.provide.Add(l.CID())
		}
	}
}

// keyPair derives the document's key pair from the secret's seed.
func keyPair(seed []byte) (Locator, ed25519.PrivateKey) {
	priv := ed25519.NewKeyFromSeed(seed)
	var l Locator
	copy(l[:], priv.Public().(ed25519.PublicKey))
	return l, priv
}

// storageSecret is the secret the document's shares are put with: derived
// from the seed, so the secret alone deletes old versions from any home.
func storageSecret(seed []byte) []byte {
	out := make([]byte, 32)
	blake3.DeriveKey("peerpath publish 2026 storage secret", seed, out)
	return out
}

// FormatSecret encodes a seed as a secret string.
func FormatSecret(seed []byte) string {
	return SecretPrefix + base64.RawURLEncoding.EncodeToString(seed)
}

// ParseSecret decodes what [FormatSecret] made.
func ParseSecret(s string) ([]byte, error) {
	rest, ok := strings.CutPrefix(strings.TrimSpace(s), SecretPrefix)
	if !ok {
		return nil, fmt.Errorf("%w: not a publisher's secret (%s…)", ErrInvalid, SecretPrefix)
	}
	seed := make([]byte, ed25519.SeedSize)
	if err := decode32(rest, seed); err != nil {
		return nil, fmt.Errorf("%w: secret: %w", ErrInvalid, err)
	}
	return seed, nil
}

// Published is the answer to a publish or an update.
type Published struct {
	URL    string
	CID    string
	K, N   int
	Seq    uint64
	Secret string // the publisher's secret (kept in this home too)
	// Holders is how many storing peers keep the new record.
	Holders int
	// OldShares is how many shares of the previous version were deleted
	// (update).
	OldShares int
}

// Publish stores plain as a new document, k of n, and returns its URL
// and secret. The publisher's node pays the shares' leases (storage's
// leases, renewed while this node runs).
func (s *Service) Publish(ctx context.Context, name string, plain []byte, k, n int) (Published, error) {
	if len(plain) > MaxDocument {
		return Published{}, fmt.Errorf("%w: a document holds at most %d bytes", ErrInvalid, MaxDocument)
	}
	if k < 1 || n <= k || n > 32 {
		return Published{}, fmt.Errorf("%w: need 1 ≤ k < n ≤ 32, got k=%d n=%d", ErrInvalid, k, n)
	}
	seed := make([]byte, ed25519.SeedSize)
	var key [32]byte
	if _, err := rand.Read(seed); err != nil {
		return Published{}, err
	}
	if _, err := rand.Read(key[:]); err != nil {
		return Published{}, err
	}
	loc, priv := keyPair(seed)
	// The secret is in the home before anything leaves it; until the
	// record is out the row is pending (seq 0), and a start after a kill
	// drops a pending row and the shares it names (cleanPending).
	if _, err := s.cfg.DB.ExecContext(ctx, `INSERT INTO publish_docs (loc, seed, url, seq, expires, ref, cid, name, size, k, n, holders, created)
		VALUES (?, ?, ?, 0, 0, '', '', ?, ?, ?, ?, '[]', ?)`, loc[:], seed, URL{Locator: loc, Key: key}.String(), name, len(plain), k, n, time.Now().Unix()); err != nil {
		return Published{}, fmt.Errorf("publish: %w", err)
	}
	fail := func(ref string, err error) (Published, error) {
		ctx := context.WithoutCancel(ctx)
		if ref != "" {
			s.cfg.Store.Delete(ctx, ref, storageSecret(seed))
		}
		s.cfg.DB.ExecContext(ctx, `DELETE FROM publish_docs WHERE loc = ? AND seq = 0`, loc[:])
		return Published{}, err
	}
	b, holders, err := s.put(ctx, name, plain, k, n, seed)
	if err != nil {
		return fail("", err)
	}
	if _, err := s.cfg.DB.ExecContext(ctx, `UPDATE publish_docs SET ref = ? WHERE loc = ?`, b.Ref, loc[:]); err != nil {
		return fail(b.Ref, fmt.Errorf("publish: %w", err))
	}
	rec, err := s.newRecord(opPublish, loc, priv, &key, 1, &b)
	if err != nil {
		return fail(b.Ref, err)
	}
	accepted, err := s.push(ctx, holders, rec)
	if len(accepted) < k {
		return fail(b.Ref, fmt.Errorf("%w: %d of %d storing peers keep the record, need %d: %w", ErrRefused, len(accepted), len(holders), k, err))
	}
	u := URL{Locator: loc, Key: key, Hints: accepted[:min(len(accepted), MaxHints)]}
	if err := s.saveDoc(ctx, u, seed, rec, b, accepted); err != nil {
		return fail(b.Ref, err)
	}
	s.log.Info("publish: published", "locator", loc, "cid", b.CID, "k", k, "n", n, "holders", len(accepted))
	return Published{URL: u.String(), CID: b.CID, K: k, N: n, Seq: rec.Seq, Secret: FormatSecret(seed), Holders: len(accepted)}, nil
}

// put stores a version and describes it.
func (s *Service) put(ctx context.Context, name string, plain []byte, k, n int, seed []byte) (body, []peer.ID, error) {
	m, err := content.HashReader(bytes.NewReader(plain), 0)
	if err != nil {
		return body{}, nil, err
	}
	if s.cfg.Policy != nil {
		if err := s.cfg.Policy.Check(m.ID()); err != nil {
			return body{}, nil, err
		}
	}
	ref, holders, err := s.cfg.Store.Put(ctx, plain, k, n, storageSecret(seed))
	if err != nil {
		return body{}, nil, err
	}
	if len(name) > 255 {
		name = name[:255]
	}
	return body{Ref: ref, CID: m.ID().String(), Name: name, Size: int64(len(plain)), K: k, N: n}, holders, nil
}

// newRecord seals b (nil for a delete) under key and signs the record.
func (s *Service) newRecord(op byte, loc Locator, priv ed25519.PrivateKey, key *[32]byte, seq uint64, b *body) (*record, error) {
	r := &record{Op: op, Loc: loc, Seq: seq, Expires: time.Now().Add(s.cfg.Lease).Unix()}
	if b != nil {
		sealed, err := seal(key, r, *b)
		if err != nil {
			return nil, err
		}
		r.Sealed = sealed
	}
	r.sign(priv)
	return r, nil
}

func (s *Service) saveDoc(ctx context.Context, u URL, seed []byte, r *record, b body, holders []peer.ID) error {
	hs, _ := json.Marshal(peerStrings(holders))
	_, err := s.cfg.DB.ExecContext(ctx, `INSERT INTO publish_docs (loc, seed, url, seq, expires, ref, cid, name, size, k, n, holders, created)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (loc) DO UPDATE SET url = excluded.url, seq = excluded.seq, expires = excluded.expires, ref = excluded.ref, cid = excluded.cid,
			name = excluded.name, size = excluded.size, k = excluded.k, n = excluded.n, holders = excluded.holders, deleted = 0`,
		u.Locator[:], seed, u.String(), int64(r.Seq), r.Expires, b.Ref, b.CID, b.Name, b.Size, b.K, b.N, string(hs), time.Now().Unix())
	if err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	return nil
}

func peerStrings(ps []peer.ID) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return out
}

// doc is what this home keeps of a document it can change.
type doc struct {
	seed    []byte
	url     string
	seq     uint64
	holders []peer.ID
	deleted bool
}

func (s *Service) loadDoc(ctx context.Context, loc Locator) (doc, bool, error) {
	var (
		d   doc
		hs  string
		seq int64
	)
	err := s.cfg.DB.QueryRowContext(ctx, `SELECT seed, url, seq, holders, deleted FROM publish_docs WHERE loc = ?`, loc[:]).Scan(&d.seed, &d.url, &seq, &hs, &d.deleted)
	if errors.Is(err, sql.ErrNoRows) {
		return d, false, nil
	}
	if err != nil {
		return d, false, fmt.Errorf("publish: %w", err)
	}
	d.seq = uint64(seq)
	var ss []string
	_ = json.Unmarshal([]byte(hs), &ss)
	for _, h := range ss {
		if p, err := peer.Decode(h); err == nil {
			d.holders = append(d.holders, p)
		}
	}
	return d, true, nil
}

// secretFor returns the seed that signs for u: the one given (a secret
// string), else the one this home keeps.
func (s *Service) secretFor(ctx context.Context, u URL, secret string) ([]byte, doc, error) {
	d, ok, err := s.loadDoc(ctx, u.Locator)
	if err != nil {
		return nil, d, err
	}
	seed := d.seed
	if secret != "" {
		if seed, err = ParseSecret(secret); err != nil {
			return nil, d, err
		}
	} else if !ok {
		return nil, d, ErrNoSecret
	}
	if loc, _ := keyPair(seed); loc != u.Locator {
		return nil, d, ErrWrongSecret
	}
	return seed, d, nil
}

// Update replaces the document at url with plain (same k and n unless
// given), signed with the secret (or this home's), and deletes the old
// version's shares. The URL stays the same.
func (s *Service) Update(ctx context.Context, rawURL, name string, plain []byte, k, n int, secret string) (Published, error) {
	u, err := ParseURL(rawURL)
	if err != nil {
		return Published{}, err
	}
	if len(plain) > MaxDocument {
		return Published{}, fmt.Errorf("%w: a document holds at most %d bytes", ErrInvalid, MaxDocument)
	}
	seed, d, err := s.secretFor(ctx, u, secret)
	if err != nil {
		return Published{}, err
	}
	loc, priv := keyPair(seed)
	found := s.locate(ctx, u, d.holders)
	cur, ok := latest(found)
	if !ok {
		return Published{}, ErrNotFound
	}
	if cur.Op == opDelete {
		return Published{}, ErrDeleted
	}
	old, err := open(&u.Key, cur)
	if err != nil {
		return Published{}, err
	}
	if k == 0 && n == 0 {
		k, n = old.K, old.N
	}
	if k < 1 || n <= k || n > 32 {
		return Published{}, fmt.Errorf("%w: need 1 ≤ k < n ≤ 32, got k=%d n=%d", ErrInvalid, k, n)
	}
	b, holders, err := s.put(ctx, name, plain, k, n, seed)
	if err != nil {
		return Published{}, err
	}
	rec, err := s.newRecord(opPublish, loc, priv, &u.Key, max(cur.Seq, d.seq)+1, &b)
	if err != nil {
		return Published{}, err
	}
	accepted, perr := s.push(ctx, union(holders, keepers(found), d.holders), rec)
	if len(accepted) == 0 {
		s.cfg.Store.Delete(context.WithoutCancel(ctx), b.Ref, storageSecret(seed))
		return Published{}, fmt.Errorf("%w: %w", ErrRefused, perr)
	}
	gone, err := s.cfg.Store.Delete(ctx, old.Ref, storageSecret(seed))
	if err != nil {
		s.log.Warn("publish: deleting the old version's shares", "locator", loc, "err", err)
	}
	if err := s.saveDoc(ctx, u, seed, rec, b, accepted); err != nil {
		return Published{}, err
	}
	s.log.Info("publish: updated", "locator", loc, "seq", rec.Seq, "holders", len(accepted))
	return Published{URL: u.String(), CID: b.CID, K: k, N: n, Seq: rec.Seq, Secret: FormatSecret(seed), Holders: len(accepted), OldShares: gone}, nil
}

// Deleted is the answer to a delete.
type Deleted struct {
	URL     string
	Holders int // storing peers that keep the signed delete
	Shares  int // shares dropped
}

// Delete signs a tombstone for the document at url, hands it to every
// peer keeping its record, and deletes its shares.
func (s *Service) Delete(ctx context.Context, rawURL, secret string) (Deleted, error) {
	u, err := ParseURL(rawURL)
	if err != nil {
		return Deleted{}, err
	}
	seed, d, err := s.secretFor(ctx, u, secret)
	if err != nil {
		return Deleted{}, err
	}
	loc, priv := keyPair(seed)
	found := s.locate(ctx, u, d.holders)
	cur, ok := latest(found)
	if !ok {
		return Deleted{}, ErrNotFound
	}
	if cur.Op == opDelete {
		return Deleted{}, ErrDeleted
	}
	rec, err := s.newRecord(opDelete, loc, priv, nil, max(cur.Seq, d.seq)+1, nil)
	if err != nil {
		return Deleted{}, err
	}
	accepted, perr := s.push(ctx, union(keepers(found), d.holders), rec)
	if len(accepted) == 0 {
		return Deleted{}, fmt.Errorf("%w: %w", ErrRefused, perr)
	}
	out := Deleted{URL: u.String(), Holders: len(accepted)}
	if b, err := open(&u.Key, cur); err == nil {
		if out.Shares, err = s.cfg.Store.Delete(ctx, b.Ref, storageSecret(seed)); err != nil {
			s.log.Warn("publish: deleting shares", "locator", loc, "err", err)
		}
	}
	if _, err := s.cfg.DB.ExecContext(ctx, `UPDATE publish_docs SET deleted = 1, seq = ? WHERE loc = ?`, int64(rec.Seq), loc[:]); err != nil {
		return out, fmt.Errorf("publish: %w", err)
	}
	s.log.Info("publish: deleted", "locator", loc, "holders", len(accepted), "shares", out.Shares)
	return out, nil
}

// Document describes a fetched document.
type Document struct {
	CID  string
	Name string
	Size int64
	Seq  uint64
}

// Fetch gets the current version of the document at url: no identity,
// no secret, nothing but the URL. Every share is checked by the storage
// layer, and the whole against the content id its record names.
func (s *Service) Fetch(ctx context.Context, rawURL string) (Document, []byte, error) {
	u, err := ParseURL(rawURL)
	if err != nil {
		return Document{}, nil, err
	}
	cur, ok := latest(s.locate(ctx, u, nil))
	if !ok {
		return Document{}, nil, ErrNotFound
	}
	if cur.Op == opDelete {
		return Document{}, nil, ErrDeleted
	}
	b, err := open(&u.Key, cur)
	if err != nil {
		return Document{}, nil, err
	}
	id, err := cid.Decode(b.CID)
	if err != nil {
		return Document{}, nil, fmt.Errorf("%w: content id: %w", ErrBadRecord, err)
	}
	if s.cfg.Policy != nil {
		if err := s.cfg.Policy.Check(id); err != nil {
			return Document{}, nil, err
		}
	}
	plain, err := s.cfg.Store.Get(ctx, b.Ref)
	if err != nil {
		return Document{}, nil, err
	}
	m, err := content.HashReader(bytes.NewReader(plain), 0)
	if err != nil || int64(len(plain)) != b.Size || m.ID().String() != b.CID {
		return Document{}, nil, ErrCorrupt
	}
	return Document{CID: b.CID, Name: b.Name, Size: b.Size, Seq: cur.Seq}, plain, nil
}

// Doc is one document this home published.
type Doc struct {
	URL     string
	CID     string
	Name    string
	Size    int64
	K, N    int
	Seq     uint64
	Created time.Time
	Expires time.Time
	Deleted bool
}

// List returns this home's documents, newest first.
func (s *Service) List(ctx context.Context) ([]Doc, error) {
	rows, err := s.cfg.DB.QueryContext(ctx, `SELECT url, cid, name, size, k, n, seq, created, expires, deleted FROM publish_docs WHERE seq > 0 ORDER BY created DESC, url LIMIT 10000`)
	if err != nil {
		return nil, fmt.Errorf("publish: %w", err)
	}
	defer rows.Close()
	var out []Doc
	for rows.Next() {
		var (
			d                Doc
			seq, created, ex int64
		)
		if err := rows.Scan(&d.URL, &d.CID, &d.Name, &d.Size, &d.K, &d.N, &seq, &created, &ex, &d.Deleted); err != nil {
			return nil, fmt.Errorf("publish: %w", err)
		}
		d.Seq, d.Created, d.Expires = uint64(seq), time.Unix(created, 0), time.Unix(ex, 0)
		out = append(out, d)
	}
	return out, rows.Err()
}

// renewAll re-signs, with a later expiry, the records of this home's
// documents that have a third of their lease left, and hands them to
// their keepers.
func (s *Service) renewAll(ctx context.Context, now time.Time) error {
	rows, err := s.cfg.DB.QueryContext(ctx, `SELECT loc, url FROM publish_docs WHERE deleted = 0 AND seq > 0 AND expires < ? LIMIT 1000`,
		now.Add(s.cfg.Lease/3).Unix())
	if err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	var urls []string
	for rows.Next() {
		var (
			loc []byte
			u   string
		)
		if rows.Scan(&loc, &u) == nil {
			urls = append(urls, u)
		}
	}
	rows.Close()
	var errs []error
	for _, raw := range urls {
		if err := s.renew(ctx, raw); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (s *Service) renew(ctx context.Context, rawURL string) error {
	u, err := ParseURL(rawURL)
	if err != nil {
		return err
	}
	seed, d, err := s.secretFor(ctx, u, "")
	if err != nil {
		return err
	}
	loc, priv := keyPair(seed)
	found := s.locate(ctx, u, d.holders)
	cur, ok := latest(found)
	if !ok || cur.Op == opDelete {
		return fmt.Errorf("publish: renewing %s: no current record", loc)
	}
	b, err := open(&u.Key, cur)
	if err != nil {
		return err
	}
	rec, err := s.newRecord(opPublish, loc, priv, &u.Key, max(cur.Seq, d.seq)+1, &b)
	if err != nil {
		return err
	}
	accepted, err := s.push(ctx, union(keepers(found), d.holders), rec)
	if len(accepted) == 0 {
		return err
	}
	return s.saveDoc(ctx, u, seed, rec, b, accepted)
}

func union(lists ...[]peer.ID) []peer.ID {
	seen := map[peer.ID]bool{}
	var out []peer.ID
	for _, l := range lists {
		for _, p := range l {
			if !seen[p] && len(out) < 2*maxAsk {
				seen[p] = true
				out = append(out, p)
			}
		}
	}
	return out
}

// cleanPending drops what a publish killed before its record went out
// left behind: the row and the shares it names (the URL was never given
// out, so nobody can read them). It runs when Serve starts and looks only
// at rows older than this Service, never at a publish now in flight.
func (s *Service) cleanPending(ctx context.Context) error {
	rows, err := s.cfg.DB.QueryContext(ctx, `SELECT loc, seed, ref FROM publish_docs WHERE seq = 0 AND created < ? LIMIT 1000`, s.started)
	if err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	type pending struct {
		loc, seed []byte
		ref       string
	}
	var ps []pending
	for rows.Next() {
		var p pending
		if rows.Scan(&p.loc, &p.seed, &p.ref) == nil {
			ps = append(ps, p)
		}
	}
	rows.Close()
	var errs []error
	for _, p := range ps {
		if p.ref != "" {
			if _, err := s.cfg.Store.Delete(ctx, p.ref, storageSecret(p.seed)); err != nil {
				errs = append(errs, err)
				continue // tried again at the next start
			}
		}
		if _, err := s.cfg.DB.ExecContext(ctx, `DELETE FROM publish_docs WHERE loc = ? AND seq = 0`, p.loc); err != nil {
			errs = append(errs, err)
		}
		s.log.Info("publish: dropped an unfinished publish", "shares", p.ref != "")
	}
	return errors.Join(errs...)
}
