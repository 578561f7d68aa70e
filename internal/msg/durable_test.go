package msg

import (
	"context"
	"database/sql"
	"fmt"
	"testing"
	"time"
)

// waitBundleOn waits until mailbox m holds p's prekey bundle.
func waitBundleOn(t *testing.T, m, p *tnode) {
	t.Helper()
	eventually(t, 15*time.Second, "bundle published", func() error {
		var n int
		m.db.QueryRow(`SELECT COUNT(*) FROM msg_bundles WHERE peer = ?`, p.id().String()).Scan(&n)
		if n != 1 {
			return fmt.Errorf("%s holds no bundle of %s", m.id(), p.id())
		}
		return nil
	})
}

// TestIntroPastTagBound: more first messages for an offline recipient
// than a mailbox keeps under one tag all arrive: they spread over the
// intro tag's buckets, each still bounded.
func TestIntroPastTagBound(t *testing.T) {
	a, b, m := newTNode(t, nil), newTNode(t, nil), newTNode(t, nil)
	b.peers.contacts[a.id()] = true // a non-contact's are rate limited
	connect(t, b, m)
	waitBundleOn(t, m, b)
	bid := b.id()
	b.stop()
	connect(t, a, m)
	ctx := context.Background()
	const n = mailboxPerTag + 50
	ids := map[string]bool{}
	for i := range n {
		s, err := a.svc.Send(ctx, bid.String(), fmt.Sprint("intro ", i))
		if err != nil || s.State == StateDelivered {
			t.Fatalf("message %d: %+v %v", i, s, err)
		}
		ids[s.ID] = true
	}
	// The mailbox's rate limit holds some back; the outbox retries them.
	eventually(t, 30*time.Second, "every message on the mailbox", func() error {
		st, err := a.svc.Status(ctx)
		if err == nil && st.Outbox > 0 {
			err = fmt.Errorf("%d queued", st.Outbox)
		}
		return err
	})
	var maxPerTag int
	m.db.QueryRow(`SELECT MAX(c) FROM (SELECT COUNT(*) AS c FROM msg_mailbox GROUP BY tag)`).Scan(&maxPerTag)
	if maxPerTag > mailboxPerTag || maxPerTag == n {
		t.Fatalf("%d envelopes under one tag", maxPerTag)
	}
	a.stop()
	b.start()
	connect(t, b, m)
	eventually(t, 20*time.Second, "every message collected", func() error {
		got := 0
		for _, msg := range b.list(a.id().String()) {
			if ids[msg.ID] {
				got++
			}
		}
		if got != n {
			return fmt.Errorf("%d of %d", got, n)
		}
		return nil
	})
	// B acknowledged all of A's envelopes (what the mailbox still holds
	// are B's receipts for A, who is offline).
	eventually(t, 10*time.Second, "mailbox emptied", func() error {
		var k int
		m.db.QueryRow(`SELECT COUNT(*) FROM msg_mailbox WHERE sender = ?`, a.id().String()).Scan(&k)
		if k != 0 {
			return fmt.Errorf("mailbox holds %d of a's", k)
		}
		return nil
	})
}

// TestReplayAfterCrash: an envelope the recipient already has, sent again
// (the sender died before it wrote down the answer, or the answer was
// lost), is acknowledged instead of refused, directly or through a
// mailbox, so the message's state reaches delivered instead of staying
// stored forever.
func TestReplayAfterCrash(t *testing.T) {
	a, b, m := newTNode(t, nil), newTNode(t, nil), newTNode(t, nil)
	connect(t, a, b)
	connect(t, a, m)
	connect(t, b, m)
	ctx := context.Background()
	// A message sealed and handed over, its answer never recorded: the
	// state of a sender killed between the two.
	sealOnly := func(text string) (string, int64, []byte) {
		id := newID()
		now := a.svc.now()
		seq, err := a.svc.seal(ctx, b.id(), payload{Kind: kindText, ID: id, Time: now.UnixMilli(), Text: text}, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO msg_messages(peer, id, out, sender, text, time, state, folder) VALUES (?, ?, 1, ?, ?, ?, ?, ?)`,
				b.id().String(), id, a.id().String(), text, now.UnixMilli(), StateSent, FolderInbox)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		var env []byte
		if err := a.db.QueryRow(`SELECT envelope FROM msg_outbox WHERE seq = ?`, seq).Scan(&env); err != nil {
			t.Fatal(err)
		}
		if err := a.svc.sendDirect(ctx, b.id(), env); err != nil {
			t.Fatal(err)
		}
		return id, seq, env
	}
	// Direct: A restarts and retries from its outbox.
	id1, _, _ := sealOnly("first")
	a.stop()
	a.start()
	connect(t, a, b)
	connect(t, a, m)
	eventually(t, 10*time.Second, "retried message delivered", func() error {
		st, err := a.stateOf(b.id().String(), id1)
		if err == nil && st != StateDelivered {
			err = fmt.Errorf("state %s", st)
		}
		return err
	})
	// Through a mailbox: the copy B already has is deposited too (A did
	// not hear B's answer), and A marked it stored.
	id2, seq2, env2 := sealOnly("second")
	loc, tag, err := a.svc.outTag(ctx, nil, b.id(), env2)
	if err == nil {
		t.Fatal("outTag of no session")
	}
	var sid []byte
	a.db.QueryRow(`SELECT sid FROM msg_outbox WHERE seq = ?`, seq2).Scan(&sid)
	if loc, tag, err = a.svc.outTag(ctx, sid, b.id(), env2); err != nil {
		t.Fatal(err)
	}
	if n := a.svc.deposit(ctx, b.id(), loc, tag, env2); n != 1 {
		t.Fatalf("deposited on %d mailboxes", n)
	}
	a.db.Exec(`DELETE FROM msg_outbox WHERE seq = ?`, seq2)
	a.db.Exec(`UPDATE msg_messages SET state = ? WHERE id = ?`, StateStored, id2)
	eventually(t, 15*time.Second, "stored copy acknowledged", func() error {
		st, err := a.stateOf(b.id().String(), id2)
		if err == nil && st != StateDelivered {
			err = fmt.Errorf("state %s", st)
		}
		return err
	})
	if got := b.list(a.id().String()); len(got) != 2 {
		t.Fatalf("b has %d messages, want 2 (no duplicate)", len(got))
	}
	var k int
	m.db.QueryRow(`SELECT COUNT(*) FROM msg_mailbox WHERE sender = ?`, a.id().String()).Scan(&k)
	if k != 0 {
		t.Fatalf("mailbox still holds %d of a's", k)
	}
}

// TestBundleRepublishedOnPeerChange: a node publishes its bundle again
// when the peers that would hold it change, not only every 30 minutes.
func TestBundleRepublishedOnPeerChange(t *testing.T) {
	a, m1 := newTNode(t, nil), newTNode(t, nil)
	connect(t, a, m1)
	waitBundleOn(t, m1, a)
	// The count moves once publishBundle returns, after m1 stored it;
	// wait for it so that a publication still in flight (whose DHT
	// query could see m2 too) is not mistaken for the republication.
	var n0 int64
	eventually(t, 10*time.Second, "first publication counted", func() error {
		if n0 = a.svc.BundlePublications(); n0 < 1 {
			return fmt.Errorf("%d publications", n0)
		}
		return nil
	})
	m2 := newTNode(t, nil)
	connect(t, a, m2)
	waitBundleOn(t, m2, a)
	eventually(t, 10*time.Second, "republication counted", func() error {
		if n := a.svc.BundlePublications(); n <= n0 {
			return fmt.Errorf("%d publications, %d before m2", n, n0)
		}
		return nil
	})
}
