//go:build linux

package hostile

import (
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"

	"github.com/peerpath/peerpath/api"
	"github.com/peerpath/peerpath/internal/config"
	"github.com/peerpath/peerpath/internal/ledger"
	"github.com/peerpath/peerpath/internal/market"
	"github.com/peerpath/peerpath/test/harness"
)

// submitErr is submit for a test that needs only the verdict.
func (p *moneyPeer) submitErr(t *testing.T, st ledger.SignedTransfer) error {
	t.Helper()
	_, err := p.submit(t, st)
	return err
}

// The marketplace against hostile peers, on three daemons (V the ledger's
// voter and operator, A a seller, C a buyer) and a hostile peer H in the
// test:
//   - H lists goods whose key, sealed to the voter, does not match the
//     listing's commitment; C buys with `market buy`, the voter detects the
//     mismatch and refunds C in full, H gets nothing, and both the CLI and
//     `market orders` say so;
//   - H replays a buyer's signed order: the voter refuses it and C pays once;
//   - ratings signed by a peer without the purchase, or forged in the
//     buyer's name, and C's rating of its refunded order, are refused;
//   - forged listing documents fail `market verify` and, shared into the
//     network, are dropped by search.
func TestMarketHostilePeers(t *testing.T) {
	v := harness.Start(t, "--ledger-voter")
	boot := v.Addr()
	vid := v.ID().ID
	a := harness.Start(t, "--bootstrap", boot, "--ledger-voters", vid)
	c := harness.Start(t, "--bootstrap", boot, "--ledger-voters", vid)
	aid, cid := a.ID().ID, c.ID().ID
	createLedger(t, v, map[string]any{aid: 1, cid: 100}, c)
	h := newMoneyPeer(t, v)
	dir := t.TempDir()

	// A sells genuine goods; the ledger now holds A's content key sealed
	// to the voter, readable by anyone in A's listing record.
	src := filepath.Join(dir, "almanac.txt")
	os.WriteFile(src, []byte(strings.Repeat("rhubarb season starts in april. ", 2000)), 0o644)
	var sold struct{ ID, CID string }
	harness.CLIJSON(t, &sold, "market", "sell", src, "--title", "Rhubarb Almanac", "--price", "5", "--home", a.Home)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	genuine, err := h.ledger.MarketListing(ctx, sold.ID)
	if err != nil {
		t.Fatal(err)
	}

	// 1. A buyer given a wrong key is refunded. H lists its own goods with
	// a commitment to one key while the copy sealed to the voter (lifted
	// from A's record) holds another. The listing is otherwise genuine:
	// signed by H and matching the ledger, so `market verify` accepts it.
	decoy, _ := ecdh.X25519().GenerateKey(rand.Reader)
	commit := sha256.Sum256(decoy.Bytes())
	cheat, err := market.Sign(h.key, market.Listing{Version: 1, Title: "Discount Almanac", Price: 10_000_000,
		CID: genuine.CID, Size: genuine.Size, Commit: hex.EncodeToString(commit[:]), Seller: h.id,
		Expiry: time.Now().Add(time.Hour).UnixNano()})
	if err != nil {
		t.Fatal(err)
	}
	lk := ledger.ListingKey{CID: genuine.CID, Size: genuine.Size, Commit: commit[:], Expiry: cheat.Expiry, Sealed: genuine.Sealed}
	if err := h.submitErr(t, signed(t, h.key, ledger.Transfer{Kind: ledger.KindList, To: h.id, Amount: cheat.Price,
		Ref: cheat.ID(), Data: lk.Encode()})); err != nil {
		t.Fatalf("hostile listing: %v", err)
	}
	cheatDoc := filepath.Join(dir, "Discount Almanac.pplisting")
	os.WriteFile(cheatDoc, cheat.Encode(), 0o644)
	if out, errOut, code := harness.CLI(t, "market", "verify", cheatDoc, "--home", c.Home); code != 0 || !strings.Contains(out, cheat.ID()) {
		t.Fatalf("hostile listing: verify: exit %d, %q %q", code, out, errOut)
	}
	bought := filepath.Join(dir, "bought.txt")
	_, errOut, code := harness.CLI(t, "market", "buy", cheat.ID(), "-o", bought, "--timeout", "40s", "--home", c.Home)
	for _, want := range []string{"order refunded", "does not match the listing's commitment", "10.1 credits (price and fee) were returned"} {
		if code == 0 || !strings.Contains(errOut, want) {
			t.Fatalf("buy with a wrong key: exit %d, stderr %q lacks %q", code, errOut, want)
		}
	}
	if _, err := os.Stat(bought); err == nil {
		t.Fatal("goods written for a refunded order")
	}
	for acct, want := range map[string]string{cid: "100", h.id: "0", vid: "0"} {
		if got := walletBalance(t, c, acct); got != want {
			t.Fatalf("after the refund %s has %s, want %s", acct, got, want)
		}
	}
	var ords []api.MarketOrder
	harness.CLIJSON(t, &ords, "market", "orders", "--home", c.Home)
	if len(ords) != 1 || ords[0].Listing != cheat.ID() || ords[0].State != "refunded" || ords[0].Role != "buy" ||
		ords[0].Seller != h.id || !strings.Contains(ords[0].Reason, "commitment") {
		t.Fatalf("orders after the refund: %+v", ords)
	}
	refunded := ords[0].ID

	// 2. A replayed order is refused. A buyer's signed order for A's
	// listing (C's key stands in for C's wallet; H captured the bytes) is
	// placed once and released, then H sends the same bytes again.
	ckeyBytes, err := os.ReadFile(filepath.Join(c.Home, config.FileIdentity))
	if err != nil {
		t.Fatal(err)
	}
	ckey, err := crypto.UnmarshalPrivateKey(ckeyBytes)
	if err != nil {
		t.Fatal(err)
	}
	oneTime, _ := ecdh.X25519().GenerateKey(rand.Reader)
	order := signed(t, ckey, ledger.Transfer{Kind: ledger.KindBuy, To: aid, Amount: 5_000_000, Ref: sold.ID,
		Data: oneTime.PublicKey().Bytes()})
	if err := h.submitErr(t, order); err != nil {
		t.Fatalf("order: %v", err)
	}
	harness.Eventually(t, 20*time.Second, func() error {
		o, err := h.ledger.Order(ctx, order.ID)
		if err != nil || o.State != ledger.OrderReleased {
			return fmt.Errorf("order %+v %v", o, err)
		}
		return nil
	})
	err = h.submitErr(t, order)
	if !errors.Is(err, ledger.ErrReplayed) || !strings.Contains(err.Error(), "replayed order refused: order "+order.ID+" already placed") {
		t.Fatalf("replayed order: %v", err)
	}
	for acct, want := range map[string]string{cid: "94.95", aid: "6", vid: "0.05"} {
		if got := walletBalance(t, c, acct); got != want {
			t.Fatalf("after the replay %s has %s, want %s (paid once)", acct, got, want)
		}
	}
	harness.CLIJSON(t, &ords, "market", "orders", "--home", c.Home)
	if len(ords) != 2 || ords[0].ID != order.ID || ords[0].State != "released" || ords[1].ID != refunded {
		t.Fatalf("orders after the replay: %+v", ords)
	}

	// 3. Forged ratings are refused: H rating C's completed purchase, a
	// rating in C's name signed by H, and C rating its refunded order.
	err = h.submitErr(t, signed(t, h.key, ledger.Transfer{Kind: ledger.KindRate, To: aid, Amount: 1, Ref: order.ID, Memo: "never bought"}))
	if !errors.Is(err, ledger.ErrNotPermitted) || !strings.Contains(err.Error(), "only the buyer of order "+order.ID) {
		t.Fatalf("rating by a peer without the purchase: %v", err)
	}
	inCsName := signed(t, h.key, ledger.Transfer{Kind: ledger.KindRate, To: aid, Amount: 1, Ref: order.ID})
	inCsName.From = cid // signed by H, claiming to be C's
	err = h.submitErr(t, inCsName)
	if !errors.Is(err, ledger.ErrBadSignature) {
		t.Fatalf("rating forged in the buyer's name: %v", err)
	}
	if _, errOut, code := harness.CLI(t, "market", "rate", refunded, "--stars", "1", "--home", c.Home); code == 0 ||
		!strings.Contains(errOut, "order already settled") || !strings.Contains(errOut, "only a completed purchase is rated") {
		t.Fatalf("rating a refunded order: exit %d, %q", code, errOut)
	}
	for _, seller := range []string{aid, h.id} {
		var page api.MarketSeller
		harness.CLIJSON(t, &page, "market", "seller", seller, "--home", c.Home)
		if page.Count != 0 {
			t.Fatalf("seller %s has ratings: %+v", seller, page)
		}
	}

	// 4. Forged listings: A's document with its price changed (bad
	// signature) and one signed by H that the ledger never registered
	// (not matching the ledger) fail `market verify`; shared into the
	// network by V, search finds and drops both and shows A's.
	docs, _ := filepath.Glob(filepath.Join(a.Home, "market", "listings", "*.pplisting"))
	if len(docs) != 1 {
		t.Fatalf("listing documents: %v", docs)
	}
	doc, _ := os.ReadFile(docs[0])
	var changed map[string]any
	json.Unmarshal(doc, &changed)
	changed["price"] = 1
	forged, _ := json.Marshal(changed)
	unregistered, err := market.Sign(h.key, market.Listing{Version: 1, Title: "Rhubarb Almanac cheap", Price: 1,
		CID: genuine.CID, Size: genuine.Size, Commit: hex.EncodeToString(genuine.Commit), Seller: h.id,
		Expiry: time.Now().Add(time.Hour).UnixNano()})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []struct {
		name string
		body []byte
		want string
	}{
		{"Rhubarb Almanac forged.pplisting", forged, "bad listing signature"},
		{"Rhubarb Almanac cheap.pplisting", unregistered.Encode(), "withdrawn or changed by its seller"},
	} {
		p := filepath.Join(dir, f.name)
		os.WriteFile(p, f.body, 0o644)
		if _, errOut, code := harness.CLI(t, "market", "verify", p, "--home", c.Home); code == 0 || !strings.Contains(errOut, f.want) {
			t.Fatalf("verify %s: exit %d, %q, want %q", f.name, code, errOut, f.want)
		}
		var sh struct{ CID string }
		harness.CLIJSON(t, &sh, "share", p, "--home", v.Home)
	}
	harness.Eventually(t, 30*time.Second, func() error {
		out, errOut, code := harness.CLI(t, "market", "search", "rhubarb", "--json", "--timeout", "3s", "--home", c.Home)
		if code != 0 {
			return errors.New(errOut)
		}
		var ids []string
		for _, line := range harness.Lines(out) {
			var r struct{ ID string }
			if err := json.Unmarshal([]byte(line), &r); err != nil {
				t.Fatalf("bad line %q: %v", line, err)
			}
			ids = append(ids, r.ID)
		}
		for _, id := range ids {
			if id != sold.ID {
				t.Fatalf("search returned listing %s; only %s is genuine", id, sold.ID)
			}
		}
		if len(ids) != 1 || !strings.Contains(errOut, "2 listing(s) dropped") {
			return fmt.Errorf("search: %v, %q", ids, errOut)
		}
		return nil
	})
}
