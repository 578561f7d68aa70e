package meter

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/peerpath/peerpath/internal/ledger"
	"github.com/peerpath/peerpath/internal/p2p"
	"github.com/peerpath/peerpath/internal/peerlimit"
	"github.com/peerpath/peerpath/internal/store"
)

// ReceiptProtocol carries traffic receipts from a downloader to the peer
// that served it: one receipt per stream, answered with a short JSON result.
const ReceiptProtocol = "/peerpath/receipt/1.0.0"

// Priority classes returned by [Meter.Priority].
const (
	ClassOther        = 0 // neither pays nor gives back
	ClassReciprocates = 1 // has uploaded to us at least half of what we uploaded to it
	ClassPays         = 2 // sent a paying receipt at our price within PaidFor, none failed since
)

// Meter defaults.
const (
	DefaultReceiptEvery = 10 * time.Second
	DefaultReceiptBytes = 64 << 20
	DefaultSettleEvery  = 30 * time.Second
	DefaultFlushEvery   = 5 * time.Second
	// PaidFor is how long a paying receipt keeps a peer in ClassPays.
	PaidFor = time.Hour
	// reciprocityMin is the least a peer must have uploaded to us to count
	// as reciprocating.
	reciprocityMin = 1 << 20
	maxResult      = 512
	settleBatch    = 256
)

// Config configures a Meter. Host, DB and Key are required.
type Config struct {
	// Host carries ReceiptProtocol; its ID is this node's account.
	Host host.Host
	// DB holds the counters and receipts (component "meter").
	DB *store.DB
	// Key is the node's identity key; it signs the receipts it issues and,
	// through a ledger.Wallet, their payments.
	Key crypto.PrivKey
	// PricePerGiB, in micro-credits, turns traffic billing on: the receipts
	// this node issues carry payments at this price, and peers whose
	// receipts pay at least this price are served first. Zero: billing off
	// (receipts are still issued, as evidence, without payment).
	PricePerGiB int64
	// Submit settles a receipt's payment (a transfer the payer signed)
	// through the ledger: (*ledger.Service).Submit, or a function that
	// calls it. It is all the meter needs of the ledger. Nil: payments
	// received are stored but never settled.
	Submit func(context.Context, ledger.SignedTransfer) (ledger.Receipt, error)
	// Logger receives logs; nil discards them.
	Logger *slog.Logger
	// ReceiptEvery is how often receipts are issued for bytes received.
	// Zero: DefaultReceiptEvery.
	ReceiptEvery time.Duration
	// ReceiptBytes issues a receipt early once this many bytes from one
	// peer are not covered yet. Zero: DefaultReceiptBytes.
	ReceiptBytes int64
	// SettleEvery is how often received payments are submitted to the
	// ledger. Zero: DefaultSettleEvery.
	SettleEvery time.Duration
	// FlushEvery is how often counters are written to the database.
	// Zero: DefaultFlushEvery.
	FlushEvery time.Duration
}

// PeerUsage is what this node gave to and took from one peer. Byte counts
// are content chunk bytes; credits are micro-credits.
type PeerUsage struct {
	Peer string `json:"peer"`
	// Uploaded and Downloaded count chunk bytes served to the peer and
	// verified chunk bytes received from it.
	Uploaded   int64 `json:"uploaded"`
	Downloaded int64 `json:"downloaded"`
	// UnitsRun counts compute units this node ran for the peer (as a
	// worker); UnitsUsed counts units the peer ran for this node.
	UnitsRun  int64 `json:"units_run"`
	UnitsUsed int64 `json:"units_used"`
	// ReceiptedIn is the bytes the peer acknowledged in receipts to this
	// node; ReceiptedOut the bytes this node acknowledged to the peer.
	ReceiptedIn  int64 `json:"receipted_in"`
	ReceiptedOut int64 `json:"receipted_out"`
	// PaidIn is what the peer's settled receipts paid this node;
	// BilledOut what this node's receipts to the peer promised to pay.
	PaidIn    int64 `json:"paid_in"`
	BilledOut int64 `json:"billed_out"`
	// Class is the peer's priority class for upload (see Meter.Priority).
	Class int `json:"class"`

	lastPaid int64 // Unix ns of the last paying receipt at our price
	unpaid   bool  // a payment of the peer's failed to settle since
	dirty    bool
}

// ReceiptCounts counts received receipts by state.
type ReceiptCounts struct {
	Evidence int `json:"evidence"` // no payment (the payer's billing is off)
	Pending  int `json:"pending"`  // payment not settled yet
	Settled  int `json:"settled"`
	Failed   int `json:"failed"` // the ledger refused the payment
}

// Meter counts, per peer, the bytes uploaded and downloaded and the compute
// units run, issues signed traffic receipts for the bytes this node
// received, collects the receipts of the peers it served and settles their
// payments through the ledger, and ranks peers for scarce upload. It
// implements transfer.Meter. Create it with [New] and run
// [Meter.Serve].
type Meter struct {
	cfg   Config
	log   *slog.Logger
	self  peer.ID
	epoch string

	mu    sync.Mutex
	peers map[peer.ID]*PeerUsage
	kick  chan struct{}
	// limit bounds the receipts each peer may send: an honest one sends
	// one per receipt_every, resends included.
	limit *peerlimit.Limiter
}

// Receipts a peer may send: per second, and at once.
const (
	receiptRate  = 2
	receiptBurst = 20
)

var meterMigrations = []store.Migration{{Version: 1, SQL: `
CREATE TABLE meter_meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
CREATE TABLE meter_peers (
	peer          TEXT PRIMARY KEY,
	uploaded      INTEGER NOT NULL DEFAULT 0,
	downloaded    INTEGER NOT NULL DEFAULT 0,
	units_run     INTEGER NOT NULL DEFAULT 0,
	units_used    INTEGER NOT NULL DEFAULT 0,
	receipted_in  INTEGER NOT NULL DEFAULT 0,
	receipted_out INTEGER NOT NULL DEFAULT 0,
	paid_in       INTEGER NOT NULL DEFAULT 0,
	billed_out    INTEGER NOT NULL DEFAULT 0,
	last_paid     INTEGER NOT NULL DEFAULT 0,
	unpaid        INTEGER NOT NULL DEFAULT 0
);
-- The receipt this node issued to a payee and has not had acknowledged:
-- sent again, unchanged, until it is, so a lost answer never makes two
-- receipts cover the same bytes.
CREATE TABLE meter_out (
	payee   TEXT PRIMARY KEY,
	receipt BLOB NOT NULL
);
CREATE TABLE meter_receipts (
	payer   TEXT NOT NULL,
	epoch   TEXT NOT NULL,
	start   INTEGER NOT NULL,
	end     INTEGER NOT NULL,
	amount  INTEGER NOT NULL,
	time    INTEGER NOT NULL,
	receipt BLOB NOT NULL,
	state   TEXT NOT NULL,
	reason  TEXT NOT NULL DEFAULT '',
	PRIMARY KEY (payer, epoch, end)
);
CREATE INDEX meter_receipts_state ON meter_receipts(state);
`}}

// New opens the meter's tables in cfg.DB and loads its counters.
func New(ctx context.Context, cfg Config) (*Meter, error) {
	if cfg.Host == nil || cfg.DB == nil || cfg.Key == nil {
		return nil, errors.New("meter: Config needs Host, DB and Key")
	}
	if cfg.PricePerGiB < 0 {
		return nil, errors.New("meter: negative price per GiB")
	}
	if cfg.ReceiptEvery <= 0 {
		cfg.ReceiptEvery = DefaultReceiptEvery
	}
	if cfg.ReceiptBytes <= 0 {
		cfg.ReceiptBytes = DefaultReceiptBytes
	}
	if cfg.SettleEvery <= 0 {
		cfg.SettleEvery = DefaultSettleEvery
	}
	if cfg.FlushEvery <= 0 {
		cfg.FlushEvery = DefaultFlushEvery
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := cfg.DB.Migrate(ctx, "meter", meterMigrations); err != nil {
		return nil, err
	}
	m := &Meter{cfg: cfg, log: log, self: cfg.Host.ID(), peers: map[peer.ID]*PeerUsage{}, kick: make(chan struct{}, 1),
		limit: peerlimit.New(receiptRate, receiptBurst)}
	// The epoch names this database's count of bytes received: receipts
	// are ranges of it, so a node that lost its database starts a new one.
	err := cfg.DB.QueryRowContext(ctx, `SELECT v FROM meter_meta WHERE k = 'epoch'`).Scan(&m.epoch)
	if errors.Is(err, sql.ErrNoRows) {
		var b [8]byte
		_, _ = rand.Read(b[:])
		m.epoch = hex.EncodeToString(b[:])
		_, err = cfg.DB.ExecContext(ctx, `INSERT INTO meter_meta(k, v) VALUES ('epoch', ?)`, m.epoch)
	}
	if err != nil {
		return nil, fmt.Errorf("meter: %w", err)
	}
	rows, err := cfg.DB.QueryContext(ctx, `SELECT peer, uploaded, downloaded, units_run, units_used,
		receipted_in, receipted_out, paid_in, billed_out, last_paid, unpaid FROM meter_peers`)
	if err != nil {
		return nil, fmt.Errorf("meter: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var u PeerUsage
		if err := rows.Scan(&u.Peer, &u.Uploaded, &u.Downloaded, &u.UnitsRun, &u.UnitsUsed,
			&u.ReceiptedIn, &u.ReceiptedOut, &u.PaidIn, &u.BilledOut, &u.lastPaid, &u.unpaid); err != nil {
			return nil, fmt.Errorf("meter: %w", err)
		}
		p, err := peer.Decode(u.Peer)
		if err != nil {
			continue
		}
		m.peers[p] = &u
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("meter: %w", err)
	}
	return m, nil
}

// usage returns p's record, creating it; m.mu must be held.
func (m *Meter) usage(p peer.ID) *PeerUsage {
	u := m.peers[p]
	if u == nil {
		u = &PeerUsage{Peer: p.String()}
		m.peers[p] = u
	}
	u.dirty = true
	return u
}

// Sent records n chunk bytes served to p.
func (m *Meter) Sent(p peer.ID, n int) {
	m.mu.Lock()
	m.usage(p).Uploaded += int64(n)
	m.mu.Unlock()
}

// Received records n verified chunk bytes from p, and asks for a receipt
// early once enough bytes from p are not covered by one.
func (m *Meter) Received(p peer.ID, n int) {
	m.mu.Lock()
	u := m.usage(p)
	u.Downloaded += int64(n)
	due := u.Downloaded-u.ReceiptedOut >= m.cfg.ReceiptBytes
	m.mu.Unlock()
	if due {
		select {
		case m.kick <- struct{}{}:
		default:
		}
	}
}

// UnitRun records a compute unit this node ran for p.
func (m *Meter) UnitRun(p peer.ID) {
	m.mu.Lock()
	m.usage(p).UnitsRun++
	m.mu.Unlock()
}

// UnitUsed records a compute unit p ran (and had validated) for this node.
func (m *Meter) UnitUsed(p peer.ID) {
	m.mu.Lock()
	m.usage(p).UnitsUsed++
	m.mu.Unlock()
}

// Priority returns p's class for scarce upload: ClassPays for a peer that
// sent a receipt paying at least this node's price within PaidFor with no
// failed payment since (only with billing on), ClassReciprocates for one
// that uploaded to this node at least half of what it downloaded from it
// (and at least 1 MiB), else ClassOther.
func (m *Meter) Priority(p peer.ID) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	u := m.peers[p]
	if u == nil {
		return ClassOther
	}
	return m.class(u, time.Now())
}

func (m *Meter) class(u *PeerUsage, now time.Time) int {
	if m.cfg.PricePerGiB > 0 && !u.unpaid && u.lastPaid != 0 && now.Sub(time.Unix(0, u.lastPaid)) < PaidFor {
		return ClassPays
	}
	if u.Downloaded >= reciprocityMin && 2*u.Downloaded >= u.Uploaded {
		return ClassReciprocates
	}
	return ClassOther
}

// Usage returns every peer's record, most traffic first.
func (m *Meter) Usage() []PeerUsage {
	m.mu.Lock()
	now := time.Now()
	out := make([]PeerUsage, 0, len(m.peers))
	for _, u := range m.peers {
		v := *u
		v.Class = m.class(u, now)
		v.dirty = false
		out = append(out, v)
	}
	m.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i].Uploaded+out[i].Downloaded, out[j].Uploaded+out[j].Downloaded
		if a != b {
			return a > b
		}
		return out[i].Peer < out[j].Peer
	})
	return out
}

// Receipts counts the receipts received, by state.
func (m *Meter) Receipts(ctx context.Context) (ReceiptCounts, error) {
	var c ReceiptCounts
	rows, err := m.cfg.DB.QueryContext(ctx, `SELECT state, COUNT(*) FROM meter_receipts GROUP BY state`)
	if err != nil {
		return c, fmt.Errorf("meter: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var s string
		var n int
		if err := rows.Scan(&s, &n); err != nil {
			return c, fmt.Errorf("meter: %w", err)
		}
		switch s {
		case "evidence":
			c.Evidence = n
		case "pending":
			c.Pending = n
		case "settled":
			c.Settled = n
		case "failed":
			c.Failed = n
		}
	}
	return c, rows.Err()
}

// PricePerGiB returns the configured price in micro-credits per GiB.
func (m *Meter) PricePerGiB() int64 { return m.cfg.PricePerGiB }

// Serve handles ReceiptProtocol and, until ctx ends, flushes counters,
// issues receipts and settles payments; it flushes once more on the way
// out and returns nil.
func (m *Meter) Serve(ctx context.Context) error {
	var wg sync.WaitGroup
	h := m.cfg.Host
	h.SetStreamHandler(ReceiptProtocol, func(s network.Stream) {
		wg.Add(1)
		defer wg.Done()
		m.handle(ctx, s)
	})
	defer func() {
		h.RemoveStreamHandler(ReceiptProtocol)
		wg.Wait()
		fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := m.flush(fctx); err != nil {
			m.log.Warn("meter: final flush", "err", err)
		}
	}()
	flush := time.NewTicker(m.cfg.FlushEvery)
	defer flush.Stop()
	receipts := time.NewTicker(m.cfg.ReceiptEvery)
	defer receipts.Stop()
	settle := time.NewTicker(m.cfg.SettleEvery)
	defer settle.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-flush.C:
			if err := m.flush(ctx); err != nil && ctx.Err() == nil {
				m.log.Warn("meter: flush", "err", err)
			}
		case <-receipts.C:
			m.issueAll(ctx)
		case <-m.kick:
			m.issueAll(ctx)
		case <-settle.C:
			if err := m.settle(ctx); err != nil && ctx.Err() == nil {
				m.log.Warn("meter: settle", "err", err)
			}
		}
	}
}

// flush writes the changed counters.
func (m *Meter) flush(ctx context.Context) error {
	m.mu.Lock()
	var dirty []PeerUsage
	for _, u := range m.peers {
		if u.dirty {
			dirty = append(dirty, *u)
			u.dirty = false
		}
	}
	m.mu.Unlock()
	if len(dirty) == 0 {
		return nil
	}
	err := m.inTx(ctx, func(tx *sql.Tx) error {
		for _, u := range dirty {
			if err := upsertUsage(ctx, tx, &u); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		m.mu.Lock()
		for _, u := range dirty {
			if p, e := peer.Decode(u.Peer); e == nil && m.peers[p] != nil {
				m.peers[p].dirty = true
			}
		}
		m.mu.Unlock()
	}
	return err
}

func upsertUsage(ctx context.Context, tx *sql.Tx, u *PeerUsage) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO meter_peers(peer, uploaded, downloaded, units_run, units_used,
			receipted_in, receipted_out, paid_in, billed_out, last_paid, unpaid)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT(peer) DO UPDATE SET uploaded = excluded.uploaded, downloaded = excluded.downloaded,
			units_run = excluded.units_run, units_used = excluded.units_used,
			receipted_in = excluded.receipted_in, receipted_out = excluded.receipted_out,
			paid_in = excluded.paid_in, billed_out = excluded.billed_out,
			last_paid = excluded.last_paid, unpaid = excluded.unpaid`,
		u.Peer, u.Uploaded, u.Downloaded, u.UnitsRun, u.UnitsUsed,
		u.ReceiptedIn, u.ReceiptedOut, u.PaidIn, u.BilledOut, u.lastPaid, u.unpaid)
	if err != nil {
		return fmt.Errorf("meter: %w", err)
	}
	return nil
}

func (m *Meter) inTx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := m.cfg.DB.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("meter: %w", err)
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("meter: %w", err)
	}
	return nil
}

// --- issuing receipts (this node downloaded) ---

// issueAll sends a receipt to every peer with bytes not covered yet.
func (m *Meter) issueAll(ctx context.Context) {
	m.mu.Lock()
	var due []peer.ID
	for p, u := range m.peers {
		if u.Downloaded > u.ReceiptedOut {
			due = append(due, p)
		}
	}
	m.mu.Unlock()
	for _, p := range due {
		if ctx.Err() != nil {
			return
		}
		if err := m.issue(ctx, p); err != nil && ctx.Err() == nil {
			m.log.Debug("meter: receipt not delivered", "peer", p, "err", err)
		}
	}
}

// issue sends payee the pending receipt, or a new one covering what it
// sent since the last, and records it as covered once payee acknowledges.
func (m *Meter) issue(ctx context.Context, payee peer.ID) error {
	r, err := m.pendingReceipt(ctx, payee)
	if err != nil {
		return err
	}
	if r == nil {
		m.mu.Lock()
		u := m.usage(payee)
		start, end := u.ReceiptedOut, u.Downloaded
		m.mu.Unlock()
		if end <= start {
			return nil
		}
		if m.cfg.PricePerGiB > 0 && Owed(end, m.cfg.PricePerGiB)-Owed(start, m.cfg.PricePerGiB) == 0 {
			return nil // too few bytes to owe a micro-credit yet
		}
		nr, err := NewTrafficReceipt(m.cfg.Key, payee.String(), m.epoch, start, end, m.cfg.PricePerGiB, time.Now().UnixNano())
		if err != nil {
			return err
		}
		b, err := nr.Encode()
		if err != nil {
			return err
		}
		if _, err := m.cfg.DB.ExecContext(ctx, `INSERT INTO meter_out(payee, receipt) VALUES (?, ?)`, payee.String(), b); err != nil {
			return fmt.Errorf("meter: %w", err)
		}
		r = &nr
	}
	refused, err := m.send(ctx, payee, r)
	if err != nil {
		return err
	}
	if refused != "" {
		m.log.Warn("meter: receipt refused", "peer", payee, "reason", refused)
	}
	// Acknowledged (or refused for good): these bytes are covered.
	err = m.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM meter_out WHERE payee = ?`, payee.String()); err != nil {
			return fmt.Errorf("meter: %w", err)
		}
		m.mu.Lock()
		u := m.usage(payee)
		u.ReceiptedOut = max(u.ReceiptedOut, r.End)
		u.Downloaded = max(u.Downloaded, r.End)
		if refused == "" && r.Payment != nil {
			u.BilledOut += r.Payment.Amount
		}
		v := *u
		m.mu.Unlock()
		return upsertUsage(ctx, tx, &v)
	})
	return err
}

// pendingReceipt returns the receipt issued to payee and not yet
// acknowledged, if any.
func (m *Meter) pendingReceipt(ctx context.Context, payee peer.ID) (*TrafficReceipt, error) {
	var b []byte
	err := m.cfg.DB.QueryRowContext(ctx, `SELECT receipt FROM meter_out WHERE payee = ?`, payee.String()).Scan(&b)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("meter: %w", err)
	}
	var r TrafficReceipt
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("meter: stored receipt: %w", err)
	}
	return &r, nil
}

type receiptResult struct {
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
}

// send delivers r to payee. It returns the payee's reason when it refused
// the receipt, or an error when the receipt may not have arrived.
func (m *Meter) send(ctx context.Context, payee peer.ID, r *TrafficReceipt) (string, error) {
	if m.cfg.Host.Network().Connectedness(payee) != network.Connected {
		return "", errors.New("meter: not connected")
	}
	b, err := r.Encode()
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	s, err := m.cfg.Host.NewStream(network.WithNoDial(ctx, "receipt"), payee, ReceiptProtocol)
	if err != nil {
		return "", fmt.Errorf("meter: %w", err)
	}
	defer s.Close()
	stop := context.AfterFunc(ctx, func() { s.Reset() })
	defer stop()
	if err := p2p.WriteMsg(s, b); err != nil {
		return "", fmt.Errorf("meter: %w", err)
	}
	if err := s.CloseWrite(); err != nil {
		return "", fmt.Errorf("meter: %w", err)
	}
	var res receiptResult
	if err := json.NewDecoder(io.LimitReader(s, maxResult)).Decode(&res); err != nil {
		return "", fmt.Errorf("meter: answer: %w", err)
	}
	if !res.OK {
		if res.Error == "" {
			res.Error = "refused"
		}
		return res.Error, nil
	}
	return "", nil
}

// --- receiving receipts (this node uploaded) ---

// readReceipt reads one length-prefixed receipt (p2p framing), refusing
// one over MaxReceiptSize before reading it.
func readReceipt(r io.Reader) ([]byte, error) {
	b, err := p2p.ReadMsg(r, MaxReceiptSize)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadReceipt, err)
	}
	return b, nil
}

func (m *Meter) handle(ctx context.Context, s network.Stream) {
	defer s.Close()
	_ = s.SetDeadline(time.Now().Add(10 * time.Second))
	// A stream that sends no receipt soon holds nothing for long.
	_ = s.SetReadDeadline(time.Now().Add(p2p.FirstRequestTimeout))
	from := s.Conn().RemotePeer()
	if !m.limit.Allow(from) {
		// Over its share: no answer, so the sender keeps the receipt
		// pending and sends it again later (an answer would be final).
		m.log.Debug("meter: too many receipts", "peer", from)
		_ = s.Reset()
		return
	}
	res := receiptResult{OK: true}
	b, err := readReceipt(s)
	if err == nil {
		var r TrafficReceipt
		if r, err = DecodeReceipt(b); err == nil {
			err = m.accept(ctx, from, r, b)
		}
	}
	if err != nil {
		m.log.Debug("meter: receipt refused", "peer", from, "err", err)
		res = receiptResult{Error: err.Error()}
		if len(res.Error) > maxResult-32 {
			res.Error = res.Error[:maxResult-32]
		}
	}
	_ = json.NewEncoder(s).Encode(res)
}

// accept stores a checked receipt from payer; a receipt already stored is
// acknowledged again, one overlapping a stored range is refused.
func (m *Meter) accept(ctx context.Context, from peer.ID, r TrafficReceipt, raw []byte) error {
	if r.Payer != from.String() {
		return fmt.Errorf("%w: sent by %s for payer %s", ErrBadReceipt, from, r.Payer)
	}
	if r.Payee != m.self.String() {
		return fmt.Errorf("%w: payee %s is not this node", ErrBadReceipt, r.Payee)
	}
	state, amount := "evidence", int64(0)
	if r.Payment != nil {
		state, amount = "pending", r.Payment.Amount
	}
	fresh := false
	err := m.inTx(ctx, func(tx *sql.Tx) error {
		var have int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM meter_receipts WHERE payer = ? AND epoch = ? AND end = ? AND start = ?`,
			r.Payer, r.Epoch, r.End, r.Start).Scan(&have); err != nil {
			return fmt.Errorf("meter: %w", err)
		}
		if have > 0 {
			return nil // a resent receipt whose answer was lost
		}
		var overlap int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM meter_receipts WHERE payer = ? AND epoch = ? AND start < ? AND end > ?`,
			r.Payer, r.Epoch, r.End, r.Start).Scan(&overlap); err != nil {
			return fmt.Errorf("meter: %w", err)
		}
		if overlap > 0 {
			return fmt.Errorf("%w: range (%d, %d] overlaps a receipt already held", ErrBadReceipt, r.Start, r.End)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO meter_receipts(payer, epoch, start, end, amount, time, receipt, state)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, r.Payer, r.Epoch, r.Start, r.End, amount, r.Time, raw, state); err != nil {
			return fmt.Errorf("meter: %w", err)
		}
		fresh = true
		m.mu.Lock()
		u := m.usage(from)
		u.ReceiptedIn += r.Bytes()
		if r.Payment != nil && m.cfg.PricePerGiB > 0 && r.Price >= m.cfg.PricePerGiB {
			u.lastPaid = time.Now().UnixNano()
		}
		v := *u
		m.mu.Unlock()
		return upsertUsage(ctx, tx, &v)
	})
	if err == nil && fresh {
		m.log.Debug("meter: receipt", "peer", from, "bytes", r.Bytes(), "amount", amount)
	}
	return err
}

// settle submits the pending payments to the ledger. A payment counts as
// settled only when the ledger's receipt is for that very transfer (ID,
// payer, payee, amount). A payment the ledger refuses for good
// (insufficient funds, bad signature, expired, invalid, its ID already
// used by the payer for another transfer) or answers with another
// transfer's receipt fails and marks its payer unpaid; other errors leave
// it pending.
func (m *Meter) settle(ctx context.Context) error {
	if m.cfg.Submit == nil {
		return nil
	}
	rows, err := m.cfg.DB.QueryContext(ctx, `SELECT payer, epoch, end, receipt FROM meter_receipts
		WHERE state = 'pending' ORDER BY time LIMIT ?`, settleBatch)
	if err != nil {
		return fmt.Errorf("meter: %w", err)
	}
	type item struct {
		payer, epoch string
		end          int64
		r            TrafficReceipt
	}
	var items []item
	for rows.Next() {
		var it item
		var b []byte
		if err := rows.Scan(&it.payer, &it.epoch, &it.end, &b); err != nil {
			rows.Close()
			return fmt.Errorf("meter: %w", err)
		}
		if err := json.Unmarshal(b, &it.r); err != nil || it.r.Payment == nil {
			it.r = TrafficReceipt{}
		}
		items = append(items, it)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("meter: %w", err)
	}
	for _, it := range items {
		state, reason := "failed", "stored receipt unreadable"
		var paid int64
		if it.r.Payment != nil {
			sctx, cancel := context.WithTimeout(ctx, 15*time.Second)
			rc, err := m.cfg.Submit(sctx, *it.r.Payment)
			cancel()
			switch {
			case err == nil && !rc.Matches(&it.r.Payment.Transfer):
				// The ledger answered for another transfer under this ID
				// (one the payer spent the ID on first, under rules that
				// did not scope IDs to their signer): the debt is unpaid.
				reason = fmt.Sprintf("the ledger's receipt for payment %s is for %s from %s to %s, not %s from %s to %s",
					it.r.Payment.ID, ledger.FormatCredits(rc.Amount), rc.From, rc.To,
					ledger.FormatCredits(it.r.Payment.Amount), it.r.Payment.From, it.r.Payment.To)
			case err == nil:
				state, reason, paid = "settled", "", it.r.Payment.Amount
			case errors.Is(err, ledger.ErrInsufficientFunds), errors.Is(err, ledger.ErrBadSignature), errors.Is(err, ledger.ErrExpired),
				errors.Is(err, ledger.ErrInvalid), errors.Is(err, ledger.ErrUnknownAccount), errors.Is(err, ledger.ErrConflict):
				reason = err.Error()
			default:
				if ctx.Err() != nil {
					return nil
				}
				m.log.Debug("meter: settlement postponed", "payer", it.payer, "err", err)
				continue
			}
		}
		p, _ := peer.Decode(it.payer)
		err := m.inTx(ctx, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, `UPDATE meter_receipts SET state = ?, reason = ? WHERE payer = ? AND epoch = ? AND end = ?`,
				state, reason, it.payer, it.epoch, it.end); err != nil {
				return fmt.Errorf("meter: %w", err)
			}
			m.mu.Lock()
			u := m.usage(p)
			u.PaidIn += paid
			u.unpaid = state == "failed"
			v := *u
			m.mu.Unlock()
			return upsertUsage(ctx, tx, &v)
		})
		if err != nil {
			return err
		}
		if state == "failed" {
			m.log.Warn("meter: traffic payment refused", "payer", it.payer, "reason", reason)
		}
	}
	return nil
}
