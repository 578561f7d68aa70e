//go:build linux

package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/peerpath/peerpath/api"
	"github.com/peerpath/peerpath/internal/ledger"
	"github.com/peerpath/peerpath/internal/meter"
)

func usageOf(m api.Meter, peer string) api.PeerUsage {
	for _, u := range m.Peers {
		if u.Peer == peer {
			return u
		}
	}
	return api.PeerUsage{}
}

// With traffic billing on, the downloader signs receipts for the verified
// bytes it received; the uploader settles them on the ledger, so credits
// move from downloader to uploader in proportion to the bytes, and the
// paying downloader ranks first for upload.
func TestTrafficBilling(t *testing.T) {
	fast := []string{"--price-per-gib", "1000", "--receipt-every", "200ms", "--settle-every", "300ms"}
	a := startDaemon(t, append([]string{"--ledger-voter"}, fast...)...)
	aid := a.ID().ID
	b := startDaemon(t, append([]string{"--bootstrap", a.Addr(), "--ledger-voters", aid}, fast...)...)
	bid := b.ID().ID

	gen := filepath.Join(t.TempDir(), "genesis.json")
	g, _ := json.Marshal(map[string]any{aid: 1, bid: 100})
	os.WriteFile(gen, g, 0o600)
	if _, errOut, code := cli(t, "ledger", "create", "--voters", aid, "--genesis", gen, "--home", a.Home); code != 0 {
		t.Fatalf("ledger create: %s", errOut)
	}
	eventually(t, 20*time.Second, func() error {
		if got := balance(t, b, ""); got != "100" {
			return fmt.Errorf("balance %s", got)
		}
		return nil
	})

	src := filepath.Join(t.TempDir(), "film.bin")
	writeRandom(t, src, 8<<20)
	var sh shareOut
	cliJSON(t, &sh, "share", src, "--home", a.Home)
	var res api.GetResult
	cliJSON(t, &res, "get", sh.CID, "-o", filepath.Join(t.TempDir(), "film.bin"), "--home", b.Home)

	var ma, mb api.Meter
	eventually(t, 30*time.Second, func() error {
		cliJSON(t, &mb, "meter", "--home", b.Home)
		cliJSON(t, &ma, "meter", "--home", a.Home)
		down := usageOf(mb, aid)
		if down.Downloaded < 8<<20 || down.ReceiptedOut != down.Downloaded {
			return fmt.Errorf("downloader's meter: %+v", down)
		}
		want := ledger.FormatCredits(meter.Owed(down.Downloaded, 1000*ledger.MicroPerCredit))
		if up := usageOf(ma, bid); up.PaidIn.String() != want || ma.Receipts["settled"] == 0 {
			return fmt.Errorf("uploader's meter %+v, receipts %v; want paid %s", up, ma.Receipts, want)
		}
		return nil
	})
	down := usageOf(mb, aid)
	paid, _ := ledger.ParseCredits(usageOf(ma, bid).PaidIn.String())
	if paid < 7_812_500 { // 8 MiB at 1000 credits/GiB
		t.Fatalf("paid %d micro-credits for %d bytes", paid, down.Downloaded)
	}
	if down.BilledOut.String() != ledger.FormatCredits(paid) {
		t.Fatalf("downloader billed %s, uploader paid %s", down.BilledOut, ledger.FormatCredits(paid))
	}
	if got, want := balance(t, a, aid), ledger.FormatCredits(1*ledger.MicroPerCredit+paid); got != want {
		t.Fatalf("uploader balance %s, want %s", got, want)
	}
	if got, want := balance(t, a, bid), ledger.FormatCredits(100*ledger.MicroPerCredit-paid); got != want {
		t.Fatalf("downloader balance %s, want %s", got, want)
	}
	if up := usageOf(ma, bid); up.Uploaded < 8<<20 || up.ReceiptedIn != down.Downloaded || up.Class != "pays" {
		t.Fatalf("uploader's record of the downloader: %+v", up)
	}
	if out, _, code := cli(t, "meter", "--home", a.Home); code != 0 || !strings.Contains(out, "1000 credits/GiB") {
		t.Fatalf("meter text output: %q", out)
	}
}
