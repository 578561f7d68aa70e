package ledger

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

func marketOp(t testing.TB, from account, kind Kind, to string, amount int64, ref string, data []byte, at time.Time) SignedTransfer {
	t.Helper()
	st, err := Sign(from.key, Transfer{ID: NewID(), Kind: kind, From: from.id, To: to, Amount: amount,
		Ref: ref, Data: data, Time: at.UnixNano()})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// testContentKey is the content key of the test listings; listingKey
// commits to it and release carries it.
var testContentKey = []byte("AGE-SECRET-KEY-1TEST")

func testCommit() []byte {
	sum := sha256.Sum256(testContentKey)
	return sum[:]
}

// release is the Data of a release (RulesV2) carrying the listing's key
// and box as the copy sealed to the buyer.
func release(box string) []byte {
	return Release{Key: testContentKey, Box: []byte(box)}.Encode()
}

// withVoters records a raft configuration of voters in f, as raft does.
func withVoters(f *FSM, index uint64, voters ...account) {
	var c raft.Configuration
	for _, v := range voters {
		c.Servers = append(c.Servers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(v.id), Address: raft.ServerAddress(v.id)})
	}
	f.StoreConfiguration(index, c)
}

func listingKey(voters ...account) []byte {
	lk := ListingKey{CID: "bafytest", Size: 10, Commit: testCommit(),
		Expiry: time.Now().Add(time.Hour).UnixNano(), Sealed: map[string][]byte{}}
	for _, v := range voters {
		lk.Sealed[v.id] = []byte("sealed-to-" + v.id)
	}
	return lk.Encode()
}

type market struct {
	f                        *FSM
	seller, buyer, voter, op account
	idx                      uint64
	now                      time.Time
	listing                  string
}

func newMarket(t *testing.T) *market {
	m := &market{seller: newAccount(t), buyer: newAccount(t), voter: newAccount(t), op: newAccount(t), idx: 2, now: time.Now()}
	m.f = newLedger(t, Genesis{Balances: map[string]int64{m.buyer.id: 10_000, m.seller.id: 500}, FeeBPS: 100, Operator: m.op.id})
	withVoters(m.f, 1, m.voter)
	m.listing = "L1"
	if r := m.apply(t, marketOp(t, m.seller, KindList, m.seller.id, 1000, m.listing, listingKey(m.voter), m.now)); r.Err != nil {
		t.Fatal(r.Err)
	}
	return m
}

func (m *market) apply(t *testing.T, st SignedTransfer) TxResult {
	t.Helper()
	r := applyOne(t, m.f, m.idx, m.now, st)
	m.idx++
	return r
}

func (m *market) buy(t *testing.T) SignedTransfer {
	t.Helper()
	st := marketOp(t, m.buyer, KindBuy, m.seller.id, 1000, m.listing, bytes.Repeat([]byte{1}, 32), m.now)
	if r := m.apply(t, st); r.Err != nil || r.Receipt.Fee != 10 {
		t.Fatalf("buy: %+v", r)
	}
	return st
}

func TestEscrowReleasePaysSellerOnce(t *testing.T) {
	m := newMarket(t)
	order := m.buy(t)
	if got := balance(t, m.f, m.buyer.id); got != 10_000-1010 {
		t.Fatalf("buyer has %d after paying into escrow", got)
	}
	if m.f.Escrow() != 1010 {
		t.Fatalf("escrow %d, want 1010", m.f.Escrow())
	}
	// A replayed order is refused with a clear error and changes nothing.
	if r := m.apply(t, order); !errors.Is(r.Err, ErrReplayed) || r.Receipt.Replay ||
		!strings.Contains(r.Err.Error(), "order "+order.ID+" already placed") {
		t.Fatalf("replayed order: %+v", r)
	}
	if m.f.Escrow() != 1010 {
		t.Fatalf("replay moved escrow to %d", m.f.Escrow())
	}
	// Only a voter the key was sealed to may release.
	if r := m.apply(t, marketOp(t, m.buyer, KindRelease, m.seller.id, 0, order.ID, release("k"), m.now)); !errors.Is(r.Err, ErrNotPermitted) {
		t.Fatalf("release by the buyer: %v", r.Err)
	}
	rel := marketOp(t, m.voter, KindRelease, m.seller.id, 0, order.ID, release("key-for-buyer"), m.now)
	if r := m.apply(t, rel); r.Err != nil {
		t.Fatal(r.Err)
	}
	if got := balance(t, m.f, m.seller.id); got != 1500 {
		t.Fatalf("seller has %d, want 1500", got)
	}
	if got := balance(t, m.f, m.op.id); got != 10 {
		t.Fatalf("operator has %d, want the 10 fee", got)
	}
	o, err := m.f.Order(order.ID)
	if err != nil || o.State != OrderReleased || string(o.SealedKey) != "key-for-buyer" {
		t.Fatalf("order %+v %v", o, err)
	}
	// Never both, never twice.
	for _, st := range []SignedTransfer{
		marketOp(t, m.voter, KindRelease, m.seller.id, 0, order.ID, release("again"), m.now),
		marketOp(t, m.voter, KindRefund, m.buyer.id, 0, order.ID, nil, m.now),
	} {
		if r := m.apply(t, st); !errors.Is(r.Err, ErrSettled) {
			t.Fatalf("second settlement: %v", r.Err)
		}
	}
	// Ratings: only the buyer of a completed order, once; forged refused.
	forged := marketOp(t, m.buyer, KindRate, m.seller.id, 5, order.ID, nil, m.now)
	forged.Memo = "changed after signing"
	if r := m.apply(t, forged); !errors.Is(r.Err, ErrBadSignature) {
		t.Fatalf("forged rating: %v", r.Err)
	}
	if r := m.apply(t, marketOp(t, m.voter, KindRate, m.seller.id, 1, order.ID, nil, m.now)); !errors.Is(r.Err, ErrNotPermitted) {
		t.Fatalf("rating by a non-buyer: %v", r.Err)
	}
	if r := m.apply(t, marketOp(t, m.buyer, KindRate, m.seller.id, 4, order.ID, nil, m.now)); r.Err != nil {
		t.Fatal(r.Err)
	}
	if r := m.apply(t, marketOp(t, m.buyer, KindRate, m.seller.id, 5, order.ID, nil, m.now)); !errors.Is(r.Err, ErrSettled) {
		t.Fatalf("second rating: %v", r.Err)
	}
	rs, _ := m.f.Ratings(m.seller.id)
	if len(rs) != 1 || rs[0].Stars != 4 || rs[0].Buyer != m.buyer.id {
		t.Fatalf("ratings %+v", rs)
	}
}

func TestEscrowWrongKeyRefundsBuyer(t *testing.T) {
	m := newMarket(t)
	order := m.buy(t)
	// The voter found its copy does not match the commitment.
	ref := marketOp(t, m.voter, KindRefund, m.buyer.id, 0, order.ID, nil, m.now)
	ref.Memo = ""
	if r := m.apply(t, ref); r.Err != nil {
		t.Fatal(r.Err)
	}
	if got := balance(t, m.f, m.buyer.id); got != 10_000 {
		t.Fatalf("buyer has %d after refund, want 10000", got)
	}
	if got := balance(t, m.f, m.seller.id); got != 500 {
		t.Fatalf("seller has %d, want unchanged 500", got)
	}
	if r := m.apply(t, marketOp(t, m.voter, KindRelease, m.seller.id, 0, order.ID, release("k"), m.now)); !errors.Is(r.Err, ErrSettled) {
		t.Fatalf("release after refund: %v", r.Err)
	}
	if r := m.apply(t, marketOp(t, m.buyer, KindRate, m.seller.id, 1, order.ID, nil, m.now)); !errors.Is(r.Err, ErrSettled) {
		t.Fatalf("rating a refunded order: %v", r.Err)
	}
}

// TestEscrowOrderIDNeverReused: once the ID window has forgotten an
// order's ID, a purchase naming that ID (signed again with a fresh time,
// by its buyer or anyone) is still refused: it must never overwrite the
// order, whose escrow the invariant counts.
func TestEscrowOrderIDNeverReused(t *testing.T) {
	seller, buyer, other, voter, op := newAccount(t), newAccount(t), newAccount(t), newAccount(t), newAccount(t)
	f := newLedger(t, Genesis{Balances: map[string]int64{buyer.id: 10_000, other.id: 10_000}, FeeBPS: 100,
		Operator: op.id, IDWindow: time.Minute})
	withVoters(f, 1, voter)
	now := time.Now()
	if r := applyOne(t, f, 2, now, marketOp(t, seller, KindList, seller.id, 1000, "L1", listingKey(voter), now)); r.Err != nil {
		t.Fatal(r.Err)
	}
	order := marketOp(t, buyer, KindBuy, seller.id, 1000, "L1", bytes.Repeat([]byte{1}, 32), now)
	if r := applyOne(t, f, 3, now, order); r.Err != nil {
		t.Fatal(r.Err)
	}
	later := now.Add(3 * time.Minute)
	applyOne(t, f, 4, later, mustTransferAt(t, other, buyer.id, 1, later)) // prunes the window
	if _, ok := f.Lookup(order.Signer(), order.ID); ok {
		t.Fatal("order id not pruned after the window")
	}
	for i, signer := range []account{buyer, other} {
		again, err := Sign(signer.key, Transfer{ID: order.ID, Kind: KindBuy, From: signer.id, To: seller.id, Amount: 1000,
			Ref: "L1", Data: bytes.Repeat([]byte{9}, 32), Time: later.UnixNano()})
		if err != nil {
			t.Fatal(err)
		}
		r := applyOne(t, f, uint64(5+i), later, again)
		if !errors.Is(r.Err, ErrReplayed) || !strings.Contains(r.Err.Error(), "already placed by "+buyer.id) {
			t.Fatalf("purchase reusing order id (signer %d): %+v", i, r)
		}
	}
	o, err := f.Order(order.ID)
	if err != nil || o.Buyer != buyer.id || o.BuyerKey[0] != 1 || o.State != OrderPending || f.Escrow() != 1010 {
		t.Fatalf("order %+v (%v), escrow %d", o, err, f.Escrow())
	}
	if got := balance(t, f, other.id); got != 10_000-1-1 { // 1 and its fee, rounded up
		t.Fatalf("other has %d: charged for a refused order", got)
	}
}

// TestReplayedOrderRefusedOverTheWire: a non-voter (a peer that captured
// a buyer's signed order) submits it again through ClientProtocol; the
// voter's decided ErrReplayed crosses the wire and Submit returns it at
// once instead of retrying, while a replayed wallet transfer still gets
// its original receipt.
func TestReplayedOrderRefusedOverTheWire(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	seller, buyer, vkey := newAccount(t), newAccount(t), newAccount(t)
	nodes, err := startCluster(ctx, t.TempDir(), []crypto.PrivKey{vkey.key},
		Genesis{Balances: map[string]int64{buyer.id: 10_000}, FeeBPS: 100, Operator: vkey.id}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer nodes[0].close()
	client, err := startNode(newAccount(t).key, Config{Voters: []peer.ID{nodes[0].host.ID()}})
	if err != nil {
		t.Fatal(err)
	}
	defer client.close()
	introduce(client, nodes[0])
	now := time.Now()
	if _, err := client.svc.Submit(ctx, marketOp(t, seller, KindList, seller.id, 1000, "L1", listingKey(vkey), now)); err != nil {
		t.Fatal(err)
	}
	order := marketOp(t, buyer, KindBuy, seller.id, 1000, "L1", bytes.Repeat([]byte{1}, 32), now)
	if _, err := nodes[0].svc.Submit(ctx, order); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = client.svc.Submit(ctx, order)
	if !errors.Is(err, ErrReplayed) || !strings.Contains(err.Error(), "order "+order.ID+" already placed") {
		t.Fatalf("replayed order through a non-voter: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("replayed order refused after %s: retried as if undecided", d)
	}
	if b, _ := client.svc.Balance(ctx, buyer.id); b != 10_000-1010 {
		t.Fatalf("buyer has %d, want one payment", b)
	}
	tr := mustTransfer(t, buyer, seller.id, 5)
	first, err := client.svc.Submit(ctx, tr)
	if err != nil {
		t.Fatal(err)
	}
	if again, err := client.svc.Submit(ctx, tr); err != nil || !again.Replay || again.Index != first.Index {
		t.Fatalf("retried transfer: %+v %v", again, err)
	}
}

func TestEscrowBuyerRefundAfterDeadline(t *testing.T) {
	m := newMarket(t)
	order := m.buy(t)
	if r := m.apply(t, marketOp(t, m.buyer, KindRefund, m.buyer.id, 0, order.ID, nil, m.now)); !errors.Is(r.Err, ErrNotPermitted) {
		t.Fatalf("early buyer refund: %v", r.Err)
	}
	m.now = m.now.Add(OrderTimeout + time.Second)
	if r := m.apply(t, marketOp(t, m.buyer, KindRefund, m.buyer.id, 0, order.ID, nil, m.now)); r.Err != nil {
		t.Fatal(r.Err)
	}
	if got := balance(t, m.f, m.buyer.id); got != 10_000 {
		t.Fatalf("buyer has %d", got)
	}
}

func TestEscrowListingRules(t *testing.T) {
	m := newMarket(t)
	key := bytes.Repeat([]byte{1}, 32)
	cases := []struct {
		name string
		st   SignedTransfer
		want error
	}{
		{"wrong price", marketOp(t, m.buyer, KindBuy, m.seller.id, 999, m.listing, key, m.now), ErrListing},
		{"wrong seller", marketOp(t, m.buyer, KindBuy, m.voter.id, 1000, m.listing, key, m.now), ErrListing},
		{"no listing", marketOp(t, m.buyer, KindBuy, m.seller.id, 1000, "nope", key, m.now), ErrNotFound},
		{"too poor", marketOp(t, m.seller, KindBuy, m.buyer.id, 1000, m.listing, key, m.now), ErrListing},
		{"duplicate listing", marketOp(t, m.seller, KindList, m.seller.id, 5, m.listing, listingKey(m.voter), m.now), ErrListing},
		{"withdraw by other", marketOp(t, m.buyer, KindUnlist, m.buyer.id, 0, m.listing, nil, m.now), ErrNotPermitted},
		{"sponsor by other", marketOp(t, m.buyer, KindSponsor, m.op.id, 5, m.listing, nil, m.now), ErrNotPermitted},
		{"sponsor not to operator", marketOp(t, m.seller, KindSponsor, m.buyer.id, 5, m.listing, nil, m.now), ErrInvalid},
		{"bad key record", marketOp(t, m.seller, KindList, m.seller.id, 5, "L2", []byte("{}"), m.now), ErrListing},
	}
	for _, c := range cases {
		if r := m.apply(t, c.st); !errors.Is(r.Err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, r.Err, c.want)
		}
	}
	if r := m.apply(t, marketOp(t, m.seller, KindSponsor, m.op.id, 100, m.listing, nil, m.now)); r.Err != nil {
		t.Fatal(r.Err)
	}
	l, _ := m.f.MarketListing(m.listing)
	if l.Sponsored != 100 || balance(t, m.f, m.op.id) != 100 {
		t.Fatalf("sponsored %d, operator %d", l.Sponsored, balance(t, m.f, m.op.id))
	}
	if r := m.apply(t, marketOp(t, m.seller, KindUnlist, m.seller.id, 0, m.listing, nil, m.now)); r.Err != nil {
		t.Fatal(r.Err)
	}
	if r := m.apply(t, marketOp(t, m.buyer, KindBuy, m.seller.id, 1000, m.listing, key, m.now)); !errors.Is(r.Err, ErrListing) {
		t.Fatalf("buying a withdrawn listing: %v", r.Err)
	}
}

// TestEscrowRandomProperty applies random market operations (valid,
// forged, replayed, out of turn) and checks after every entry that
// balances plus escrow equal the supply with none negative (applyEntry),
// and that no order ever settles twice.
func TestEscrowRandomProperty(t *testing.T) {
	for seed := uint64(1); seed <= 3; seed++ {
		rng := rand.New(rand.NewPCG(seed, 7))
		accts := make([]account, 5)
		g := Genesis{Balances: map[string]int64{}, FeeBPS: uint32(rng.IntN(300))}
		for i := range accts {
			accts[i] = newAccount(t)
			g.Balances[accts[i].id] = 5000
		}
		voter, op := newAccount(t), newAccount(t)
		g.Operator = op.id
		f := newLedger(t, g)
		withVoters(f, 1, voter)
		now := time.Now()
		idx := uint64(2)
		var listings, orders []string
		var applied []SignedTransfer
		settled := map[string]int{}
		forged := map[string]bool{}
		pick := func(s []string) string {
			if len(s) == 0 {
				return "none"
			}
			return s[rng.IntN(len(s))]
		}
		for step := 0; step < 80; step++ {
			var batch []SignedTransfer
			replay := map[int]bool{}
			for n := 1 + rng.IntN(8); n > 0; n-- {
				a, b := accts[rng.IntN(len(accts))], accts[rng.IntN(len(accts))]
				var st SignedTransfer
				switch rng.IntN(9) {
				case 0:
					st = marketOp(t, a, KindList, a.id, 1+rng.Int64N(3000), NewID(), listingKey(voter), now)
				case 1, 2:
					id := pick(listings)
					l, _ := f.MarketListing(id)
					seller := l.Seller
					if seller == "" || seller == a.id {
						seller = b.id
					}
					if seller == a.id {
						continue
					}
					st = marketOp(t, a, KindBuy, seller, max(l.Price, 1), id, bytes.Repeat([]byte{2}, 32), now)
				case 3:
					o, _ := f.Order(pick(orders))
					signer := voter
					if rng.IntN(4) == 0 {
						signer = a
					}
					st = marketOp(t, signer, KindRelease, cmp.Or(o.Seller, a.id), 0, cmp.Or(o.ID, "none"), release("k"), now)
				case 4:
					o, _ := f.Order(pick(orders))
					signer := voter
					if rng.IntN(3) == 0 {
						signer = a
					}
					st = marketOp(t, signer, KindRefund, cmp.Or(o.Buyer, a.id), 0, cmp.Or(o.ID, "none"), nil, now)
				case 5:
					o, _ := f.Order(pick(orders))
					if o.Seller == "" || o.Seller == a.id {
						continue
					}
					st = marketOp(t, a, KindRate, o.Seller, 1+rng.Int64N(5), o.ID, nil, now)
				case 6:
					st = marketOp(t, a, KindSponsor, op.id, 1+rng.Int64N(100), pick(listings), nil, now)
				case 7:
					if len(applied) == 0 {
						continue
					}
					st = applied[rng.IntN(len(applied))]
					replay[len(batch)] = true
				case 8:
					if a.id == b.id {
						continue
					}
					st = marketOp(t, a, KindBuy, b.id, 10, pick(listings), bytes.Repeat([]byte{2}, 32), now)
					st.Amount++ // forged after signing
					forged[st.ID] = true
				}
				batch = append(batch, st)
			}
			if len(batch) == 0 {
				continue
			}
			res := applyEntry(t, f, idx, now, batch...) // checks the invariant
			idx++
			for i, r := range res {
				st := batch[i]
				if forged[st.ID] && !errors.Is(r.Err, ErrBadSignature) {
					t.Fatalf("seed %d: forged order: %v", seed, r.Err)
				}
				if replay[i] && st.Kind == KindBuy && !errors.Is(r.Err, ErrReplayed) {
					t.Fatalf("seed %d: replayed order: %+v", seed, r)
				}
				if replay[i] && st.Kind != KindBuy && r.Err == nil && !r.Receipt.Replay {
					t.Fatalf("seed %d: replayed %s applied again", seed, st.Kind)
				}
				if r.Err != nil || r.Receipt.Replay {
					continue
				}
				applied = append(applied, st)
				switch st.Kind {
				case KindList:
					listings = append(listings, st.Ref)
				case KindBuy:
					orders = append(orders, st.ID)
				case KindRelease, KindRefund:
					settled[st.Ref]++
					if settled[st.Ref] > 1 {
						t.Fatalf("seed %d: order %s settled twice", seed, st.Ref)
					}
				}
			}
		}
		if len(orders) < 5 || len(settled) < 3 {
			t.Fatalf("seed %d: only %d orders, %d settled; the test exercised too little", seed, len(orders), len(settled))
		}
		// Snapshot and restore keep the market state and the invariant.
		snap, _ := f.Snapshot()
		var sink memSink
		if err := snap.Persist(&sink); err != nil {
			t.Fatal(err)
		}
		g2 := NewFSM()
		if err := g2.Restore(io.NopCloser(bytes.NewReader(sink.Bytes()))); err != nil {
			t.Fatal(err)
		}
		if err := g2.CheckInvariant(); err != nil || g2.Escrow() != f.Escrow() {
			t.Fatalf("restored: %v, escrow %d vs %d", err, g2.Escrow(), f.Escrow())
		}
	}
}

func TestMarketTransferRoundTrip(t *testing.T) {
	a := newAccount(t)
	st := marketOp(t, a, KindList, a.id, 5, "L", listingKey(a), time.Now())
	b, _ := st.MarshalBinary()
	got, err := UnmarshalSignedTransfer(b)
	if err != nil || !bytes.Equal(got.Data, st.Data) || got.Verify() != nil {
		t.Fatalf("round trip: %v", err)
	}
	got.Data[0] ^= 1
	if !errors.Is(got.Verify(), ErrBadSignature) {
		t.Fatal("data not covered by the signature")
	}
}

// FuzzDecodeListingKey checks the key record decoder (it arrives in a
// seller's KindList transfer).
func FuzzDecodeListingKey(f *testing.F) {
	f.Add(ListingKey{CID: "bafy", Size: 3, Commit: make([]byte, 32), Expiry: 5, Sealed: map[string][]byte{"v": {1}}}.Encode())
	f.Add([]byte(`{"cid":"x","commit":"AAAA","sealed":{}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		lk, err := DecodeListingKey(data)
		if err != nil {
			return
		}
		if len(lk.Commit) != commitLen || len(lk.Sealed) == 0 || len(lk.Sealed) > maxSealed || lk.CID == "" {
			t.Fatalf("limits not enforced: %+v", lk)
		}
	})
}

// TestMarketPrune: settled orders and long-expired listings are forgotten
// after MarketRetention of ledger time; pending ones are kept.
func TestMarketPrune(t *testing.T) {
	m := newMarket(t)
	settled := m.buy(t)
	if r := m.apply(t, marketOp(t, m.voter, KindRelease, m.seller.id, 0, settled.ID, release("k"), m.now)); r.Err != nil {
		t.Fatal(r.Err)
	}
	pending := m.buy(t)
	m.now = m.now.Add(MarketRetention + 2*time.Hour)
	// Any entry advances the clock and prunes.
	if r := m.apply(t, marketOp(t, m.buyer, KindRefund, m.buyer.id, 0, pending.ID, nil, m.now)); r.Err != nil {
		t.Fatal(r.Err)
	}
	if _, err := m.f.Order(settled.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("old settled order kept: %v", err)
	}
	if o, err := m.f.Order(pending.ID); err != nil || o.State != OrderRefunded {
		t.Fatalf("order pending until now: %+v %v", o, err)
	}
	if _, err := m.f.MarketListing(m.listing); !errors.Is(err, ErrNotFound) {
		t.Fatalf("long-expired listing kept: %v", err)
	}
}
