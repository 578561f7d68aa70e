//go:build linux

package e2e

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/peerpath/peerpath/api"
)

// The marketplace on four daemons: V is the single ledger voter (and the
// operator), A sells, B helps distribute the ciphertext without being able
// to read it, C finds A's listing by a word of its title and, with A's
// node stopped, buys, pays and decrypts a byte-identical file; A's balance
// rises by the price; forged listings and ratings are refused.
func TestMarketSellFindBuyOffline(t *testing.T) {
	v := startDaemon(t, "--ledger-voter")
	boot := v.Addr()
	vid := v.ID().ID
	a := startDaemon(t, "--bootstrap", boot, "--ledger-voters", vid)
	b := startDaemon(t, "--bootstrap", boot, "--ledger-voters", vid)
	c := startDaemon(t, "--bootstrap", boot, "--ledger-voters", vid)
	aid, bid, cid := a.ID().ID, b.ID().ID, c.ID().ID

	gen := filepath.Join(t.TempDir(), "genesis.json")
	g, _ := json.Marshal(map[string]any{
		"balances": map[string]any{aid: 1, bid: 5, cid: 100},
		"fee_bps":  100, "operator": vid,
	})
	os.WriteFile(gen, g, 0o600)
	if _, errOut, code := cli(t, "ledger", "create", "--voters", vid, "--genesis", gen, "--home", v.Home); code != 0 {
		t.Fatalf("ledger create: %s", errOut)
	}
	eventually(t, 20*time.Second, func() error {
		var st api.LedgerStatus
		cliJSON(t, &st, "ledger", "status", "--home", a.Home)
		if st.Leader != vid {
			return fmt.Errorf("status %+v", st)
		}
		return nil
	})

	// A sells a file.
	plain := make([]byte, 300_000)
	rand.Read(plain)
	copy(plain, "QUANTUM-PANCAKE-PLAINTEXT-MARKER")
	src := filepath.Join(t.TempDir(), "cookbook.pdf")
	os.WriteFile(src, plain, 0o644)
	var sold struct{ ID, CID string }
	cliJSON(t, &sold, "market", "sell", src, "--title", "Quantum Pancake Cookbook", "--price", "10",
		"--description", "breakfast physics", "--tags", "food,recipes", "--home", a.Home)
	if sold.ID == "" || sold.CID == "" {
		t.Fatalf("sell: %+v", sold)
	}
	var own []api.MarketListing
	cliJSON(t, &own, "market", "listings", "--home", a.Home)
	if len(own) != 1 || own[0].ID != sold.ID || own[0].Price.String() != "10" {
		t.Fatalf("listings: %+v", own)
	}

	// A sponsors its listing: 0.5 credits to the operator.
	if _, errOut, code := cli(t, "market", "sponsor", sold.ID, "0.5", "--home", a.Home); code != 0 {
		t.Fatalf("sponsor: %s", errOut)
	}

	// B fetches the ciphertext and cannot read it.
	ct := filepath.Join(t.TempDir(), "ciphertext")
	var got api.GetResult
	cliJSON(t, &got, "get", sold.CID, "-o", ct, "--home", b.Home)
	cdata, _ := os.ReadFile(ct)
	if len(cdata) < len(plain) || bytes.Contains(cdata, []byte("QUANTUM-PANCAKE")) || bytes.Contains(cdata, plain[1000:1064]) {
		t.Fatalf("ciphertext of %d bytes reveals the plaintext", len(cdata))
	}
	rnd, _ := age.GenerateX25519Identity()
	if r, err := age.Decrypt(bytes.NewReader(cdata), rnd); err == nil {
		if _, err := io.Copy(io.Discard, r); err == nil {
			t.Fatal("a random key decrypted the goods")
		}
	}

	// A forged listing (A's, with the price changed) is refused with a
	// clear error, and never shows in search results.
	docs, _ := filepath.Glob(filepath.Join(a.Home, "market", "listings", "*.pplisting"))
	if len(docs) != 1 {
		t.Fatalf("listing documents: %v", docs)
	}
	doc, _ := os.ReadFile(docs[0])
	var forged map[string]any
	json.Unmarshal(doc, &forged)
	forged["price"] = 1
	fb, _ := json.Marshal(forged)
	forgedPath := filepath.Join(t.TempDir(), "Quantum Pancake Cookbook cheap.pplisting")
	os.WriteFile(forgedPath, fb, 0o644)
	if _, errOut, code := cli(t, "market", "verify", forgedPath, "--home", c.Home); code == 0 || !strings.Contains(errOut, "bad listing signature") {
		t.Fatalf("forged listing: exit %d, %q", code, errOut)
	}
	var sh shareOut
	cliJSON(t, &sh, "share", forgedPath, "--home", b.Home)
	if out, errOut, code := cli(t, "market", "verify", docs[0], "--home", c.Home); code != 0 || !strings.Contains(out, sold.ID) {
		t.Fatalf("genuine listing: exit %d, %q %q", code, out, errOut)
	}

	// C finds A's listing by a word of its title.
	var hit map[string]any
	eventually(t, 60*time.Second, func() error {
		out, errOut, code := cli(t, "market", "search", "pancake", "--json", "--timeout", "3s", "--home", c.Home)
		if code != 0 {
			return errorString(errOut)
		}
		for _, line := range lines(out) {
			var r map[string]any
			if err := json.Unmarshal([]byte(line), &r); err != nil {
				t.Fatalf("bad line %q: %v", line, err)
			}
			if r["id"] != sold.ID {
				t.Fatalf("unexpected listing in results: %v", r)
			}
			hit = r
		}
		if hit == nil {
			return errorString("not found yet: " + out + errOut)
		}
		return nil
	})
	for _, k := range []string{"id", "title", "price", "seller", "cid", "rating", "sponsored"} {
		if _, ok := hit[k]; !ok {
			t.Fatalf("result lacks %q: %v", k, hit)
		}
	}
	if hit["seller"] != aid || hit["cid"] != sold.CID || hit["title"] != "Quantum Pancake Cookbook" || fmt.Sprint(hit["price"]) != "10" || hit["sponsored"] != true {
		t.Fatalf("result %v", hit)
	}

	// A's node stops; C buys, pays and decrypts a byte-identical file.
	a.Stop()
	out := filepath.Join(t.TempDir(), "bought.pdf")
	var br api.MarketBuyResult
	start := time.Now()
	cliJSON(t, &br, "market", "buy", sold.ID, "-o", out, "--home", c.Home)
	t.Logf("buy with the seller offline (pay, key release, fetch %d bytes, decrypt) took %s", len(plain), time.Since(start))
	data, err := os.ReadFile(out)
	if err != nil || !bytes.Equal(data, plain) {
		t.Fatalf("bought file differs (%d bytes, %v)", len(data), err)
	}
	if br.Price.String() != "10" || br.Fee.String() != "0.1" {
		t.Fatalf("buy result %+v", br)
	}
	// A's balance rose by the price (the fee is the buyer's, to the
	// operator): 1 - 0.5 sponsorship + 10.
	eventually(t, 10*time.Second, func() error {
		if got := balance(t, b, aid); got != "10.5" {
			return fmt.Errorf("A has %s, want 10.5", got)
		}
		if got := balance(t, b, cid); got != "89.9" {
			return fmt.Errorf("C has %s, want 89.9", got)
		}
		if got := balance(t, b, vid); got != "0.6" {
			return fmt.Errorf("operator has %s, want 0.6 (sponsorship and fee)", got)
		}
		return nil
	})
	var ords []api.MarketOrder
	cliJSON(t, &ords, "market", "orders", "--home", c.Home)
	if len(ords) != 1 || ords[0].ID != br.Order || ords[0].State != "released" || ords[0].Role != "buy" {
		t.Fatalf("orders %+v", ords)
	}

	// Ratings: B never bought, so its rating is refused; C's counts, once.
	if _, errOut, code := cli(t, "market", "rate", br.Order, "--stars", "1", "--home", b.Home); code == 0 || !strings.Contains(errOut, "not permitted") {
		t.Fatalf("forged rating: exit %d, %q", code, errOut)
	}
	if _, errOut, code := cli(t, "market", "rate", br.Order, "--stars", "5", "--comment", "delicious", "--home", c.Home); code != 0 {
		t.Fatalf("rate: %s", errOut)
	}
	if _, errOut, code := cli(t, "market", "rate", br.Order, "--stars", "5", "--home", c.Home); code == 0 || !strings.Contains(errOut, "settled") {
		t.Fatalf("second rating: exit %d, %q", code, errOut)
	}
	var page api.MarketSeller
	cliJSON(t, &page, "market", "seller", aid, "--home", b.Home)
	if page.Count != 1 || page.Rating != 5 || page.Ratings[0].Comment != "delicious" || page.Ratings[0].Buyer != cid {
		t.Fatalf("seller page %+v", page)
	}
	// A replayed purchase of the same listing does not pay twice.
	cliJSON(t, &br, "market", "buy", sold.ID, "-o", out+".again", "--home", c.Home)
	if got := balance(t, b, cid); got != "89.9" {
		t.Fatalf("C has %s after buying again, want 89.9", got)
	}
}
