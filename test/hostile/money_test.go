//go:build linux

package hostile

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/peerpath/peerpath/api"
	"github.com/peerpath/peerpath/internal/config"
	"github.com/peerpath/peerpath/internal/ledger"
	"github.com/peerpath/peerpath/internal/meter"
	"github.com/peerpath/peerpath/internal/testutil"
	"github.com/peerpath/peerpath/test/harness"
)

// moneyPeer is a hostile peer in the test: its own libp2p identity,
// connected to a voter, speaking the ledger's client protocol through a
// non-voting ledger.Service (which only forwards what it is given), so
// every transfer it crafts is judged by the voter daemons alone.
type moneyPeer struct {
	h      host.Host
	key    crypto.PrivKey
	id     string
	ledger *ledger.Service
}

func newMoneyPeer(t *testing.T, voter *harness.Daemon) *moneyPeer {
	t.Helper()
	h, key := newPeer(t, voter)
	svc, err := ledger.New(context.Background(), ledger.Config{Host: h, Voters: []peer.ID{mustID(t, voter)}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close() })
	return &moneyPeer{h: h, key: key, id: h.ID().String(), ledger: svc}
}

// signed signs tr with key (From is the key's account unless set, a fresh
// ID unless set, the current time).
func signed(t *testing.T, key crypto.PrivKey, tr ledger.Transfer) ledger.SignedTransfer {
	t.Helper()
	if tr.From == "" && tr.Kind != ledger.KindGrant {
		id, _ := peer.IDFromPrivateKey(key)
		tr.From = id.String()
	}
	if tr.ID == "" {
		tr.ID = ledger.NewID()
	}
	tr.Time = time.Now().UnixNano()
	st, err := ledger.Sign(key, tr)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// submit sends st to the voters and returns their verdict.
func (p *moneyPeer) submit(t *testing.T, st ledger.SignedTransfer) (ledger.Receipt, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	rc, err := p.ledger.Submit(ctx, st)
	if ctx.Err() != nil {
		t.Fatalf("the voters did not decide within 20s: %v", err)
	}
	return rc, err
}

// startVoter starts a voter daemon with extra flags.
func startVoter(t *testing.T, extra ...string) *harness.Daemon {
	t.Helper()
	return harness.Start(t, append([]string{"--ledger-voter"}, extra...)...)
}

// createLedger creates v's ledger, v its only voter and the operator (fee
// 1%), with balances (account -> credits), and waits until v, and every
// daemon in others, sees v lead it.
func createLedger(t *testing.T, v *harness.Daemon, balances map[string]any, others ...*harness.Daemon) {
	t.Helper()
	vid := v.ID().ID
	gen := filepath.Join(t.TempDir(), "genesis.json")
	g, _ := json.Marshal(map[string]any{"balances": balances, "fee_bps": 100, "operator": vid})
	if err := os.WriteFile(gen, g, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, errOut, code := harness.CLI(t, "ledger", "create", "--voters", vid, "--genesis", gen, "--home", v.Home); code != 0 {
		t.Fatalf("ledger create: %s", errOut)
	}
	for _, d := range append([]*harness.Daemon{v}, others...) {
		harness.Eventually(t, 20*time.Second, func() error {
			var st api.LedgerStatus
			harness.CLIJSON(t, &st, "ledger", "status", "--home", d.Home)
			if st.Leader != vid {
				return fmt.Errorf("status %+v", st)
			}
			return nil
		})
	}
}

// joinLedger starts a non-voting daemon that uses v's ledger.
func joinLedger(t *testing.T, v *harness.Daemon, extra ...string) *harness.Daemon {
	t.Helper()
	return harness.Start(t, append([]string{"--bootstrap", v.Addr(), "--ledger-voters", v.ID().ID}, extra...)...)
}

func walletBalance(t *testing.T, d *harness.Daemon, acct string) string {
	t.Helper()
	var b api.Balance
	harness.CLIJSON(t, &b, "wallet", acct, "--home", d.Home)
	return b.Balance.String()
}

func identityKey(t *testing.T, d *harness.Daemon) crypto.PrivKey {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(d.Home, config.FileIdentity))
	if err != nil {
		t.Fatal(err)
	}
	key, err := crypto.UnmarshalPrivateKey(b)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func mustKey(t *testing.T) crypto.PrivKey {
	t.Helper()
	key, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// Class 1, escrow authority. A seller with no credits and no voter role
// lists goods whose key copy is "sealed" only to itself and releases the
// buyer's order to itself with a junk key. The ledger must refuse the
// listing (key copies go to the current voters only), refuse a release
// from anyone but a current voter, and end a listing sealed to the voter
// with a key that does not open in the buyer's refund.
func TestMoneyHostileSellerCannotSettle(t *testing.T) {
	v := startVoter(t)
	c := joinLedger(t, v)
	vid, cid := v.ID().ID, c.ID().ID
	createLedger(t, v, map[string]any{cid: 100})
	h := newMoneyPeer(t, v)
	ckey := identityKey(t, c)
	const price = 10_000_000
	list := func(sealed map[string][]byte) (string, error) {
		id := "hostile-" + ledger.NewID()
		lk := ledger.ListingKey{CID: "bafyhostilegoods", Size: 1000, Commit: testutil.RandBytes(32),
			Expiry: time.Now().Add(time.Hour).UnixNano(), Sealed: sealed}
		_, err := h.submit(t, signed(t, h.key, ledger.Transfer{Kind: ledger.KindList, To: h.id, Amount: price, Ref: id, Data: lk.Encode()}))
		return id, err
	}
	buy := func(listing string) ledger.SignedTransfer {
		o := signed(t, ckey, ledger.Transfer{Kind: ledger.KindBuy, To: h.id, Amount: price, Ref: listing, Data: testutil.RandBytes(32)})
		if _, err := h.submit(t, o); err != nil {
			t.Fatalf("the buyer's order: %v", err)
		}
		return o
	}
	release := func(order string) error {
		_, err := h.submit(t, signed(t, h.key, ledger.Transfer{Kind: ledger.KindRelease, To: h.id, Ref: order, Data: testutil.RandBytes(120)}))
		return err
	}

	// 1. Sealed only to the seller itself.
	self, err := list(map[string][]byte{h.id: testutil.RandBytes(80)})
	if err == nil {
		// The ledger took it: walk the attack to its end to show the damage.
		o := buy(self)
		if rerr := release(o.ID); rerr == nil {
			t.Fatalf("a seller with no voter role released order %s to itself with a junk key: the seller has %s credits, the buyer %s",
				o.ID, walletBalance(t, c, h.id), walletBalance(t, c, cid))
		}
		t.Fatal("the ledger registered a listing whose key copy is sealed only to its seller")
	}
	if !errors.Is(err, ledger.ErrListing) || !strings.Contains(err.Error(), "not a current voter") {
		t.Fatalf("listing sealed to its seller: %v", err)
	}
	if _, err := list(map[string][]byte{vid: testutil.RandBytes(80), h.id: testutil.RandBytes(80)}); !errors.Is(err, ledger.ErrListing) {
		t.Fatalf("listing sealed to the voter and its seller: %v", err)
	}

	// 2. Sealed to the voter, with a key that does not open: the seller
	// cannot settle the order itself, and the voter refunds the buyer.
	junk, err := list(map[string][]byte{vid: testutil.RandBytes(80)})
	if err != nil {
		t.Fatalf("listing sealed to the voter: %v", err)
	}
	o := buy(junk)
	if err := release(o.ID); !errors.Is(err, ledger.ErrNotPermitted) && !errors.Is(err, ledger.ErrSettled) {
		t.Fatalf("the seller's release of its own order: %v", err)
	}
	harness.Eventually(t, 20*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		got, err := h.ledger.Order(ctx, o.ID)
		if err != nil || got.State != ledger.OrderRefunded {
			return fmt.Errorf("order %+v, %v", got, err)
		}
		return nil
	})
	for acct, want := range map[string]string{cid: "100", h.id: "0"} {
		if got := walletBalance(t, c, acct); got != want {
			t.Fatalf("after the refund %s has %s credits, want %s", acct, got, want)
		}
	}
}

// Class 2, transfer ids scoped to their signer. E pays 0.000001 credits
// under an id; B's payment of 5 credits under the same id is B's own and
// applies (it used to "succeed" as a replay of E's receipt, paying
// nothing). B reusing its id with other content is refused with 409; a
// true retry answers with the first receipt.
func TestMoneyTransferIDScopedToSigner(t *testing.T) {
	v := startVoter(t)
	b := joinLedger(t, v)
	e := newMoneyPeer(t, v)
	vid, bid := v.ID().ID, b.ID().ID
	createLedger(t, v, map[string]any{bid: 100, e.id: 1, vid: 1})
	const id = "invoice-0042"
	if _, err := e.submit(t, signed(t, e.key, ledger.Transfer{ID: id, To: bid, Amount: 1})); err != nil {
		t.Fatalf("E's payment: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rc, err := b.Client.Send(ctx, api.SendRequest{To: vid, Amount: "5", ID: id})
	if err != nil {
		t.Fatalf("B's payment under E's id: %v", err)
	}
	if rc.Replay || rc.Amount.String() != "5" {
		t.Fatalf("B's payment of 5 under E's id was answered with %+v (E's receipt): B paid nothing", rc)
	}
	again, err := b.Client.Send(ctx, api.SendRequest{To: vid, Amount: "5", ID: id})
	if err != nil || !again.Replay || again.Index != rc.Index || again.Amount.String() != "5" {
		t.Fatalf("B's true retry: %+v, %v; want the first receipt %+v", again, err, rc)
	}
	_, err = b.Client.Send(ctx, api.SendRequest{To: vid, Amount: "7", ID: id})
	var ae *api.Error
	if !errors.As(err, &ae) || ae.Status != 409 || !strings.Contains(ae.Message, "already used") {
		t.Fatalf("B's id reused with other content: %v", err)
	}
	if got := walletBalance(t, b, bid); got != "94.950001" {
		t.Fatalf("B has %s credits, want 94.950001 (paid 5 and fee once, received E's 0.000001)", got)
	}
}

// Class 3, predictable settlement ids. A hostile payer signs a traffic
// receipt whose payment id it can compute, spends that id first on a
// dust transfer, then sends the receipt: the payee's meter must not count
// the debt as paid.
func TestMoneyPreSpentSettlementID(t *testing.T) {
	q := startVoter(t, "--price-per-gib", "1", "--settle-every", "300ms")
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the payee's log:\n%s", q.Out)
		}
	})
	h := newMoneyPeer(t, q)
	qid := q.ID().ID
	createLedger(t, q, map[string]any{h.id: 10, qid: 1})
	r, err := meter.NewTrafficReceipt(h.key, qid, "hostile-epoch", 0, meter.GiB, ledger.MicroPerCredit, time.Now().UnixNano())
	if err != nil || r.Payment == nil {
		t.Fatalf("receipt: %+v, %v", r, err)
	}
	if _, err := h.submit(t, signed(t, h.key, ledger.Transfer{ID: r.Payment.ID, To: qid, Amount: 1})); err != nil {
		t.Fatalf("dust transfer under the payment's id: %v", err)
	}
	// Deliver the receipt over the real receipt protocol.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := h.h.NewStream(ctx, mustID(t, q), meter.ReceiptProtocol)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := r.Encode()
	s.Write(append(binary.AppendUvarint(nil, uint64(len(b))), b...))
	s.CloseWrite()
	ans, _ := io.ReadAll(io.LimitReader(s, 1024))
	s.Close()
	if !strings.Contains(string(ans), `"ok":true`) {
		t.Fatalf("receipt refused: %s", ans)
	}
	var m api.Meter
	harness.Eventually(t, 30*time.Second, func() error {
		harness.CLIJSON(t, &m, "meter", "--home", q.Home)
		if m.Receipts["pending"] != 0 || m.Receipts["settled"]+m.Receipts["failed"] == 0 {
			return fmt.Errorf("receipts %v", m.Receipts)
		}
		return nil
	})
	for _, u := range m.Peers {
		if u.Peer == h.id && u.PaidIn.String() != "0" {
			t.Fatalf("the meter counts %s credits paid by a payer that paid 0.000001 (receipts %v)", u.PaidIn, m.Receipts)
		}
	}
	if m.Receipts["settled"] != 0 || m.Receipts["failed"] != 1 {
		t.Fatalf("receipts %v: the pre-spent payment counts as settled", m.Receipts)
	}
	// 1 from the genesis, the dust, and the dust's fee (Q is the operator).
	if got := walletBalance(t, q, qid); got != "1.000002" {
		t.Fatalf("the payee has %s credits, want 1.000002", got)
	}
}

// Class 4 and the amounts of class 17: a payment too small for a
// percentage fee still pays one (so splitting a payment saves nothing); a
// payment that opens an account pays a one-time 0.001 credits; an
// amount whose fee would overflow is a bad request (400), not a 402 with
// a negative "needs".
func TestMoneyFeesAndAmounts(t *testing.T) {
	v := startVoter(t)
	b := joinLedger(t, v)
	vid, bid := v.ID().ID, b.ID().ID
	createLedger(t, v, map[string]any{bid: 100, vid: 1})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rc, err := b.Client.Send(ctx, api.SendRequest{To: vid, Amount: "0.000099"})
	if err != nil {
		t.Fatal(err)
	}
	if rc.Fee.String() != "0.000001" {
		t.Fatalf("a payment of 0.000099 credits at 1%% paid fee %s, want 0.000001", rc.Fee)
	}
	// Opening an account costs a one-time 0.001 credits on top: dust
	// accounts in the voters' state cost their maker real credits.
	stranger, err := peer.IDFromPrivateKey(mustKey(t))
	if err != nil {
		t.Fatal(err)
	}
	rc, err = b.Client.Send(ctx, api.SendRequest{To: stranger.String(), Amount: "0.000001"})
	if err != nil || rc.Fee.String() != "0.001001" {
		t.Fatalf("dust opening an account: %+v, %v; want fee 0.001001", rc, err)
	}
	var ae *api.Error
	_, err = b.Client.Send(ctx, api.SendRequest{To: vid, Amount: "9223372036854"})
	if !errors.As(err, &ae) || ae.Status != 400 || strings.Contains(ae.Message, "needs -") {
		t.Fatalf("an over-large amount: %v", err)
	}
	if _, errOut, code := harness.CLI(t, "wallet", "send", vid, "9223372036854", "--home", b.Home); code == 0 || strings.Contains(errOut, "needs -") {
		t.Fatalf("wallet send of an over-large amount: exit %d, %q", code, errOut)
	}
}
