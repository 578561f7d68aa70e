//go:build linux

package hostile

import (
	"context"
	"crypto/rand"
	"fmt"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/peerpath/peerpath/api"
	"github.com/peerpath/peerpath/internal/p2p"
	"github.com/peerpath/peerpath/test/harness"
)

// The msg protocols' wire, as a hostile peer writes it by hand.
const (
	msgProto     = "/peerpath/msg/1.0.0"
	mailboxProto = "/peerpath/mailbox/1.0.0"
	opGet, opAck = 2, 3
	stOK, stFull = 0, 1
	stBad        = 2
	stRefused    = 4
	tagSize      = 20
	itemIDSize   = 16
)

// frame sends one frame on a new stream of proto and returns the answer
// frame (nil and the error when the daemon reset the stream).
func frame(ctx context.Context, h host.Host, p peer.ID, proto string, b []byte) ([]byte, error) {
	st, err := h.NewStream(network.WithAllowLimitedConn(ctx, "attack"), p, protocol.ID(proto))
	if err != nil {
		return nil, err
	}
	defer st.Close()
	st.SetDeadline(time.Now().Add(10 * time.Second))
	if err := p2p.WriteMsg(st, b); err != nil {
		return nil, err
	}
	return p2p.ReadMsg(st, 1<<21)
}

// Hostile peers against the messages service of real daemons: garbage
// and oversized frames get a refusal, a flood from one peer is cut by its
// rate limit, a blocked peer is refused, and a stranger asking a mailbox
// for tags it guessed (or acknowledging items it does not know) gets
// nothing and deletes nothing: the recipient still collects its message.
// (Forged senders, replayed envelopes and non-members posting to a group
// need valid ciphertext: internal/msg's TestHostileEnvelopes and
// TestGroupOfflineMemberReadsOnReturn drive those with in-process hosts.)
func TestMsgHostile(t *testing.T) {
	t.Parallel()
	mbox := harness.Start(t)
	bob := harness.Start(t, "--bootstrap", mbox.Addr())
	ana := harness.Start(t, "--bootstrap", mbox.Addr())
	aid, bid := ana.ID().ID, bob.ID().ID
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	status := func(d *harness.Daemon) api.MsgStatus {
		t.Helper()
		st, err := d.Client.MsgStatus(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}

	// Garbage, oversized and flooded frames at bob.
	eve, _ := newPeer(t, bob)
	bobID := mustID(t, bob)
	if ans, err := frame(ctx, eve, bobID, msgProto, []byte{1, 0, 9, 9}); err != nil || len(ans) != 1 || ans[0] != stBad {
		t.Fatalf("garbage envelope: answer %v, %v", ans, err)
	}
	if ans, err := frame(ctx, eve, bobID, msgProto, make([]byte, 1<<20)); err == nil {
		t.Fatalf("oversized envelope answered %v", ans)
	}
	if ans, err := frame(ctx, eve, bobID, mailboxProto, []byte{99}); err != nil || len(ans) != 1 || ans[0] != stBad {
		t.Fatalf("unknown mailbox op: answer %v, %v", ans, err)
	}
	// The per-peer limit is 5/s with a burst of 30: of 120 frames sent
	// within a few seconds, most are refused as over it.
	full, start := 0, time.Now()
	for range 120 {
		ans, err := frame(ctx, eve, bobID, msgProto, []byte{1, 0, 9, 9})
		if err == nil && len(ans) == 1 && ans[0] == stFull {
			full++
		}
	}
	if limit := 120 - 31 - int(5*time.Since(start).Seconds()); full < min(limit, 60) || full == 0 {
		t.Fatalf("a flood of 120 frames in %s: only %d refused as over the limit", time.Since(start), full)
	}
	// Blocked: refused outright.
	eve2, _ := newPeer(t, bob)
	harness.CLI(t, "block", eve2.ID().String(), "--home", bob.Home)
	if ans, err := frame(ctx, eve2, bobID, msgProto, []byte{1, 0, 9, 9}); err != nil || len(ans) != 1 || ans[0] != stRefused {
		t.Fatalf("blocked peer: answer %v, %v", ans, err)
	}

	// Bob's keys reach the mailbox; bob goes; ana's message waits there.
	harness.Eventually(t, 30*time.Second, func() error {
		if n := status(bob).BundleReplicas; n < 1 {
			return fmt.Errorf("bundle on %d mailboxes", n)
		}
		return nil
	})
	if _, errOut, code := harness.CLI(t, "contacts", "add", aid, "--name", "Ana", "--home", bob.Home); code != 0 {
		t.Fatal(errOut)
	}
	bob.Stop()
	var sent api.MsgSent
	harness.CLIJSON(t, &sent, "msg", "send", bid, "for bob only", "--home", ana.Home)
	if sent.State != "stored" {
		t.Fatalf("sent %+v, want stored", sent)
	}
	held := status(mbox).Holding
	if held < 1 {
		t.Fatalf("mailbox holds %d", held)
	}
	// Mallory asks the mailbox for tags she guessed, and acknowledges
	// items she made up under them.
	mallory, _ := newPeer(t, mbox)
	mboxID := mustID(t, mbox)
	get := []byte{opGet}
	ack := []byte{opAck}
	for range 64 {
		tag := make([]byte, tagSize)
		rand.Read(tag)
		get = append(get, tag...)
		item := make([]byte, itemIDSize)
		rand.Read(item)
		ack = append(append(ack, tag...), item...)
	}
	if ans, err := frame(ctx, mallory, mboxID, mailboxProto, get); err != nil || len(ans) != 1 || ans[0] != stOK {
		t.Fatalf("get of guessed tags: answer of %d bytes (want only the status), %v", len(ans), err)
	}
	if ans, err := frame(ctx, mallory, mboxID, mailboxProto, ack); err != nil || len(ans) != 1 {
		t.Fatalf("ack of made-up items: %v, %v", ans, err)
	}
	if n := status(mbox).Holding; n != held {
		t.Fatalf("mailbox holds %d after mallory's ack, had %d", n, held)
	}
	// Nothing lost: bob returns and reads it.
	bob2 := harness.StartHome(t, bob.Home, "--bootstrap", mbox.Addr())
	harness.Eventually(t, 40*time.Second, func() error {
		ms, err := bob2.Client.MsgList(ctx, aid, "")
		if err != nil {
			return err
		}
		if len(ms) != 1 || ms[0].Text != "for bob only" || ms[0].Folder != "inbox" {
			return fmt.Errorf("bob has %+v", ms)
		}
		return nil
	})
}
