package ledger

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"math/bits"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Log entry commands. The first byte of a raft log entry's data says which.
const (
	cmdBatch   byte = 1 // leader time (int64 BE), count (uvarint), signed transfers
	cmdGenesis byte = 2 // JSON Genesis
	// cmdBatchV2 is cmdBatch written by a leader that applies RulesV2: the
	// state moves to those rules (for good) before applying the entry.
	// Entries written before keep the rules they were applied under, so
	// an old log replays to the state it had.
	cmdBatchV2 byte = 3
)

// Rule sets of the state machine, recorded in its state (state.Rules).
const (
	// RulesV1 is the original rule set: transfer IDs global, fees rounded
	// down, settlement by the voters a seller named.
	RulesV1 = 0
	// RulesV2 scopes transfer IDs to their signer and refuses an ID reused
	// with other content (ErrConflict), rounds fees up, charges OpenFee for
	// a payment that opens an account (with an operator), registers a listing
	// only with its key sealed to current voters, and lets only current
	// voters settle an order, a release carrying the key, which must
	// match the listing's commitment (escrow.go).
	RulesV2 = 2
)

// OpenFee is what a payment that opens an account (one the ledger has
// never seen) pays the operator on top of its fee, under RulesV2 on a
// ledger with an operator: every account in every voter's state costs
// whoever made it at least this much, so a stranger's dust accounts are
// bounded by the credits it is willing to give up (0.001 credits each).
const OpenFee = 1000

// Bounds on a batch entry, checked before decoding it.
const (
	maxBatch     = 4096
	historyLimit = 100 // transfers kept per account for History
	// snapshotMagic starts a snapshot written by this version: the JSON
	// state with Rules and Voters. v1 snapshots (no such fields) are still
	// read, as RulesV1 with voters unknown until the next configuration.
	snapshotMagic   = "peerpath-ledger-snapshot-v2"
	snapshotMagicV1 = "peerpath-ledger-snapshot-v1"
)

// TxResult is the outcome of one transfer in a batch entry.
type TxResult struct {
	Receipt Receipt
	Err     error
}

// appliedRec is what the state keeps for an applied transfer ID.
type appliedRec struct {
	Receipt Receipt `json:"r"`
	TxTime  int64   `json:"t"` // the transfer's own Time, for expiry
	// Hash is contentHash of the transfer (RulesV2): a retry with the same
	// content gets the receipt, other content under the ID is refused.
	Hash []byte `json:"h,omitempty"`
}

// state is the replicated ledger state. Every field is deterministic
// from the log.
type state struct {
	Index      uint64                `json:"index"` // last log index applied
	Genesis    *Genesis              `json:"genesis"`
	Supply     int64                 `json:"supply"`
	Clock      int64                 `json:"clock"` // max leader time seen
	LastPrune  int64                 `json:"last_prune"`
	Balances   map[string]int64      `json:"balances"`
	Applied    map[string]appliedRec `json:"applied"`
	Granted    map[string]bool       `json:"granted"`
	GrantHour  int64                 `json:"grant_hour"`
	GrantCount int                   `json:"grant_count"`
	History    map[string][]Transfer `json:"history"`
	// Market state (escrow.go). Values are replaced, never modified in
	// place, because snapshots share them.
	Listings map[string]MarketListing `json:"listings,omitempty"`
	Orders   map[string]Order         `json:"orders,omitempty"`
	Ratings  map[string][]Rating      `json:"ratings,omitempty"`
	// Rules is the rule set in force (RulesV1, RulesV2); it only grows.
	Rules int `json:"rules,omitempty"`
	// Voters are the ledger's current voters, from the raft configuration
	// entries in the log (StoreConfiguration), sorted; nil when unknown (a
	// state restored from a v1 snapshot, until the next configuration).
	Voters []string `json:"voters,omitempty"`
}

func newState() *state {
	return &state{
		Balances: map[string]int64{},
		Applied:  map[string]appliedRec{},
		Granted:  map[string]bool{},
		History:  map[string][]Transfer{},
		Listings: map[string]MarketListing{},
		Orders:   map[string]Order{},
		Ratings:  map[string][]Rating{},
	}
}

// FSM is the ledger's raft state machine. It is safe for concurrent reads
// (Balance, History, CheckInvariant) while raft applies entries.
type FSM struct {
	mu   sync.RWMutex
	st   *state
	memo sigMemo
	// snapVoters are the voters in the newest local snapshot's raft
	// metadata, for a v1 snapshot (which does not hold them) restored at
	// start (hintSnapshotVoters).
	snapVoters []string
}

var _ raft.FSM = (*FSM)(nil)

// NewFSM returns an empty state machine (no ledger until a genesis applies).
func NewFSM() *FSM { return &FSM{st: newState()} }

// encodeBatch encodes a batch entry stamped with the leader's time.
func encodeBatch(now int64, txs []SignedTransfer) []byte {
	b := make([]byte, 0, 16+len(txs)*256)
	b = append(b, cmdBatchV2)
	b = binary.BigEndian.AppendUint64(b, uint64(now))
	b = binary.AppendUvarint(b, uint64(len(txs)))
	for i := range txs {
		b = appendSigned(b, &txs[i])
	}
	return b
}

// decodeBatch decodes the body of a batch entry (after the command byte).
func decodeBatch(b []byte) (int64, []SignedTransfer, error) {
	r := reader{b: b}
	now := int64(r.u64())
	n := r.uvarint()
	if r.err != nil {
		return 0, nil, r.err
	}
	if n > maxBatch || n > uint64(len(r.b)) {
		return 0, nil, fmt.Errorf("ledger: batch of %d transfers over limit", n)
	}
	txs := make([]SignedTransfer, 0, n)
	for i := uint64(0); i < n && r.err == nil; i++ {
		txs = append(txs, r.signed())
	}
	if r.err != nil {
		return 0, nil, r.err
	}
	if len(r.b) != 0 {
		return 0, nil, fmt.Errorf("ledger: %d trailing bytes after batch", len(r.b))
	}
	return now, txs, nil
}

func encodeGenesis(g Genesis) ([]byte, error) {
	j, err := json.Marshal(g)
	if err != nil {
		return nil, fmt.Errorf("ledger: encode genesis: %w", err)
	}
	return append([]byte{cmdGenesis}, j...), nil
}

// Apply applies one committed log entry. A batch entry returns []TxResult,
// one per transfer in order; a genesis entry returns an error or nil.
func (f *FSM) Apply(l *raft.Log) interface{} {
	// The index advances only once the entry's effects are in place, so a
	// reader that sees AppliedIndex >= i also sees entry i applied.
	defer f.advance(l.Index)
	if l.Type != raft.LogCommand || len(l.Data) == 0 {
		return nil
	}
	switch l.Data[0] {
	case cmdBatch, cmdBatchV2:
		now, txs, err := decodeBatch(l.Data[1:])
		if err != nil {
			return err
		}
		rules := RulesV1
		if l.Data[0] == cmdBatchV2 {
			rules = RulesV2
		}
		return f.applyBatch(l.Index, now, rules, txs)
	case cmdGenesis:
		var g Genesis
		if err := json.Unmarshal(l.Data[1:], &g); err != nil {
			return fmt.Errorf("ledger: genesis entry: %w", err)
		}
		return f.applyGenesis(g)
	default:
		return fmt.Errorf("ledger: unknown command %d", l.Data[0])
	}
}

// StoreConfiguration records the voters of a committed raft configuration
// entry (raft calls it in log order with Apply, raft.ConfigurationStore), so
// the state machine itself knows who the current voters are.
func (f *FSM) StoreConfiguration(index uint64, c raft.Configuration) {
	defer f.advance(index)
	voters := votersOf(c)
	f.mu.Lock()
	f.st.Voters = voters
	f.mu.Unlock()
}

// hintSnapshotVoters notes the voters of the newest snapshot in snaps, so
// that restoring it, should it be a v1 snapshot (no voters in the state),
// still leaves the state knowing them. The configuration in a snapshot's
// metadata is the one in force at its index: a function of the log, the
// same on every voter. Call before raft starts.
func (f *FSM) hintSnapshotVoters(snaps raft.SnapshotStore) {
	metas, err := snaps.List()
	if err != nil || len(metas) == 0 {
		return
	}
	f.snapVoters = votersOf(metas[0].Configuration)
}

func votersOf(c raft.Configuration) []string {
	voters := []string{}
	for _, srv := range c.Servers {
		if srv.Suffrage == raft.Voter {
			voters = append(voters, string(srv.ID))
		}
	}
	sort.Strings(voters)
	return voters
}

// advance records index as the last one applied.
func (f *FSM) advance(index uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if index > f.st.Index {
		f.st.Index = index
	}
}

func (f *FSM) applyGenesis(g Genesis) error {
	if err := g.Validate(); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.st.Genesis != nil {
		return ErrLedgerExists
	}
	st := newState()
	st.Index = f.st.Index
	st.Voters = f.st.Voters
	st.Rules = f.st.Rules
	st.Genesis = &g
	for k, v := range g.Balances {
		st.Balances[k] = v
	}
	st.Supply = g.Supply()
	f.st = st
	return nil
}

func (f *FSM) applyBatch(index uint64, now int64, rules int, txs []SignedTransfer) []TxResult {
	verr := f.verifyAll(txs)
	f.mu.Lock()
	defer f.mu.Unlock()
	st := f.st
	if st.Genesis != nil && rules > st.Rules {
		st.Rules = rules
	}
	if now > st.Clock {
		st.Clock = now
	}
	res := make([]TxResult, len(txs))
	for i := range txs {
		if verr[i] != nil {
			res[i].Err = verr[i]
			continue
		}
		res[i].Receipt, res[i].Err = st.apply(index, &txs[i])
	}
	st.prune()
	if debugInvariant {
		if err := st.check(); err != nil {
			panic(err)
		}
	}
	return res
}

// apply applies one verified transfer. Caller holds the lock.
func (st *state) apply(index uint64, t *SignedTransfer) (Receipt, error) {
	if st.Genesis == nil {
		return Receipt{}, ErrNoLedger
	}
	key := st.appliedKey(t)
	hash := contentHash(t)
	if rec, ok := st.Applied[key]; ok {
		return st.replay(t, rec, hash)
	}
	if key != t.ID {
		// An ID applied under RulesV1 (keyed alone, signer unknown) is
		// remembered for one more ID window: treat it as before.
		if rec, ok := st.Applied[t.ID]; ok && rec.Hash == nil {
			return st.replay(t, rec, hash)
		}
	}
	w := st.Genesis.window()
	if t.Time < st.Clock-w || t.Time > st.Clock+w {
		return Receipt{}, fmt.Errorf("%w: transfer %s time %s, ledger clock %s", ErrExpired, t.ID,
			time.Unix(0, t.Time).UTC().Format(time.RFC3339), time.Unix(0, st.Clock).UTC().Format(time.RFC3339))
	}
	if _, err := peer.Decode(t.To); err != nil {
		return Receipt{}, fmt.Errorf("%w: %q", ErrUnknownAccount, t.To)
	}
	rec := Receipt{ID: t.ID, Index: index, Time: st.Clock, Kind: t.Kind, From: t.From, To: t.To}
	hist := t.Transfer
	hist.Fee = 0 // the ledger's to set, below
	switch t.Kind {
	case KindTransfer:
		fee, err := st.fee(t.Amount)
		if err != nil {
			return Receipt{}, err
		}
		if st.opens(t.To) {
			fee += OpenFee
		}
		need, err := st.need(t.Amount, fee)
		if err != nil {
			return Receipt{}, err
		}
		if st.Balances[t.From] < need {
			return Receipt{}, fmt.Errorf("%w: %s has %s, needs %s", ErrInsufficientFunds, t.From,
				FormatCredits(st.Balances[t.From]), FormatCredits(need))
		}
		st.add(t.From, -need)
		st.add(t.To, t.Amount)
		if fee > 0 {
			st.add(st.Genesis.Operator, fee)
		}
		rec.Amount, rec.Fee = t.Amount, fee
		hist.Fee = fee
		st.record(t.From, hist)
	case KindGrant:
		g := st.Genesis.Grant
		if g == nil {
			return Receipt{}, fmt.Errorf("%w: no grant configured", ErrGrantRefused)
		}
		if _, seen := st.Balances[t.To]; seen || st.Granted[t.To] {
			return Receipt{}, fmt.Errorf("%w: %s is not a new account", ErrGrantRefused, t.To)
		}
		hour := st.Clock / int64(time.Hour)
		if hour != st.GrantHour {
			st.GrantHour, st.GrantCount = hour, 0
		}
		if st.GrantCount >= g.MaxPerHour {
			return Receipt{}, fmt.Errorf("%w: %d grants this hour", ErrGrantRefused, st.GrantCount)
		}
		if st.Supply > math.MaxInt64-g.Amount {
			return Receipt{}, fmt.Errorf("%w: supply would overflow", ErrGrantRefused)
		}
		st.GrantCount++
		st.Granted[t.To] = true
		st.Supply += g.Amount
		st.add(t.To, g.Amount)
		rec.Amount = g.Amount
		hist.Amount = g.Amount
	default:
		if err := st.applyMarket(t, &rec); err != nil {
			return Receipt{}, err
		}
		hist.Data = nil // history stays small; the state holds what matters
		if t.Kind == KindBuy {
			hist.Fee = rec.Fee // the buyer paid it into escrow with the price
		}
		if t.From != t.To {
			st.record(t.From, hist)
		}
	}
	st.record(t.To, hist)
	ar := appliedRec{Receipt: rec, TxTime: t.Time}
	if st.Rules >= RulesV2 {
		ar.Hash = hash
	}
	st.Applied[key] = ar
	return rec, nil
}

// opens reports whether a payment to acct opens an account and so pays
// OpenFee: under RulesV2, on a ledger with an operator, to an account the
// ledger has never seen (the operator's own excepted).
func (st *state) opens(acct string) bool {
	if st.Rules < RulesV2 || st.Genesis.Operator == "" || acct == st.Genesis.Operator {
		return false
	}
	_, seen := st.Balances[acct]
	return !seen
}

// appliedKey is the key of t's ID in st.Applied: under RulesV2 the ID is
// scoped to its signer, so no account can make another's ID "applied".
func (st *state) appliedKey(t *SignedTransfer) string {
	if st.Rules < RulesV2 {
		return t.ID
	}
	return t.Signer() + "/" + t.ID
}

// replay answers a transfer whose ID already applied (rec): a purchase is
// refused (refuseReplay); under RulesV2 other content under the same ID is
// refused with ErrConflict; a true retry gets the first receipt.
func (st *state) replay(t *SignedTransfer, rec appliedRec, hash []byte) (Receipt, error) {
	if err := refuseReplay(t, rec.Receipt); err != nil {
		return Receipt{}, err
	}
	// A record from RulesV1 has no hash: it answers as it did then.
	if st.Rules >= RulesV2 && rec.Hash != nil && !bytes.Equal(rec.Hash, hash) {
		return Receipt{}, fmt.Errorf("%w: transfer id %s was already used by %s for other content (ledger index %d); sign a new id",
			ErrConflict, t.ID, t.Signer(), rec.Receipt.Index)
	}
	r := rec.Receipt
	r.Replay = true
	return r, nil
}

// contentHash identifies what a transfer asks for: its signed fields but
// its Time (a retry re-signed later is the same transfer), hashed.
func contentHash(t *SignedTransfer) []byte {
	c := t.Transfer
	c.Time = 0
	sum := sha256.Sum256(c.appendBody(nil))
	return sum[:16]
}

// fee returns the operator fee on amount: amount*FeeBPS/10000, rounded
// up under RulesV2 (so any payment pays at least one micro-credit when the
// fee is on, and splitting a payment saves nothing), down before; without
// overflow.
func (st *state) fee(amount int64) (int64, error) {
	bps := uint64(st.Genesis.FeeBPS)
	if bps == 0 || amount <= 0 {
		return 0, nil
	}
	hi, lo := bits.Mul64(uint64(amount), bps)
	if hi >= 10000 {
		return 0, fmt.Errorf("%w: amount %s is too large", ErrInvalid, FormatCredits(amount))
	}
	q, r := bits.Div64(hi, lo, 10000)
	if r != 0 && st.Rules >= RulesV2 {
		q++
	}
	if q > math.MaxInt64 {
		return 0, fmt.Errorf("%w: amount %s is too large", ErrInvalid, FormatCredits(amount))
	}
	return int64(q), nil
}

// need returns amount plus fee, refusing (ErrInvalid, a bad request) a
// sum that does not fit in an int64: no balance could ever cover it, and
// it must never reach a balance or an error as a negative figure.
func (st *state) need(amount, fee int64) (int64, error) {
	if amount < 0 || fee < 0 || amount > math.MaxInt64-fee {
		return 0, fmt.Errorf("%w: amount %s is too large", ErrInvalid, FormatCredits(amount))
	}
	return amount + fee, nil
}

// add changes a balance. Accounts are kept once seen, even at zero, so a
// grant can tell a new account from an emptied one.
func (st *state) add(acct string, delta int64) {
	st.Balances[acct] += delta
}

// record appends to an account's history, keeping between historyLimit and
// twice that many entries (trimmed in one copy, amortised).
func (st *state) record(acct string, t Transfer) {
	h := append(st.History[acct], t)
	if len(h) >= 2*historyLimit {
		h = append(make([]Transfer, 0, 2*historyLimit), h[len(h)-historyLimit:]...)
	}
	st.History[acct] = h
}

// prune forgets applied IDs whose transfer time is older than the window;
// apply refuses such transfers as expired, so forgetting them can never let
// one apply twice. Runs at most every quarter window of ledger time.
func (st *state) prune() {
	if st.Genesis == nil {
		return
	}
	w := st.Genesis.window()
	if st.Clock-st.LastPrune < w/4 {
		return
	}
	st.LastPrune = st.Clock
	for id, rec := range st.Applied {
		if rec.TxTime < st.Clock-w {
			delete(st.Applied, id)
		}
	}
	st.pruneMarket()
}

// Balance returns an account's balance; unknown accounts have zero.
func (f *FSM) Balance(acct string) (int64, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.st.Genesis == nil {
		return 0, ErrNoLedger
	}
	return f.st.Balances[acct], nil
}

// History returns up to limit of the account's most recent transfers,
// newest first (at most historyLimit are kept per account).
func (f *FSM) History(acct string, limit int) ([]Transfer, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.st.Genesis == nil {
		return nil, ErrNoLedger
	}
	h := f.st.History[acct]
	if limit <= 0 || limit > historyLimit {
		limit = historyLimit
	}
	limit = min(limit, len(h))
	out := make([]Transfer, 0, limit)
	for i := len(h) - 1; i >= 0 && len(out) < limit; i-- {
		out = append(out, h[i])
	}
	return out, nil
}

// Lookup returns the receipt of signer's applied transfer ID, if still
// remembered (IDs are scoped to their signer; an ID applied under RulesV1
// is found by the ID alone).
func (f *FSM) Lookup(signer, id string) (Receipt, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if rec, ok := f.st.Applied[signer+"/"+id]; ok {
		return rec.Receipt, true
	}
	rec, ok := f.st.Applied[id]
	return rec.Receipt, ok && rec.Hash == nil
}

// Rules returns the rule set in force (RulesV1 or RulesV2).
func (f *FSM) Rules() int {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.st.Rules
}

// Voters returns the current voters as the state machine knows them from
// the log (nil: not known yet).
func (f *FSM) Voters() []string {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return slices.Clone(f.st.Voters)
}

// hasGenesis reports whether a genesis has been applied here.
func (f *FSM) hasGenesis() bool {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.st.Genesis != nil
}

// AppliedIndex returns the last raft log index applied to this state
// (raft's own AppliedIndex may run ahead of the state machine).
func (f *FSM) AppliedIndex() uint64 {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.st.Index
}

// Supply returns the current supply (zero before genesis).
func (f *FSM) Supply() int64 {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.st.Supply
}

// Balances returns a copy of all balances.
func (f *FSM) Balances() map[string]int64 {
	f.mu.RLock()
	defer f.mu.RUnlock()
	out := make(map[string]int64, len(f.st.Balances))
	for k, v := range f.st.Balances {
		out[k] = v
	}
	return out
}

// CheckInvariant verifies that the balances sum to the supply and none is
// negative.
func (f *FSM) CheckInvariant() error {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.st.check()
}

func (st *state) check() error {
	var sum int64
	for k, v := range st.Balances {
		if v < 0 {
			return fmt.Errorf("ledger: invariant: %s has negative balance %d", k, v)
		}
		sum += v
	}
	esc := st.escrow()
	if esc < 0 {
		return fmt.Errorf("ledger: invariant: negative escrow %d", esc)
	}
	sum += esc
	if sum != st.Supply {
		return fmt.Errorf("ledger: invariant: balances and escrow sum to %d, supply is %d", sum, st.Supply)
	}
	return nil
}

// Snapshot captures the full state. It copies the maps under the lock
// (History slices are shared: entries below a slice's length are never
// modified, appends go past it and trims allocate anew) and encodes them
// later in Persist, off the apply path.
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	cp := *f.st
	cp.Balances = maps.Clone(f.st.Balances)
	cp.Applied = maps.Clone(f.st.Applied)
	cp.Granted = maps.Clone(f.st.Granted)
	cp.History = maps.Clone(f.st.History)
	cp.Listings = maps.Clone(f.st.Listings)
	cp.Orders = maps.Clone(f.st.Orders)
	cp.Ratings = maps.Clone(f.st.Ratings)
	// Voters is replaced, never modified in place: shared safely.
	return &fsmSnapshot{st: &cp}, nil
}

// Restore replaces the state with a snapshot written by Snapshot.
func (f *FSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	st, err := readSnapshot(rc)
	if err != nil {
		return err
	}
	if st.Voters == nil && len(f.snapVoters) > 0 {
		st.Voters = f.snapVoters // a v1 snapshot: voters from its metadata
	}
	f.snapVoters = nil // only for the restore at start
	f.mu.Lock()
	f.st = st
	f.mu.Unlock()
	return nil
}

func readSnapshot(r io.Reader) (*state, error) {
	magic := make([]byte, len(snapshotMagic))
	if _, err := io.ReadFull(r, magic); err != nil || (string(magic) != snapshotMagic && string(magic) != snapshotMagicV1) {
		return nil, errors.New("ledger: restore: not a ledger snapshot")
	}
	st := newState()
	if err := json.NewDecoder(r).Decode(st); err != nil {
		return nil, fmt.Errorf("ledger: restore: %w", err)
	}
	if string(magic) == snapshotMagicV1 {
		st.Rules, st.Voters = RulesV1, nil
	}
	if st.Balances == nil || st.Applied == nil || st.Granted == nil || st.History == nil {
		return nil, errors.New("ledger: restore: incomplete snapshot")
	}
	// Snapshots from before the market had no market maps.
	if st.Listings == nil {
		st.Listings = map[string]MarketListing{}
	}
	if st.Orders == nil {
		st.Orders = map[string]Order{}
	}
	if st.Ratings == nil {
		st.Ratings = map[string][]Rating{}
	}
	return st, nil
}

type fsmSnapshot struct{ st *state }

// Persist writes the snapshot magic and the JSON state to sink.
func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	w := bufio.NewWriterSize(sink, 1<<16)
	_, err := w.WriteString(snapshotMagic)
	if err == nil {
		err = json.NewEncoder(w).Encode(s.st)
	}
	if err == nil {
		err = w.Flush()
	}
	if err != nil {
		sink.Cancel()
		return fmt.Errorf("ledger: persist snapshot: %w", err)
	}
	return sink.Close()
}

// Release is a no-op: the copy is garbage collected.
func (s *fsmSnapshot) Release() {}

// sortedKeys is used where iteration order must not matter to callers.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
