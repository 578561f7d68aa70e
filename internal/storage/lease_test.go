package storage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/peerpath/peerpath/internal/p2p"
	"github.com/peerpath/peerpath/internal/store"
)

// fakeLedger stands for the node's ledger glue: Pay signs (here: writes)
// a transfer, Collect checks payer, payee and amount.
type fakeLedger struct {
	mu       sync.Mutex
	n        int
	balances map[peer.ID]int64
}

type fakePayment struct {
	ID       string
	From, To peer.ID
	Amount   int64
}

type fakePayments struct {
	l    *fakeLedger
	self peer.ID
}

func (f fakePayments) Pay(_ context.Context, payee peer.ID, amount int64, _ string) ([]byte, error) {
	f.l.mu.Lock()
	f.l.n++
	id := fmt.Sprintf("pay-%d", f.l.n)
	f.l.mu.Unlock()
	return json.Marshal(fakePayment{id, f.self, payee, amount})
}

func (f fakePayments) Collect(_ context.Context, payer peer.ID, b []byte, amount int64) (string, int64, error) {
	var p fakePayment
	if err := json.Unmarshal(b, &p); err != nil || p.From != payer || p.To != f.self || p.Amount < amount {
		return "", 0, errors.New("bad payment")
	}
	f.l.mu.Lock()
	f.l.balances[f.self] += p.Amount
	f.l.mu.Unlock()
	return p.ID, p.Amount, nil
}

func TestPaidLeases(t *testing.T) {
	t.Parallel()
	ms := cluster(t, 3, 0)
	ctx := ctxT(t)
	l := &fakeLedger{balances: map[peer.ID]int64{}}
	for _, m := range ms {
		m.s.cfg.Payments = fakePayments{l, m.h.ID()}
	}
	for _, m := range ms[1:] {
		m.s.SetOffer(ctx, Offer{Bytes: 64 << 20, PricePerGiBMonth: 5_000_000_000}) // 5000 credits per GiB-month
	}
	ref, err := ms[0].s.Put(ctx, make([]byte, 100_000), PutOptions{K: 1, N: 2})
	if err != nil {
		t.Fatal(err)
	}
	want := LeaseCost(int64(ref.ShareSize()), 5_000_000_000, DefaultLease)
	for _, m := range ms[1:] {
		st, _ := m.s.Status(ctx)
		if st.Earned != want || l.balances[m.h.ID()] != want || want == 0 {
			t.Fatalf("storing peer earned %d (ledger %d), want %d", st.Earned, l.balances[m.h.ID()], want)
		}
	}
	// A payment is counted once: replaying it for another share is refused.
	pay, _ := ms[0].s.cfg.Payments.Pay(ctx, ms[1].h.ID(), 1_000_000, "")
	if _, err := ms[1].s.collect(ctx, ms[0].h.ID(), pay, 10); err != nil {
		t.Fatal(err)
	}
	if _, err := ms[1].s.collect(ctx, ms[0].h.ID(), pay, 10); err == nil {
		t.Fatal("a payment was counted twice")
	}
	// A client that cannot pay stores nothing on a priced offer.
	ms[0].s.cfg.Payments = nil
	if _, err := ms[0].s.Put(ctx, []byte("x"), PutOptions{K: 1, N: 2}); !errors.Is(err, ErrNotEnoughPeers) {
		t.Fatalf("unpaid put: %v", err)
	}
}

func TestExpiredLeaseDropped(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	h, err := p2p.NewLoopbackHost(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	dir := t.TempDir()
	db, _ := store.Open(filepath.Join(dir, "db.sqlite"))
	defer db.Close()
	s, err := New(ctx, Config{Host: h, DB: db, Dir: dir, CheckEvery: -1, Grace: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.SetOffer(ctx, Offer{Bytes: 1 << 20})
	data := []byte("leased")
	release, _ := s.held.reserve("c", int64(len(data)))
	s.held.commit(ctx, HashShare(data), "c", data, time.Now().Add(-2*time.Minute).Unix(), [32]byte{}, 0)
	release()
	// Past its lease and its grace: dropped by the storing peer's sweep.
	if n, _ := s.held.expire(ctx, time.Now().Add(-s.cfg.Grace)); n != 1 {
		t.Fatalf("expired %d shares, want 1", n)
	}
}
