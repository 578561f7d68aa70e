package ledger

import (
	"bytes"
	"errors"
	"io"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// applyV1 applies a single-transfer batch the way a leader of the original
// rules wrote it (cmdBatch), as when an old log is replayed.
func applyV1(t *testing.T, f *FSM, index uint64, now time.Time, st SignedTransfer) TxResult {
	t.Helper()
	data := encodeBatch(now.UnixNano(), []SignedTransfer{st})
	data[0] = cmdBatch
	res, ok := f.Apply(&raft.Log{Index: index, Type: raft.LogCommand, Data: data}).([]TxResult)
	if !ok || len(res) != 1 {
		t.Fatal("apply: bad result")
	}
	return res[0]
}

func signAt(t *testing.T, a account, tr Transfer, at time.Time) SignedTransfer {
	t.Helper()
	tr.From, tr.Time = a.id, at.UnixNano()
	st, err := Sign(a.key, tr)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// Transfer IDs are scoped to their signer: another account's transfer
// under the same ID applies as its own; the signer's own reuse with other
// content is ErrConflict; a true retry (same content, signed again later)
// gets the first receipt.
func TestTransferIDScopedToSigner(t *testing.T) {
	alice, bob, carol := newAccount(t), newAccount(t), newAccount(t)
	f := newLedger(t, Genesis{Balances: map[string]int64{alice.id: 1000, bob.id: 1000}})
	now := time.Now()
	first := signAt(t, alice, Transfer{ID: "shared-id", To: carol.id, Amount: 1}, now)
	if r := applyOne(t, f, 2, now, first); r.Err != nil {
		t.Fatal(r.Err)
	}
	bobs := signAt(t, bob, Transfer{ID: "shared-id", To: carol.id, Amount: 500}, now)
	r := applyOne(t, f, 3, now, bobs)
	if r.Err != nil || r.Receipt.Replay || r.Receipt.Amount != 500 || r.Receipt.From != bob.id {
		t.Fatalf("bob's transfer under alice's id: %+v", r)
	}
	other := signAt(t, bob, Transfer{ID: "shared-id", To: carol.id, Amount: 700}, now)
	if r := applyOne(t, f, 4, now, other); !errors.Is(r.Err, ErrConflict) || !strings.Contains(r.Err.Error(), "already used") {
		t.Fatalf("bob's id reused with other content: %+v", r)
	}
	retry := signAt(t, bob, Transfer{ID: "shared-id", To: carol.id, Amount: 500}, now.Add(time.Second))
	if r := applyOne(t, f, 5, now, retry); r.Err != nil || !r.Receipt.Replay || r.Receipt.Index != 3 {
		t.Fatalf("bob's true retry: %+v", r)
	}
	if balance(t, f, bob.id) != 500 || balance(t, f, carol.id) != 501 {
		t.Fatalf("bob %d carol %d", balance(t, f, bob.id), balance(t, f, carol.id))
	}
}

// An old log replays as it applied: under RulesV1 IDs were global and
// fees rounded down; the first RulesV2 entry moves the state on for good,
// and an ID applied under RulesV1 still answers as a replay while it is
// remembered.
func TestRulesV1LogReplays(t *testing.T) {
	alice, bob, op := newAccount(t), newAccount(t), newAccount(t)
	f := newLedger(t, Genesis{Balances: map[string]int64{alice.id: 1000, bob.id: 1000}, FeeBPS: 100, Operator: op.id})
	now := time.Now()
	a := signAt(t, alice, Transfer{ID: "old-id", To: bob.id, Amount: 50}, now)
	if r := applyV1(t, f, 2, now, a); r.Err != nil || r.Receipt.Fee != 0 {
		t.Fatalf("v1 transfer: %+v", r)
	}
	b := signAt(t, bob, Transfer{ID: "old-id", To: alice.id, Amount: 10}, now)
	if r := applyV1(t, f, 3, now, b); r.Err != nil || !r.Receipt.Replay {
		t.Fatalf("v1: another signer's reuse answered as a replay: %+v", r)
	}
	if f.Rules() != RulesV1 {
		t.Fatalf("rules %d", f.Rules())
	}
	c := signAt(t, alice, Transfer{ID: NewID(), To: bob.id, Amount: 50}, now)
	if r := applyOne(t, f, 4, now, c); r.Err != nil || r.Receipt.Fee != 1 || f.Rules() != RulesV2 {
		t.Fatalf("v2 transfer: %+v, rules %d", r, f.Rules())
	}
	// A v1 entry after the move applies under RulesV2 (rules never go back).
	d := signAt(t, alice, Transfer{ID: NewID(), To: bob.id, Amount: 50}, now)
	if r := applyV1(t, f, 5, now, d); r.Err != nil || r.Receipt.Fee != 1 {
		t.Fatalf("v1 entry after v2: %+v", r)
	}
	if r := applyOne(t, f, 6, now, a); r.Err != nil || !r.Receipt.Replay || r.Receipt.Index != 2 {
		t.Fatalf("retry of an id applied under v1: %+v", r)
	}
}

// An amount whose fee or sum with the fee overflows is a bad request,
// never insufficient funds with a negative figure.
func TestOverLargeAmountInvalid(t *testing.T) {
	alice, bob, op := newAccount(t), newAccount(t), newAccount(t)
	f := newLedger(t, Genesis{Balances: map[string]int64{alice.id: 1000}, FeeBPS: 100, Operator: op.id})
	now := time.Now()
	for i, amount := range []int64{math.MaxInt64, math.MaxInt64 - 100} {
		r := applyOne(t, f, uint64(2+i), now, signAt(t, alice, Transfer{ID: NewID(), To: bob.id, Amount: amount}, now))
		if !errors.Is(r.Err, ErrInvalid) || strings.Contains(r.Err.Error(), "-") && strings.Contains(r.Err.Error(), "needs -") {
			t.Fatalf("amount %d: %v", amount, r.Err)
		}
	}
}

// Only the ledger's current voters settle, whatever the seller sealed
// its key to; a release must carry the key matching the commitment.
func TestEscrowAuthorityIsTheVoters(t *testing.T) {
	m := newMarket(t)
	// A listing sealed to its seller (or to anyone not a voter) is refused.
	for _, sealed := range [][]account{{m.seller}, {m.voter, m.seller}, {m.buyer}} {
		r := m.apply(t, marketOp(t, m.seller, KindList, m.seller.id, 1000, NewID(), listingKey(sealed...), m.now))
		if !errors.Is(r.Err, ErrListing) || !strings.Contains(r.Err.Error(), "not a current voter") {
			t.Fatalf("listing sealed to %v: %v", sealed, r.Err)
		}
	}
	order := m.apply(t, marketOp(t, m.buyer, KindBuy, m.seller.id, 1000, m.listing, bytes.Repeat([]byte{1}, 32), m.now))
	if order.Err != nil {
		t.Fatal(order.Err)
	}
	id := order.Receipt.ID
	// The seller cannot release to itself, even with the right key.
	if r := m.apply(t, marketOp(t, m.seller, KindRelease, m.seller.id, 0, id, release("box"), m.now)); !errors.Is(r.Err, ErrNotPermitted) {
		t.Fatalf("seller's release: %v", r.Err)
	}
	// A voter's release with a key not matching the commitment, or in the
	// old form (no key), is refused.
	wrong := Release{Key: []byte("AGE-SECRET-KEY-1WRONG"), Box: []byte("box")}.Encode()
	if r := m.apply(t, marketOp(t, m.voter, KindRelease, m.seller.id, 0, id, wrong, m.now)); !errors.Is(r.Err, ErrNotPermitted) ||
		!strings.Contains(r.Err.Error(), "commitment") {
		t.Fatalf("release with a wrong key: %v", r.Err)
	}
	if r := m.apply(t, marketOp(t, m.voter, KindRelease, m.seller.id, 0, id, []byte("box only"), m.now)); !errors.Is(r.Err, ErrInvalid) {
		t.Fatalf("release without a key: %v", r.Err)
	}
	// A voter removed from the configuration settles nothing any more.
	withVoters(m.f, m.idx, m.op)
	m.idx++
	if r := m.apply(t, marketOp(t, m.voter, KindRelease, m.seller.id, 0, id, release("box"), m.now)); !errors.Is(r.Err, ErrNotPermitted) {
		t.Fatalf("release by a former voter: %v", r.Err)
	}
	withVoters(m.f, m.idx, m.voter)
	m.idx++
	r := m.apply(t, marketOp(t, m.voter, KindRelease, m.seller.id, 0, id, release("box"), m.now))
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	o, _ := m.f.Order(id)
	if o.State != OrderReleased || string(o.SealedKey) != "box" || bytes.Contains(o.SealedKey, testContentKey) {
		t.Fatalf("released order %+v", o)
	}
}

// The voters come from raft's configuration entries and survive a
// snapshot; a v1 snapshot restores as RulesV1 with voters unknown.
func TestSnapshotKeepsRulesAndVoters(t *testing.T) {
	m := newMarket(t)
	var buf memSink
	snap, _ := m.f.Snapshot()
	if err := snap.Persist(&buf); err != nil {
		t.Fatal(err)
	}
	st, err := readSnapshot(bytes.NewReader(buf.Bytes()))
	if err != nil || st.Rules != RulesV2 || len(st.Voters) != 1 || st.Voters[0] != m.voter.id {
		t.Fatalf("restored rules %d voters %v: %v", st.Rules, st.Voters, err)
	}
	v1 := append([]byte(snapshotMagicV1), buf.Bytes()[len(snapshotMagic):]...)
	st, err = readSnapshot(bytes.NewReader(v1))
	if err != nil || st.Rules != RulesV1 || st.Voters != nil {
		t.Fatalf("v1 snapshot: rules %d voters %v: %v", st.Rules, st.Voters, err)
	}
}

func TestReleaseRoundTrip(t *testing.T) {
	r := Release{Key: []byte("key"), Box: []byte("box")}
	got, err := DecodeRelease(r.Encode())
	if err != nil || string(got.Key) != "key" || string(got.Box) != "box" {
		t.Fatalf("%+v %v", got, err)
	}
	for _, bad := range [][]byte{nil, {1}, {releaseVersion}, append(r.Encode(), 0), {releaseVersion, 0, 1, 'b'}} {
		if _, err := DecodeRelease(bad); !errors.Is(err, ErrInvalid) {
			t.Fatalf("%x: %v", bad, err)
		}
	}
}

func FuzzDecodeRelease(f *testing.F) {
	f.Add(Release{Key: []byte("AGE-SECRET-KEY-1"), Box: bytes.Repeat([]byte{7}, 120)}.Encode())
	f.Add([]byte{releaseVersion, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeRelease(b)
		if err != nil {
			return
		}
		if len(r.Key) == 0 || len(r.Key) > maxSealedKey || len(r.Box) == 0 || len(r.Box) > maxSealedKey {
			t.Fatalf("decoded out of bounds: %d %d", len(r.Key), len(r.Box))
		}
		if !bytes.Equal(r.Encode(), b) {
			t.Fatal("not canonical")
		}
	})
}

// The meter counts a payment settled only on the receipt of that very
// transfer.
func TestReceiptMatches(t *testing.T) {
	tr := Transfer{ID: "p", From: "a", To: "b", Amount: 5}
	ok := Receipt{ID: "p", Kind: KindTransfer, From: "a", To: "b", Amount: 5}
	if !ok.Matches(&tr) {
		t.Fatal("own receipt refused")
	}
	for _, r := range []Receipt{
		{ID: "p", From: "a", To: "b", Amount: 1},
		{ID: "p", From: "x", To: "b", Amount: 5},
		{ID: "p", From: "a", To: "x", Amount: 5},
		{ID: "q", From: "a", To: "b", Amount: 5},
		{ID: "p", Amount: 5}, // an older leader's receipt: no accounts
	} {
		if r.Matches(&tr) {
			t.Fatalf("%+v matches %+v", r, tr)
		}
	}
}

// A payment that opens an account pays OpenFee to the operator, once: a
// stranger's accounts in the voters' state each cost it 0.001 credits,
// and splitting a payment into dust saves no fee.
func TestOpenFeeAndDust(t *testing.T) {
	alice, bob, op := newAccount(t), newAccount(t), newAccount(t)
	f := newLedger(t, Genesis{Balances: map[string]int64{alice.id: 1_000_000}, FeeBPS: 100, Operator: op.id})
	now := time.Now()
	r := applyOne(t, f, 2, now, signAt(t, alice, Transfer{ID: NewID(), To: bob.id, Amount: 1}, now))
	if r.Err != nil || r.Receipt.Fee != 1+OpenFee || r.Receipt.Amount != 1 {
		t.Fatalf("payment opening an account: %+v", r)
	}
	r = applyOne(t, f, 3, now, signAt(t, alice, Transfer{ID: NewID(), To: bob.id, Amount: 1}, now))
	if r.Err != nil || r.Receipt.Fee != 1 {
		t.Fatalf("second payment: %+v", r)
	}
	// The operator's own account opens for free.
	r = applyOne(t, f, 4, now, signAt(t, alice, Transfer{ID: NewID(), To: op.id, Amount: 100}, now))
	if r.Err != nil || r.Receipt.Fee != 1 {
		t.Fatalf("payment to the operator: %+v", r)
	}
	// Opening accounts costs OpenFee each: a stranger with 0.01 credits
	// opens at most 9 more.
	stranger := newAccount(t)
	applyOne(t, f, 5, now, signAt(t, alice, Transfer{ID: NewID(), To: stranger.id, Amount: 10_000}, now))
	opened := 0
	for i := range 20 {
		if r := applyOne(t, f, uint64(6+i), now, signAt(t, stranger, Transfer{ID: NewID(), To: newAccount(t).id, Amount: 1}, now)); r.Err == nil {
			opened++
		}
	}
	if opened > 10_000/(OpenFee+2) {
		t.Fatalf("a stranger with 0.01 credits opened %d accounts", opened)
	}
}

// A v1 snapshot restored at start takes its voters from the snapshot's
// raft metadata, so an upgraded ledger can settle orders at once.
func TestV1SnapshotVotersFromMetadata(t *testing.T) {
	m := newMarket(t)
	var buf memSink
	snap, _ := m.f.Snapshot()
	if err := snap.Persist(&buf); err != nil {
		t.Fatal(err)
	}
	v1 := append([]byte(snapshotMagicV1), buf.Bytes()[len(snapshotMagic):]...)
	dir := t.TempDir()
	store, err := raft.NewFileSnapshotStore(dir, 1, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	conf := raft.Configuration{Servers: []raft.Server{{Suffrage: raft.Voter, ID: raft.ServerID(m.voter.id), Address: "x"}}}
	_, trans := raft.NewInmemTransport("x")
	defer trans.Close()
	sink, err := store.Create(raft.SnapshotVersionMax, 10, 1, conf, 1, trans)
	if err != nil {
		t.Fatal(err)
	}
	sink.Write(v1)
	sink.Close()
	f := NewFSM()
	f.hintSnapshotVoters(store)
	if err := f.Restore(io.NopCloser(bytes.NewReader(v1))); err != nil {
		t.Fatal(err)
	}
	if v := f.Voters(); len(v) != 1 || v[0] != m.voter.id || f.Rules() != RulesV1 {
		t.Fatalf("voters %v rules %d", v, f.Rules())
	}
}
