package ledger

import (
	"context"
	"errors"
	"testing"
	"time"
)

// fsmSubmitter submits to an FSM directly, one entry per transfer, as a
// leader would.
type fsmSubmitter struct {
	t     *testing.T
	f     *FSM
	index uint64
}

func (s *fsmSubmitter) Submit(_ context.Context, st SignedTransfer) (Receipt, error) {
	s.index++
	r := applyOne(s.t, s.f, s.index, time.Now(), st)
	return r.Receipt, r.Err
}

// A wallet fills in the signer, a fresh ID and the time, signs with its
// key, and its payments apply through the ledger's own checks.
func TestWalletSignsAndPays(t *testing.T) {
	alice, bob := newAccount(t), newAccount(t)
	f := newLedger(t, Genesis{Balances: map[string]int64{alice.id: 1000}})
	w, err := NewWallet(alice.key, &fsmSubmitter{t: t, f: f, index: 1})
	if err != nil {
		t.Fatal(err)
	}
	if w.Account() != alice.id {
		t.Fatalf("account %s, want %s", w.Account(), alice.id)
	}

	// Sign: the signer is always the wallet's account, whatever From says.
	st, err := w.Sign(Transfer{From: bob.id, To: bob.id, Amount: 5})
	if err != nil {
		t.Fatal(err)
	}
	if st.From != alice.id || len(st.ID) != 32 || st.Time == 0 {
		t.Fatalf("signed %+v: want From alice, a fresh ID and a time", st.Transfer)
	}
	if err := st.Verify(); err != nil {
		t.Fatal(err)
	}
	g, err := w.Sign(Transfer{Kind: KindGrant, To: bob.id})
	if err != nil {
		t.Fatal(err)
	}
	if g.To != alice.id || g.From != "" || g.Verify() != nil {
		t.Fatalf("grant %+v: want To alice, no payer, a good signature", g.Transfer)
	}
	if _, err := w.Sign(Transfer{To: bob.id, Amount: 0}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a zero payment signed: %v", err)
	}

	// Pay: applies once per id; a retry gets the first receipt.
	ctx := context.Background()
	r, err := w.Pay(ctx, "pay-1", bob.id, 100, "memo", "ref")
	if err != nil {
		t.Fatal(err)
	}
	want := Transfer{ID: "pay-1", Kind: KindTransfer, From: alice.id, To: bob.id, Amount: 100}
	if !r.Matches(&want) || r.Replay {
		t.Fatalf("receipt %+v does not match %+v", r, want)
	}
	r2, err := w.Pay(ctx, "pay-1", bob.id, 100, "memo", "ref")
	if err != nil || !r2.Replay || r2.Index != r.Index {
		t.Fatalf("retry: %+v, %v; want the first receipt replayed", r2, err)
	}
	if _, err := w.Pay(ctx, "", bob.id, 10_000, "", ""); !errors.Is(err, ErrInsufficientFunds) {
		t.Fatalf("overdraft: %v", err)
	}
	if got := balance(t, f, bob.id); got != 100 {
		t.Fatalf("bob has %d, want 100", got)
	}

	// A wallet without a ledger signs but does not submit.
	signer, err := NewWallet(alice.key, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := signer.Pay(ctx, "", bob.id, 1, "", ""); !errors.Is(err, ErrNoSubmitter) {
		t.Fatalf("pay without a ledger: %v", err)
	}
	if _, err := NewWallet(nil, nil); err == nil {
		t.Fatal("a wallet without a key")
	}
}
