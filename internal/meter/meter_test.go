package meter

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"

	"github.com/peerpath/peerpath/internal/ledger"
	"github.com/peerpath/peerpath/internal/p2p"
	"github.com/peerpath/peerpath/internal/store"
	"github.com/peerpath/peerpath/internal/testutil"
)

func TestOwed(t *testing.T) {
	for _, c := range []struct{ n, price, want int64 }{
		{GiB, 1_000_000, 1_000_000},
		{GiB / 2, 1_000_000, 500_000},
		{1073, 1_000_000, 0}, // under one micro-credit
		{1074, 1_000_000, 1},
		{3 * GiB, 2_500_000, 7_500_000},
		{0, 1_000_000, 0},
		{GiB, 0, 0},
		{math.MaxInt64, math.MaxInt64, math.MaxInt64}, // saturates
	} {
		if got := Owed(c.n, c.price); got != c.want {
			t.Errorf("Owed(%d, %d) = %d, want %d", c.n, c.price, got, c.want)
		}
	}
	// Ranges add up: paying for (0, a] then (a, b] is paying for (0, b].
	a, b, p := int64(123_456_789), int64(987_654_321), int64(1_234_567)
	if Owed(a, p)+(Owed(b, p)-Owed(a, p)) != Owed(b, p) {
		t.Fatal("ranges do not add up")
	}
}

func TestTrafficReceiptChecks(t *testing.T) {
	k, _, _ := crypto.GenerateEd25519Key(nil)
	other, _, _ := crypto.GenerateEd25519Key(nil)
	payee, _ := peer.IDFromPrivateKey(other)
	r, err := NewTrafficReceipt(k, payee.String(), "e1", GiB, 3*GiB, 1_000_000, time.Now().UnixNano())
	if err != nil {
		t.Fatal(err)
	}
	if r.Payment == nil || r.Payment.Amount != 2_000_000 || r.Payment.To != payee.String() {
		t.Fatalf("payment %+v", r.Payment)
	}
	b, err := r.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := DecodeReceipt(b); err != nil {
		t.Fatalf("good receipt refused: %v", err)
	}
	// Each tampering is refused.
	tamper := map[string]func(*TrafficReceipt){
		"end":            func(r *TrafficReceipt) { r.End++ },
		"price":          func(r *TrafficReceipt) { r.Price *= 2 },
		"payment amount": func(r *TrafficReceipt) { r.Payment.Amount++ },
		"payee":          func(r *TrafficReceipt) { r.Payee = r.Payer },
		"no payment":     func(r *TrafficReceipt) { r.Payment = nil },
		"payment id":     func(r *TrafficReceipt) { r.Payment.ID = "x" },
		"signature":      func(r *TrafficReceipt) { r.Sig[0] ^= 1 },
		"empty range":    func(r *TrafficReceipt) { r.Start = r.End },
	}
	for name, f := range tamper {
		var c TrafficReceipt
		if err := json.Unmarshal(b, &c); err != nil {
			t.Fatal(err)
		}
		f(&c)
		cb, _ := json.Marshal(c)
		if _, err := DecodeReceipt(cb); !errors.Is(err, ErrBadReceipt) {
			t.Errorf("%s: got %v, want ErrBadReceipt", name, err)
		}
	}
	// A payment re-signed by someone else for the same fields is refused.
	var c TrafficReceipt
	_ = json.Unmarshal(b, &c)
	forged, _ := ledger.Sign(other, ledger.Transfer{ID: c.Payment.ID, From: payee.String(), To: payee.String() + "x", Amount: 1, Time: 1})
	c.Payment = &forged
	cb, _ := json.Marshal(c)
	if _, err := DecodeReceipt(cb); !errors.Is(err, ErrBadReceipt) {
		t.Errorf("forged payment: got %v", err)
	}
	if _, err := DecodeReceipt(bytes.Repeat([]byte{'{'}, MaxReceiptSize+1)); !errors.Is(err, ErrBadReceipt) {
		t.Errorf("oversized: got %v", err)
	}
	// Billing off: evidence only, no payment.
	ev, err := NewTrafficReceipt(k, payee.String(), "e1", 0, 100, 0, 1)
	if err != nil || ev.Payment != nil {
		t.Fatalf("evidence receipt %+v %v", ev, err)
	}
}

// fakeLedger settles payments like the real ledger would: signature,
// no overdraft, each ID once.
type fakeLedger struct {
	mu      sync.Mutex
	bal     map[string]int64
	applied map[string]bool
	// dust, when set, answers every payment with the receipt of another
	// transfer under its ID (a 1 micro-credit one the payer sent first),
	// as a ledger with IDs not scoped to their signer did.
	dust bool
}

func (l *fakeLedger) submit(_ context.Context, st ledger.SignedTransfer) (ledger.Receipt, error) {
	if err := st.Verify(); err != nil {
		return ledger.Receipt{}, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.dust {
		return ledger.Receipt{ID: st.ID, Amount: 1, Kind: ledger.KindTransfer, From: st.From, To: st.To, Replay: true}, nil
	}
	if l.applied[st.ID] {
		return ledger.Receipt{ID: st.ID, Amount: st.Amount, Kind: st.Kind, From: st.From, To: st.To, Replay: true}, nil
	}
	if l.bal[st.From] < st.Amount {
		return ledger.Receipt{}, ledger.ErrInsufficientFunds
	}
	l.bal[st.From] -= st.Amount
	l.bal[st.To] += st.Amount
	l.applied[st.ID] = true
	return ledger.Receipt{ID: st.ID, Amount: st.Amount, Kind: st.Kind, From: st.From, To: st.To}, nil
}

func (l *fakeLedger) balance(a peer.ID) int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.bal[a.String()]
}

type meterNode struct {
	h      host.Host
	key    crypto.PrivKey
	db     *store.DB
	m      *Meter
	cancel context.CancelFunc
	done   chan error
}

func testHost(t *testing.T) (host.Host, crypto.PrivKey) {
	t.Helper()
	k, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	h, err := p2p.NewLoopbackHost(k)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h, k
}

func newMeterNode(t *testing.T, price int64, l *fakeLedger, dir string) *meterNode {
	t.Helper()
	h, k := testHost(t)
	return startMeterNode(t, h, k, price, l, dir)
}

func startMeterNode(t *testing.T, h host.Host, k crypto.PrivKey, price int64, l *fakeLedger, dir string) *meterNode {
	t.Helper()
	db, err := store.Open(filepath.Join(dir, "db.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m, err := New(ctx, Config{Host: h, DB: db, Key: k, PricePerGiB: price, Submit: l.submit,
		ReceiptEvery: 30 * time.Millisecond, SettleEvery: 30 * time.Millisecond, FlushEvery: 30 * time.Millisecond})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	n := &meterNode{h: h, key: k, db: db, m: m, cancel: cancel, done: make(chan error, 1)}
	go func() { n.done <- m.Serve(ctx) }()
	t.Cleanup(n.stop)
	return n
}

func (n *meterNode) stop() {
	if n.cancel == nil {
		return
	}
	n.cancel()
	<-n.done
	n.db.Close()
	n.cancel = nil
}

func connectHosts(t *testing.T, a, b host.Host) {
	t.Helper()
	a.Peerstore().AddAddrs(b.ID(), b.Addrs(), peerstore.PermanentAddrTTL)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Connect(ctx, peer.AddrInfo{ID: b.ID(), Addrs: b.Addrs()}); err != nil {
		t.Fatal(err)
	}
}

func usageOf(m *Meter, p peer.ID) PeerUsage {
	for _, u := range m.Usage() {
		if u.Peer == p.String() {
			return u
		}
	}
	return PeerUsage{}
}

// A downloader's receipts are settled as transfers to the uploader, once
// each; a downloader that cannot pay loses its priority.
func TestMeterReceiptsSettle(t *testing.T) {
	const price = 1_000_000 // 1 credit per GiB
	l := &fakeLedger{bal: map[string]int64{}, applied: map[string]bool{}}
	up := newMeterNode(t, price, l, t.TempDir())
	rich := newMeterNode(t, price, l, t.TempDir())
	poor := newMeterNode(t, price, l, t.TempDir())
	l.bal[rich.h.ID().String()] = 10 * ledger.MicroPerCredit
	connectHosts(t, rich.h, up.h)
	connectHosts(t, poor.h, up.h)

	// up served 1.5 GiB to each; each verified what it got.
	for _, d := range []*meterNode{rich, poor} {
		for range 3 {
			up.m.Sent(d.h.ID(), GiB/2)
			d.m.Received(up.h.ID(), GiB/2)
		}
	}
	want := Owed(3*GiB/2, price)
	testutil.Eventually(t, 20*time.Second, "settlement", func() bool { return usageOf(up.m, rich.h.ID()).PaidIn == want })
	if got := l.balance(up.h.ID()); got != want {
		t.Fatalf("uploader balance %d, want %d", got, want)
	}
	if got := l.balance(rich.h.ID()); got != 10*ledger.MicroPerCredit-want {
		t.Fatalf("downloader balance %d", got)
	}
	if c := up.m.Priority(rich.h.ID()); c != ClassPays {
		t.Errorf("paying peer in class %d", c)
	}
	testutil.Eventually(t, 20*time.Second, "failed settlement", func() bool {
		c, err := up.m.Receipts(context.Background())
		return err == nil && c.Failed >= 1
	})
	if c := up.m.Priority(poor.h.ID()); c != ClassOther {
		t.Errorf("peer whose payment failed in class %d", c)
	}
	u := usageOf(up.m, rich.h.ID())
	if u.Uploaded != 3*GiB/2 || u.ReceiptedIn != 3*GiB/2 {
		t.Errorf("uploader's record of the payer: %+v", u)
	}
	d := usageOf(rich.m, up.h.ID())
	if d.Downloaded != 3*GiB/2 || d.ReceiptedOut != 3*GiB/2 || d.BilledOut != want {
		t.Errorf("payer's record of the uploader: %+v", d)
	}

	// A receipt resent after a lost answer is acknowledged, not counted
	// twice, and its payment applies once.
	b, _ := json.Marshal(mustLastReceipt(t, up, rich.h.ID()))
	if _, err := rich.db.Exec(`INSERT INTO meter_out(payee, receipt) VALUES (?, ?)`, up.h.ID().String(), b); err != nil {
		t.Fatal(err)
	}
	if err := rich.m.issue(context.Background(), up.h.ID()); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if u := usageOf(up.m, rich.h.ID()); u.ReceiptedIn != 3*GiB/2 || u.PaidIn != want {
		t.Errorf("after a resent receipt: %+v", u)
	}
	if got := l.balance(up.h.ID()); got != want {
		t.Errorf("uploader balance %d after a resent receipt, want %d", got, want)
	}
}

func mustLastReceipt(t *testing.T, n *meterNode, payer peer.ID) TrafficReceipt {
	t.Helper()
	var b []byte
	if err := n.db.QueryRow(`SELECT receipt FROM meter_receipts WHERE payer = ? ORDER BY end DESC LIMIT 1`, payer.String()).Scan(&b); err != nil {
		t.Fatal(err)
	}
	r, err := DecodeReceipt(b)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// Counters survive a restart; a peer that uploads back is a reciprocator.
func TestMeterPersistsAndReciprocity(t *testing.T) {
	l := &fakeLedger{bal: map[string]int64{}, applied: map[string]bool{}}
	dir := t.TempDir()
	h, k := testHost(t)
	a := startMeterNode(t, h, k, 0, l, dir)
	pk, _, _ := crypto.GenerateEd25519Key(nil)
	p, _ := peer.IDFromPrivateKey(pk)
	a.m.Sent(p, 4<<20)
	a.m.Received(p, 3<<20)
	a.m.UnitRun(p)
	a.m.UnitUsed(p)
	a.m.UnitUsed(p)
	if c := a.m.Priority(p); c != ClassReciprocates {
		t.Errorf("class %d, want reciprocates", c)
	}
	a.stop()
	b := startMeterNode(t, h, k, 0, l, dir)
	u := usageOf(b.m, p)
	if u.Uploaded != 4<<20 || u.Downloaded != 3<<20 || u.UnitsRun != 1 || u.UnitsUsed != 2 {
		t.Fatalf("after restart: %+v", u)
	}
	if b.m.epoch != a.m.epoch {
		t.Fatal("epoch changed across a restart")
	}
	b.m.Sent(p, 10<<20)
	if c := b.m.Priority(p); c != ClassOther {
		t.Errorf("class %d after uploading far more than it gave back", c)
	}
}

// Hostile receipts are refused with a clear answer: one sent on another
// payer's behalf, an oversized frame, and garbage.
func TestMeterRefusesHostileReceipts(t *testing.T) {
	l := &fakeLedger{bal: map[string]int64{}, applied: map[string]bool{}}
	up := newMeterNode(t, 1_000_000, l, t.TempDir())
	mallory, _ := testHost(t)
	connectHosts(t, mallory, up.h)
	victim, _, _ := crypto.GenerateEd25519Key(nil)
	r, err := NewTrafficReceipt(victim, up.h.ID().String(), "e", 0, GiB, 1_000_000, time.Now().UnixNano())
	if err != nil {
		t.Fatal(err)
	}
	good, _ := r.Encode()
	frame := func(b []byte) []byte { return append(binary.AppendUvarint(nil, uint64(len(b))), b...) }
	for name, c := range map[string]struct {
		data []byte
		want string
	}{
		"other payer": {frame(good), "sent by"},
		"oversized":   {binary.AppendUvarint(nil, MaxReceiptSize+1), "limit"},
		"garbage":     {frame([]byte("{]")), "bad traffic receipt"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		s, err := mallory.NewStream(ctx, up.h.ID(), ReceiptProtocol)
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		s.Write(c.data)
		s.CloseWrite()
		var res receiptResult
		err = json.NewDecoder(s).Decode(&res)
		s.Close()
		cancel()
		if err != nil || res.OK || !strings.Contains(res.Error, c.want) {
			t.Errorf("%s: answer %+v %v, want an error containing %q", name, res, err, c.want)
		}
	}
	if c, _ := up.m.Receipts(context.Background()); c != (ReceiptCounts{}) {
		t.Errorf("receipts stored: %+v", c)
	}
	// A flood: past its share of receipts the peer gets no answer at all
	// (a reset stream, which an honest sender retries later).
	reset := 0
	for range receiptBurst + 30 {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		s, err := mallory.NewStream(ctx, up.h.ID(), ReceiptProtocol)
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		s.Write(frame(good))
		s.CloseWrite()
		var res receiptResult
		if err := json.NewDecoder(s).Decode(&res); err != nil {
			reset++
		}
		s.Close()
		cancel()
	}
	if reset < 10 {
		t.Errorf("%d of %d receipts at once went unanswered, want at least 10", reset, receiptBurst+30)
	}
}

// The meter counts a payment settled only on the receipt of that very
// transfer: a receipt for another transfer under the payment's ID (the
// payer spent the ID first on dust) fails the payment and the payer's
// priority.
func TestMeterRefusesAnotherTransfersReceipt(t *testing.T) {
	const price = 1_000_000
	l := &fakeLedger{bal: map[string]int64{}, applied: map[string]bool{}, dust: true}
	up := newMeterNode(t, price, l, t.TempDir())
	payer := newMeterNode(t, price, l, t.TempDir())
	connectHosts(t, payer.h, up.h)
	up.m.Sent(payer.h.ID(), GiB)
	payer.m.Received(up.h.ID(), GiB)
	var c ReceiptCounts
	testutil.Eventually(t, 20*time.Second, "the payment to fail", func() bool {
		var err error
		c, err = up.m.Receipts(context.Background())
		return err == nil && c.Failed > 0
	})
	if c.Settled != 0 || usageOf(up.m, payer.h.ID()).PaidIn != 0 || up.m.Priority(payer.h.ID()) == ClassPays {
		t.Fatalf("receipts %+v, paid %d, class %d", c, usageOf(up.m, payer.h.ID()).PaidIn, up.m.Priority(payer.h.ID()))
	}
}
