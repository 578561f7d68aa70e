//go:build linux

package hostile

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/peerpath/peerpath/api"
	"github.com/peerpath/peerpath/internal/p2p"
	"github.com/peerpath/peerpath/test/harness"
)

// A stranger who announces a contact's name takes nothing of it: the
// receiver's petname still resolves to the real contact, the stranger is
// shown with its own id and "unverified", and its files wait for the
// receiver's word (a stranger gets at most 3 offers waiting).
// A flood of offers on the raw protocol, under a policy that accepts
// everyone, is cut to a handful by the per-peer rate limit; and a receiver
// whose policy is nobody refuses even a contact, with a clear answer.
func TestContactsHostile(t *testing.T) {
	t.Parallel()
	ana := harness.Start(t)
	bob := harness.Start(t)
	eve := harness.Start(t)
	ida, idb, ide := ana.ID().ID, bob.ID().ID, eve.ID().ID
	run := func(d *harness.Daemon, args ...string) (string, string, int) {
		return harness.CLI(t, append(args, "--home", d.Home)...)
	}
	must := func(d *harness.Daemon, args ...string) {
		t.Helper()
		if _, errOut, code := run(d, args...); code != 0 {
			t.Fatalf("%v: %s", args, errOut)
		}
	}
	must(bob, "contacts", "add", ida, "--name", "Ana")
	must(ana, "contacts", "add", idb, "--name", "Bob")
	must(ana, "name", "set", "Ana")
	must(eve, "name", "set", "Ana") // Eve claims Ana's name
	must(ana, "connect", bob.Addr())
	must(eve, "connect", bob.Addr())

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	harness.Eventually(t, 10*time.Second, func() error {
		ls, err := bob.Client.Labels(ctx, []string{ida, ide})
		if err != nil {
			return err
		}
		if len(ls) != 2 || ls[0].Kind != "contact" || ls[0].Text != "Ana" || ls[1].Kind != "unverified" {
			return fmt.Errorf("labels %+v", ls)
		}
		if !strings.Contains(ls[1].Text, "unverified") || ls[1].Text == "Ana" {
			return fmt.Errorf("eve's label reads as the contact: %+v", ls[1])
		}
		return nil
	})
	// "Ana" is Ana for every command, never Eve.
	var blocked api.Blocked
	harness.CLIJSON(t, &blocked, "block", "Ana", "--home", bob.Home)
	if blocked.Blocked != ida {
		t.Fatalf("block Ana blocked %s (eve is %s)", blocked.Blocked, ide)
	}
	must(bob, "unblock", "Ana")
	must(eve, "connect", bob.Addr())
	// Eve's files are refused: it is not a contact, whatever it calls itself.
	f := filepath.Join(t.TempDir(), "invoice.pdf")
	if err := os.WriteFile(f, []byte("not an invoice"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Eve's files wait for Bob's word, shown under Eve's id and
	// "unverified", never as Ana's; nothing is fetched meanwhile.
	var sent api.FileSend
	harness.CLIJSON(t, &sent, "send", idb, f, "--home", eve.Home)
	if sent.State != "pending" {
		t.Fatalf("eve's send: %+v", sent)
	}
	ps, err := bob.Client.PendingOffers(ctx)
	if err != nil || len(ps) != 1 || ps[0].From != ide || ps[0].FromLabel == "Ana" || !strings.Contains(ps[0].FromLabel, "unverified") {
		t.Fatalf("bob's pending offers: %+v, %v", ps, err)
	}
	if dls, _ := bob.Client.Downloads(ctx); len(dls) != 0 {
		t.Fatalf("fetched before bob answered: %+v", dls)
	}
	if _, err := bob.Client.DeclineOffer(ctx, ps[0].ID); err != nil {
		t.Fatal(err)
	}

	// A throwaway identity opening raw offers under the contacts policy
	// gets at most 3 to wait; the others are refused with the reason.
	hw, _ := newPeer(t, bob)
	waiting, refused := 0, 0
	for i := range 5 {
		st, err := hw.NewStream(ctx, mustID(t, bob), "/peerpath/send/1.0.0")
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		st.SetDeadline(time.Now().Add(10 * time.Second))
		offer, _ := json.Marshal(map[string]any{"id": fmt.Sprint("wait", i), "files": []map[string]any{{"name": "w.bin", "cid": "bafkr4ihkr4ld3m4gqkjf4reryxsy2s5tkbxprqkow6fin2iiyvreuzzab4", "size": 1}}})
		p2p.WriteMsg(st, offer)
		b, err := p2p.ReadMsg(st, 4096)
		if err != nil {
			t.Fatalf("waiting offer %d: no answer: %v", i, err)
		}
		var a struct {
			Pending bool   `json:"pending"`
			Reason  string `json:"reason"`
		}
		json.Unmarshal(b, &a)
		switch {
		case a.Pending:
			waiting++
		case strings.Contains(a.Reason, "waiting for the receiver's answer"):
			refused++
		}
	}
	if waiting != 3 || refused != 2 {
		t.Fatalf("5 raw offers from a stranger: %d waiting, %d refused for the bound", waiting, refused)
	}
	if ps, _ := bob.Client.PendingOffers(ctx); len(ps) != 3 {
		t.Fatalf("%d offers pending", len(ps))
	}

	// A flood of raw offers from a throwaway identity, with Bob accepting
	// everyone for now.
	must(bob, "receive", "policy", "everyone-for", "10m")
	h, _ := newPeer(t, bob)
	const cidOK = "bafkr4ihkr4ld3m4gqkjf4reryxsy2s5tkbxprqkow6fin2iiyvreuzzab4"
	accepted, limited := 0, 0
	for i := range 100 {
		st, err := h.NewStream(ctx, mustID(t, bob), "/peerpath/send/1.0.0")
		if err != nil {
			t.Fatal(err)
		}
		st.SetDeadline(time.Now().Add(10 * time.Second))
		offer, _ := json.Marshal(map[string]any{"id": fmt.Sprint("flood", i), "files": []map[string]any{{"name": fmt.Sprintf("f%d", i), "cid": cidOK, "size": 1}}})
		p2p.WriteMsg(st, offer)
		b, err := p2p.ReadMsg(st, 4096)
		st.Close()
		if err != nil {
			t.Fatalf("offer %d: no answer: %v", i, err)
		}
		var a struct {
			Accepted bool   `json:"accepted"`
			Reason   string `json:"reason"`
		}
		json.Unmarshal(b, &a)
		switch {
		case a.Accepted:
			accepted++
		case strings.Contains(a.Reason, "too many offers"):
			limited++
		}
	}
	if accepted > 10 || limited < 90 {
		t.Fatalf("flood of 100 offers: %d accepted, %d rate-limited", accepted, limited)
	}
	dls, err := bob.Client.Downloads(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(dls) != accepted {
		t.Fatalf("%d downloads queued for %d accepted offers", len(dls), accepted)
	}

	// Policy nobody: even a contact is refused, with the reason.
	must(bob, "receive", "policy", "nobody")
	if _, errOut, code := run(ana, "send", "Bob", f); code == 0 || !strings.Contains(errOut, "accepts no files") {
		t.Fatalf("send to a receiver accepting nobody: exit %d, %s", code, errOut)
	}
	if _, err := os.Stat(filepath.Join(bob.Home, "downloads", "invoice.pdf")); err == nil {
		t.Fatal("a refused file landed")
	}
}
