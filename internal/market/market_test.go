package market

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/hashicorp/raft"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"go.uber.org/goleak"

	"github.com/peerpath/peerpath/internal/ledger"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// network is an in-process stand-in for the ledger (a real ledger FSM,
// entries applied one by one), the file layer and the search layer.
type network struct {
	mu       sync.Mutex
	fsm      *ledger.FSM
	idx      uint64
	voters   []string
	operator string
	files    map[string][]byte // cid -> bytes
	names    map[string]string // cid -> name
	owners   map[string]string // path -> cid
	skew     time.Duration     // added to the leader's clock
}

func newNetwork(t *testing.T, voters []string, operator string, balances map[string]int64) *network {
	n := &network{fsm: ledger.NewFSM(), idx: 1, voters: voters, operator: operator,
		files: map[string][]byte{}, names: map[string]string{}, owners: map[string]string{}}
	g, _ := json.Marshal(ledger.Genesis{Balances: balances, FeeBPS: 100, Operator: operator})
	var conf raft.Configuration
	for _, v := range voters {
		conf.Servers = append(conf.Servers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(v), Address: raft.ServerAddress(v)})
	}
	n.fsm.StoreConfiguration(1, conf)
	if out := n.fsm.Apply(&raft.Log{Index: 2, Type: raft.LogCommand, Data: append([]byte{2}, g...)}); out != nil {
		t.Fatalf("genesis: %v", out)
	}
	n.idx = 2
	return n
}

// nodeLedger is one node's view of the ledger.
type nodeLedger struct {
	n     *network
	voter bool
}

func (l nodeLedger) Submit(ctx context.Context, st ledger.SignedTransfer) (ledger.Receipt, error) {
	l.n.mu.Lock()
	defer l.n.mu.Unlock()
	l.n.idx++
	b, _ := st.MarshalBinary()
	data := []byte{3} // a batch under ledger.RulesV2
	data = binary.BigEndian.AppendUint64(data, uint64(time.Now().Add(l.n.skew).UnixNano()))
	data = binary.AppendUvarint(data, 1)
	data = append(data, b...)
	out := l.n.fsm.Apply(&raft.Log{Index: l.n.idx, Type: raft.LogCommand, Data: data})
	res, ok := out.([]ledger.TxResult)
	if !ok {
		return ledger.Receipt{}, fmt.Errorf("apply: %v", out)
	}
	if err := l.n.fsm.CheckInvariant(); err != nil {
		panic(err)
	}
	return res[0].Receipt, res[0].Err
}

func (l nodeLedger) Status(ctx context.Context) (ledger.Status, error) {
	return ledger.Status{Voters: l.n.voters, Operator: l.n.operator}, nil
}
func (l nodeLedger) MarketListing(ctx context.Context, id string) (ledger.MarketListing, error) {
	return l.n.fsm.MarketListing(id)
}
func (l nodeLedger) Order(ctx context.Context, id string) (ledger.Order, error) {
	return l.n.fsm.Order(id)
}
func (l nodeLedger) Orders(ctx context.Context, a string) ([]ledger.Order, error) {
	return l.n.fsm.Orders(a)
}
func (l nodeLedger) Ratings(ctx context.Context, s string) ([]ledger.Rating, error) {
	return l.n.fsm.Ratings(s)
}
func (l nodeLedger) PendingOrders() []ledger.Order {
	if !l.voter {
		return nil
	}
	return l.n.fsm.PendingOrders()
}
func (l nodeLedger) IsLeader() bool { return l.voter }
func (l nodeLedger) Rules() int     { return l.n.fsm.Rules() }

func (n *network) Share(ctx context.Context, path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	id := "bafk" + hex.EncodeToString(sum[:12])
	n.mu.Lock()
	defer n.mu.Unlock()
	n.files[id], n.names[id], n.owners[path] = b, filepath.Base(path), id
	return id, nil
}

func (n *network) Unshare(ctx context.Context, path string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	id, ok := n.owners[path]
	if !ok {
		return errors.New("not shared")
	}
	delete(n.files, id)
	delete(n.names, id)
	delete(n.owners, path)
	return nil
}

func (n *network) Fetch(ctx context.Context, id, out string) error {
	n.mu.Lock()
	b, ok := n.files[id]
	n.mu.Unlock()
	if !ok {
		return errors.New("no providers")
	}
	return os.WriteFile(out, b, 0o644)
}

func (n *network) Find(ctx context.Context, q string, emit func(Hit)) error {
	n.mu.Lock()
	var hits []Hit
	for id, name := range n.names {
		if strings.Contains(strings.ToLower(name), strings.ToLower(q)) {
			hits = append(hits, Hit{CID: id, Name: name, Score: 1})
		}
	}
	n.mu.Unlock()
	for _, h := range hits {
		emit(h)
	}
	return nil
}

func (n *network) Refresh() {}

type testNode struct {
	key crypto.PrivKey
	id  string
	svc *Service
}

func newKey(t *testing.T) (crypto.PrivKey, string) {
	k, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := peer.IDFromPrivateKey(k)
	return k, id.String()
}

func (n *network) node(t *testing.T, key crypto.PrivKey, voter bool) *Service {
	s, err := New(Config{Key: key, Dir: t.TempDir(), Ledger: nodeLedger{n: n, voter: voter}, Files: n, Finder: n,
		SettleInterval: 20 * time.Millisecond, PollInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

type world struct {
	net                         *network
	seller, buyer, voter, other *Service
	opID                        string
}

func newWorld(t *testing.T) *world {
	sk, sid := newKey(t)
	bk, bid := newKey(t)
	vk, vid := newKey(t)
	ok, oid := newKey(t)
	_, opID := newKey(t)
	n := newNetwork(t, []string{vid}, opID, map[string]int64{bid: 100_000_000, sid: 10_000_000, oid: 1_000_000})
	w := &world{net: n, seller: n.node(t, sk, false), buyer: n.node(t, bk, false), voter: n.node(t, vk, true),
		other: n.node(t, ok, false), opID: opID}
	return w
}

func (w *world) serveVoter(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = w.voter.Serve(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

func writeFile(t *testing.T, data []byte) string {
	p := filepath.Join(t.TempDir(), "goods.bin")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func bal(t *testing.T, n *network, id string) int64 {
	b, err := n.fsm.Balance(id)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSellFindBuyRate(t *testing.T) {
	w := newWorld(t)
	w.serveVoter(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	plain := bytes.Repeat([]byte("the secret recipe for peerpath pancakes. "), 2000)
	res, err := w.seller.Sell(ctx, SellRequest{Path: writeFile(t, plain), Title: "Pancake Recipes", Tags: []string{"food"}, Price: 5_000_000})
	if err != nil {
		t.Fatal(err)
	}
	// The ciphertext is shared and does not reveal the plaintext; a random
	// key does not open it.
	ct := w.net.files[res.CID]
	if len(ct) == 0 || bytes.Contains(ct, []byte("secret recipe")) {
		t.Fatalf("ciphertext of %d bytes missing or revealing", len(ct))
	}
	rnd, _ := age.GenerateX25519Identity()
	if err := decryptTo(new(bytes.Buffer), bytes.NewReader(ct), rnd.String()); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("random key: %v", err)
	}
	if own := w.seller.Listings(); len(own) != 1 || own[0].ID != res.ID {
		t.Fatalf("own listings %+v", own)
	}
	found, stats, err := w.buyer.Search(ctx, "pancake", 0)
	if err != nil || len(found) != 1 || found[0].ID != res.ID || found[0].Price != 5_000_000 || stats.Dropped != 0 {
		t.Fatalf("search: %+v %+v %v", found, stats, err)
	}
	sellerBefore, buyerBefore := bal(t, w.net, w.seller.id), bal(t, w.net, w.buyer.id)
	out := filepath.Join(t.TempDir(), "bought")
	br, err := w.buyer.Buy(ctx, res.ID, out)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(out)
	if !bytes.Equal(got, plain) {
		t.Fatal("decrypted goods differ")
	}
	if d := bal(t, w.net, w.seller.id) - sellerBefore; d != 5_000_000 {
		t.Fatalf("seller got %d", d)
	}
	if d := buyerBefore - bal(t, w.net, w.buyer.id); d != 5_000_000+br.Fee || br.Fee != 50_000 {
		t.Fatalf("buyer paid %d, fee %d", d, br.Fee)
	}
	if bal(t, w.net, w.opID) != 50_000 {
		t.Fatalf("operator has %d", bal(t, w.net, w.opID))
	}
	// Buying again resumes the released order: no second payment.
	if _, err := w.buyer.Buy(ctx, res.ID, out+"2"); err != nil {
		t.Fatal(err)
	}
	if d := buyerBefore - bal(t, w.net, w.buyer.id); d != 5_050_000 {
		t.Fatalf("second buy charged again: paid %d", d)
	}
	ords, err := w.buyer.Orders(ctx)
	if err != nil || len(ords) != 1 || ords[0].State != ledger.OrderReleased || ords[0].Role != "buy" || ords[0].Title != "Pancake Recipes" {
		t.Fatalf("buyer orders %+v %v", ords, err)
	}
	sales, _ := w.seller.Orders(ctx)
	if len(sales) != 1 || sales[0].Role != "sell" {
		t.Fatalf("seller orders %+v", sales)
	}
	// Only the buyer rates, once.
	if err := w.other.Rate(ctx, br.Order, 1, "never bought"); !errors.Is(err, ledger.ErrNotPermitted) {
		t.Fatalf("rating by a non-buyer: %v", err)
	}
	if err := w.buyer.Rate(ctx, br.Order, 5, "tasty"); err != nil {
		t.Fatal(err)
	}
	if err := w.buyer.Rate(ctx, br.Order, 5, "again"); !errors.Is(err, ledger.ErrSettled) {
		t.Fatalf("second rating: %v", err)
	}
	page, err := w.other.Seller(ctx, w.seller.id)
	if err != nil || page.Count != 1 || page.Rating != 5 || page.Ratings[0].Comment != "tasty" {
		t.Fatalf("seller page %+v %v", page, err)
	}
	found, _, _ = w.other.Search(ctx, "pancake", 0)
	if len(found) != 1 || found[0].Rating != 5 || found[0].Ratings != 1 {
		t.Fatalf("rating not in results: %+v", found)
	}
	// Withdrawn: no longer found, no longer sold.
	if err := w.seller.Withdraw(ctx, res.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := w.other.Buy(ctx, res.ID, filepath.Join(t.TempDir(), "x")); !errors.Is(err, ErrMismatch) {
		t.Fatalf("buying a withdrawn listing: %v", err)
	}
}

// TestWrongKeyRefunds: a seller registers a key record whose sealed copy
// is not the key committed to; the voter refunds the buyer.
func TestWrongKeyRefunds(t *testing.T) {
	w := newWorld(t)
	w.serveVoter(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s := w.seller
	key, _ := newContentKey()
	wrong, _ := newContentKey()
	var ct bytes.Buffer
	if err := encryptTo(&ct, strings.NewReader("goods"), key); err != nil {
		t.Fatal(err)
	}
	p := writeFile(t, ct.Bytes())
	cid, _ := w.net.Share(ctx, p)
	l, err := Sign(s.cfg.Key, Listing{Version: 1, Title: "Cheat", Price: 1_000_000, CID: cid, Size: int64(ct.Len()),
		Commit: hex.EncodeToString(commitment(key.String())), Seller: s.id, Expiry: time.Now().Add(time.Hour).UnixNano()})
	if err != nil {
		t.Fatal(err)
	}
	vpub, err := x25519FromPeer(w.net.voters[0])
	if err != nil {
		t.Fatal(err)
	}
	box, _ := seal(vpub, []byte(wrong.String()))
	if err := s.register(ctx, l.ID(), l.Price, ledger.ListingKey{CID: cid, Size: int64(ct.Len()), Commit: commitment(key.String()),
		Expiry: l.Expiry, Sealed: map[string][]byte{w.net.voters[0]: box}}); err != nil {
		t.Fatal(err)
	}
	before, sellerBefore := bal(t, w.net, w.buyer.id), bal(t, w.net, s.id)
	out := filepath.Join(t.TempDir(), "out")
	_, err = w.buyer.Buy(ctx, l.ID(), out)
	if !errors.Is(err, ErrRefunded) {
		t.Fatalf("buy with a wrong key: %v", err)
	}
	if bal(t, w.net, w.buyer.id) != before || bal(t, w.net, s.id) != sellerBefore {
		t.Fatalf("buyer %d (was %d), seller %d (was %d)", bal(t, w.net, w.buyer.id), before, bal(t, w.net, s.id), sellerBefore)
	}
	if _, err := os.Stat(out); err == nil {
		t.Fatal("output written for a refunded order")
	}
	ords, _ := w.buyer.Orders(ctx)
	if len(ords) != 1 || ords[0].State != ledger.OrderRefunded || !strings.Contains(ords[0].Reason, "commitment") {
		t.Fatalf("orders %+v", ords)
	}
}

func TestForgedListingsDropped(t *testing.T) {
	w := newWorld(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := w.seller.Sell(ctx, SellRequest{Path: writeFile(t, []byte("song")), Title: "Lovely Song", Price: 2_000_000})
	if err != nil {
		t.Fatal(err)
	}
	genuine := w.seller.Listings()[0].Listing
	// 1. The seller's listing with its price changed: bad signature.
	forged := genuine
	forged.Price = 1
	// 2. A listing properly signed by another peer that the ledger never
	//    registered (e.g. pointing at the seller's ciphertext).
	fake, err := Sign(w.other.cfg.Key, Listing{Version: 1, Title: "Lovely Song cheap", Price: 1, CID: genuine.CID,
		Commit: genuine.Commit, Seller: w.other.id, Expiry: time.Now().Add(time.Hour).UnixNano()})
	if err != nil {
		t.Fatal(err)
	}
	// 3. Claims to be the seller's but signed by another key.
	impostor := genuine
	impostor.Title = "Lovely Song deluxe"
	impostor.Sig, _ = w.other.cfg.Key.Sign(impostor.signingBytes())
	dir := t.TempDir()
	for i, l := range []Listing{forged, fake, impostor} {
		p := filepath.Join(dir, fmt.Sprintf("Lovely Song %d%s", i, ListingSuffix))
		os.WriteFile(p, l.Encode(), 0o644)
		if _, err := w.net.Share(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	found, stats, err := w.buyer.Search(ctx, "lovely", 0)
	if err != nil || len(found) != 1 || found[0].ID != res.ID || stats.Dropped != 3 {
		t.Fatalf("search: %+v %+v %v", found, stats, err)
	}
	if _, err := w.buyer.Check(ctx, &forged); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("forged: %v", err)
	}
	if _, err := w.buyer.Check(ctx, &impostor); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("impostor: %v", err)
	}
	if _, err := w.buyer.Check(ctx, &fake); !errors.Is(err, ErrMismatch) {
		t.Fatalf("unregistered: %v", err)
	}
	expired := genuine
	expired.Expiry = time.Now().Add(-time.Minute).UnixNano()
	expired, _ = Sign(w.seller.cfg.Key, expired)
	if err := expired.Verify(time.Now()); !errors.Is(err, ErrExpired) {
		t.Fatalf("expired: %v", err)
	}
}

func TestSponsoredFirst(t *testing.T) {
	w := newWorld(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	a, err := w.seller.Sell(ctx, SellRequest{Path: writeFile(t, []byte("a")), Title: "Guitar lessons one", Price: 1_000_000})
	if err != nil {
		t.Fatal(err)
	}
	b, err := w.other.Sell(ctx, SellRequest{Path: writeFile(t, []byte("b")), Title: "Guitar lessons two", Price: 1_000_000, Sponsor: 300_000})
	if err != nil {
		t.Fatal(err)
	}
	found, _, err := w.buyer.Search(ctx, "guitar", 0)
	if err != nil || len(found) != 2 || found[0].ID != b.ID || !found[0].Sponsored || found[1].ID != a.ID || found[1].Sponsored {
		t.Fatalf("ranking: %+v %v", found, err)
	}
	if bal(t, w.net, w.opID) != 300_000 {
		t.Fatalf("operator has %d", bal(t, w.net, w.opID))
	}
	if err := w.buyer.Sponsor(ctx, a.ID, 1); !errors.Is(err, ledger.ErrNotPermitted) {
		t.Fatalf("sponsoring someone else's listing: %v", err)
	}
}

// A search without words browses every listing: sponsored first, then
// newest first, each result carrying the ledger's time of its listing.
func TestBrowseNewestFirst(t *testing.T) {
	w := newWorld(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var ids []string
	for i, s := range []*Service{w.seller, w.other, w.seller} {
		r, err := s.Sell(ctx, SellRequest{Path: writeFile(t, []byte{byte(i)}), Title: fmt.Sprintf("Item %d", i), Price: 1_000_000})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID)
		time.Sleep(2 * time.Millisecond) // distinct ledger times
	}
	for _, q := range []string{"", "*", "  "} {
		found, _, err := w.buyer.Search(ctx, q, 0)
		if err != nil || len(found) != 3 {
			t.Fatalf("browse %q: %+v %v", q, found, err)
		}
		for i, want := range []string{ids[2], ids[1], ids[0]} {
			ml, _ := w.net.fsm.MarketListing(want)
			if found[i].ID != want || found[i].Created != ml.Created || ml.Created == 0 {
				t.Fatalf("browse %q: result %d is %s created %d, want %s created %d", q, i, found[i].Title, found[i].Created, want, ml.Created)
			}
		}
	}
	if err := w.other.Sponsor(ctx, ids[1], 1000); err != nil {
		t.Fatal(err)
	}
	found, _, err := w.buyer.Search(ctx, "", 0)
	if err != nil || len(found) != 3 || found[0].ID != ids[1] || found[1].ID != ids[2] || found[2].ID != ids[0] {
		t.Fatalf("browse after sponsoring the middle one: %+v %v", found, err)
	}
}

// Browsing ranks by the day a listing was made, then by the seller's
// rating (unrated counts as 3 stars), then by the exact time.
func TestRankNewest(t *testing.T) {
	day := int64(24 * time.Hour)
	base := 1000 * day
	rs := []SearchResult{
		{ID: "old-top", Created: base - day + 5, Rating: 5, Ratings: 9},
		{ID: "today-unrated-early", Created: base + 10},
		{ID: "today-2star", Created: base + 99, Rating: 2, Ratings: 1},
		{ID: "today-5star", Created: base + 1, Rating: 5, Ratings: 3},
		{ID: "today-unrated-late", Created: base + 50},
		{ID: "sponsored-old", Created: base - 3*day, Sponsored: true},
	}
	rankNewest(rs)
	var got []string
	for _, r := range rs {
		got = append(got, r.ID)
	}
	want := []string{"sponsored-old", "today-5star", "today-unrated-late", "today-unrated-early", "today-2star", "old-top"}
	if !slices.Equal(got, want) {
		t.Fatalf("order %v, want %v", got, want)
	}
}

func TestX25519FromPeerMatchesKey(t *testing.T) {
	for range 20 {
		k, id := newKey(t)
		pub, err := x25519FromPeer(id)
		if err != nil {
			t.Fatal(err)
		}
		priv, err := x25519FromKey(k)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(pub.Bytes(), priv.PublicKey().Bytes()) {
			t.Fatal("derived X25519 public keys differ")
		}
		box, err := seal(pub, []byte("content key"))
		if err != nil {
			t.Fatal(err)
		}
		if msg, err := open(priv, box); err != nil || string(msg) != "content key" {
			t.Fatalf("open: %q %v", msg, err)
		}
		other, _ := newKey(t)
		op, _ := x25519FromKey(other)
		if _, err := open(op, box); !errors.Is(err, ErrWrongKey) {
			t.Fatalf("opened by another key: %v", err)
		}
	}
}

// TestPendingOrderRefund: with no voter settling, Buy gives up with
// ErrPending, the buyer cannot refund before the deadline and can after.
func TestPendingOrderRefund(t *testing.T) {
	w := newWorld(t) // the voter does not serve
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := w.seller.Sell(ctx, SellRequest{Path: writeFile(t, []byte("x")), Title: "Patience", Price: 1_000_000})
	if err != nil {
		t.Fatal(err)
	}
	before := bal(t, w.net, w.buyer.id)
	bctx, bcancel := context.WithTimeout(ctx, 300*time.Millisecond)
	_, err = w.buyer.Buy(bctx, res.ID, filepath.Join(t.TempDir(), "out"))
	bcancel()
	if !errors.Is(err, ErrPending) {
		t.Fatalf("buy with no voter: %v", err)
	}
	ords, _ := w.buyer.Orders(ctx)
	if len(ords) != 1 || ords[0].State != ledger.OrderPending || bal(t, w.net, w.buyer.id) != before-1_010_000 {
		t.Fatalf("orders %+v, balance %d", ords, bal(t, w.net, w.buyer.id))
	}
	if err := w.buyer.Refund(ctx, ords[0].ID); !errors.Is(err, ledger.ErrNotPermitted) {
		t.Fatalf("early refund: %v", err)
	}
	w.net.mu.Lock()
	w.net.skew = ledger.OrderTimeout + time.Second
	w.net.mu.Unlock()
	if err := w.other.Refund(ctx, ords[0].ID); !errors.Is(err, ledger.ErrNotPermitted) {
		t.Fatalf("refund by a stranger: %v", err)
	}
	if err := w.buyer.Refund(ctx, ords[0].ID); err != nil {
		t.Fatal(err)
	}
	if bal(t, w.net, w.buyer.id) != before {
		t.Fatalf("buyer has %d after refund, want %d", bal(t, w.net, w.buyer.id), before)
	}
	// A late voter can no longer release it: never both.
	w.serveVoter(t)
	time.Sleep(100 * time.Millisecond)
	if o, _ := w.net.fsm.Order(ords[0].ID); o.State != ledger.OrderRefunded {
		t.Fatalf("order %+v", o)
	}
}

// TestTwoVotersSettleOnce: both voters hold the key and race to settle;
// the order settles once and the seller is paid once.
func TestTwoVotersSettleOnce(t *testing.T) {
	sk, sid := newKey(t)
	bk, bid := newKey(t)
	v1k, v1 := newKey(t)
	v2k, v2 := newKey(t)
	_, op := newKey(t)
	n := newNetwork(t, []string{v1, v2}, op, map[string]int64{bid: 50_000_000})
	seller, buyer := n.node(t, sk, false), n.node(t, bk, false)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, k := range []crypto.PrivKey{v1k, v2k} {
		v := n.node(t, k, true)
		sctx, scancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); _ = v.Serve(sctx) }()
		t.Cleanup(func() { scancel(); <-done })
	}
	plain := []byte("two voters, one payment")
	res, err := seller.Sell(ctx, SellRequest{Path: writeFile(t, plain), Title: "Once", Price: 3_000_000})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		out := filepath.Join(t.TempDir(), fmt.Sprint("out", i))
		if _, err := buyer.Buy(ctx, res.ID, out); err != nil {
			t.Fatal(err)
		}
		if got, _ := os.ReadFile(out); !bytes.Equal(got, plain) {
			t.Fatal("goods differ")
		}
	}
	time.Sleep(200 * time.Millisecond) // let the other voter try too
	if got := bal(t, n, sid); got != 3_000_000 {
		t.Fatalf("seller has %d, want 3000000 (paid once)", got)
	}
	if got := bal(t, n, bid); got != 50_000_000-3_030_000 {
		t.Fatalf("buyer has %d", got)
	}
}

// lossyLedger applies every purchase twice, as the ledger client does when
// the answer to its first attempt is lost and it retries with the same ID;
// the caller sees the retry's answer.
type lossyLedger struct{ nodeLedger }

func (l lossyLedger) Submit(ctx context.Context, st ledger.SignedTransfer) (ledger.Receipt, error) {
	rec, err := l.nodeLedger.Submit(ctx, st)
	if err != nil || st.Kind != ledger.KindBuy {
		return rec, err
	}
	return l.nodeLedger.Submit(ctx, st)
}

// TestBuyAfterLostReply: the ledger refuses a replayed order
// (ledger.ErrReplayed), and Buy recognises the refused replay of its own
// order as paid, so it completes and pays once. A replay of that order
// submitted by anyone else is refused with a clear error.
func TestBuyAfterLostReply(t *testing.T) {
	w := newWorld(t)
	w.serveVoter(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	plain := []byte("answered twice, paid once")
	res, err := w.seller.Sell(ctx, SellRequest{Path: writeFile(t, plain), Title: "Lost reply", Price: 2_000_000})
	if err != nil {
		t.Fatal(err)
	}
	bk := w.buyer.cfg.Key
	buyer, err := New(Config{Key: bk, Dir: t.TempDir(), Ledger: lossyLedger{nodeLedger{n: w.net}}, Files: w.net, Finder: w.net,
		PollInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	before := bal(t, w.net, buyer.id)
	out := filepath.Join(t.TempDir(), "out")
	br, err := buyer.Buy(ctx, res.ID, out)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(out); !bytes.Equal(got, plain) {
		t.Fatal("goods differ")
	}
	if paid := before - bal(t, w.net, buyer.id); paid != 2_020_000 {
		t.Fatalf("buyer paid %d, want 2020000 once", paid)
	}
	// The same signed order again, as a peer that captured it would send it.
	o, err := w.net.fsm.Order(br.Order)
	if err != nil {
		t.Fatal(err)
	}
	replay, err := ledger.Sign(bk, ledger.Transfer{ID: br.Order, Kind: ledger.KindBuy, From: buyer.id, To: o.Seller,
		Amount: o.Price, Ref: res.ID, Data: o.BuyerKey, Time: time.Now().UnixNano()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := (nodeLedger{n: w.net}).Submit(ctx, replay); !errors.Is(err, ledger.ErrReplayed) ||
		!strings.Contains(err.Error(), "order "+br.Order+" already placed") {
		t.Fatalf("replayed order: %v", err)
	}
	// An order ID already held by another buyer's purchase is not taken
	// for this node's own.
	if err := w.other.ownOrder(ctx, br.Order, res.ID, o.BuyerKey, ledger.ErrReplayed); !errors.Is(err, ledger.ErrReplayed) {
		t.Fatalf("another buyer's order taken as own: %v", err)
	}
	if paid := before - bal(t, w.net, buyer.id); paid != 2_020_000 {
		t.Fatalf("buyer paid %d after the replay, want 2020000", paid)
	}
}

// Buy refuses a listing whose key copies are not all sealed to current
// ledger voters: no voter could release it, and a copy held by its seller
// is a listing built to cheat.
func TestBuyRefusesListingNotSealedToVoters(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	vid := w.voter.id
	for _, sealed := range []map[string][]byte{{}, {w.seller.id: {1}}, {vid: {1}, w.seller.id: {1}}} {
		err := w.buyer.checkSealed(ctx, ledger.MarketListing{ID: "L", ListingKey: ledger.ListingKey{Sealed: sealed}})
		if !errors.Is(err, ErrMismatch) {
			t.Fatalf("sealed to %v: %v", sealed, err)
		}
	}
	if err := w.buyer.checkSealed(ctx, ledger.MarketListing{ID: "L", ListingKey: ledger.ListingKey{Sealed: map[string][]byte{vid: {1}}}}); err != nil {
		t.Fatal(err)
	}
}

// Goods decrypt to a name of 255 bytes (the longest a file system takes):
// the temporary file beside it has a short name of its own, and nothing
// but the goods is left behind.
func TestDecryptFileLongName(t *testing.T) {
	key, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	plain := bytes.Repeat([]byte("long names are fine "), 500)
	var ct bytes.Buffer
	if err := encryptTo(&ct, bytes.NewReader(plain), key); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	src := filepath.Join(t.TempDir(), "goods.ppgoods")
	if err := os.WriteFile(src, ct.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, strings.Repeat("n", 251)+".pdf")
	n, err := decryptFile(src, out, key.String())
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(out)
	if err != nil || n != int64(len(plain)) || !bytes.Equal(got, plain) {
		t.Fatalf("decrypted %d bytes (%v), want the %d of the goods", n, err, len(plain))
	}
	// A wrong key leaves nothing behind but the earlier file.
	other, _ := age.GenerateX25519Identity()
	if _, err := decryptFile(src, filepath.Join(dir, "x.pdf"), other.String()); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("wrong key: %v", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("left in the folder: %v", ents)
	}
}
