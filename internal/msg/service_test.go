package msg

import (
	"context"
	"fmt"
	"testing"
	"time"
)

func TestDirectMessages(t *testing.T) {
	a, b := newTNode(t, nil), newTNode(t, nil)
	connect(t, a, b)
	ctx := context.Background()
	sent, err := a.svc.Send(ctx, b.id().String(), "hello bob")
	if err != nil {
		t.Fatal(err)
	}
	if sent.State != StateDelivered {
		t.Fatalf("state %q, want delivered", sent.State)
	}
	got := b.list(a.id().String())
	if len(got) != 1 || got[0].Text != "hello bob" || got[0].From != a.id() || got[0].Out || got[0].Folder != FolderRequests {
		t.Fatalf("bob has %+v", got)
	}
	// Bob answers: Alice wrote to him first, so it lands in her inbox.
	r, err := b.svc.Send(ctx, a.id().String(), "hi alice")
	if err != nil || r.State != StateDelivered {
		t.Fatalf("reply: %+v %v", r, err)
	}
	ga := a.list(b.id().String())
	if len(ga) != 2 || ga[1].Text != "hi alice" || ga[1].Folder != FolderInbox {
		t.Fatalf("alice has %+v", ga)
	}
	for i := range 10 {
		if _, err := a.svc.Send(ctx, b.id().String(), fmt.Sprint("m", i)); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := b.svc.MarkRead(ctx, a.id().String()); err != nil || n != 11 {
		t.Fatalf("marked %d read: %v", n, err)
	}
	eventually(t, 5*time.Second, "read receipt", func() error {
		st, err := a.stateOf(b.id().String(), sent.ID)
		if err == nil && st != StateRead {
			err = fmt.Errorf("state %s", st)
		}
		return err
	})
}

func TestOfflineThroughMailboxes(t *testing.T) {
	a, b, c, d := newTNode(t, nil), newTNode(t, nil), newTNode(t, nil), newTNode(t, nil)
	for _, x := range []*tnode{a, b} {
		connect(t, x, c)
		connect(t, x, d)
	}
	// B's bundle reaches the mailboxes before B goes.
	eventually(t, 10*time.Second, "bundle published", func() error {
		for _, m := range []*tnode{c, d} {
			var n int
			m.db.QueryRow(`SELECT COUNT(*) FROM msg_bundles WHERE peer = ?`, b.id().String()).Scan(&n)
			if n != 1 {
				return fmt.Errorf("%s holds no bundle of b", m.id())
			}
		}
		return nil
	})
	bid := b.id()
	b.stop()
	ctx := context.Background()
	const text = "meet at the old mill at nine"
	sent, err := a.svc.Send(ctx, bid.String(), text)
	if err != nil {
		t.Fatal(err)
	}
	if sent.State != StateStored {
		t.Fatalf("state %q, want stored", sent.State)
	}
	for _, m := range []*tnode{c, d} {
		n, plain, err := m.svc.MailboxHolds(ctx, []byte(text))
		if err != nil || n != 1 || plain {
			t.Fatalf("mailbox %s holds %d (plaintext %v, %v)", m.id(), n, plain, err)
		}
	}
	a.stop()
	b.start()
	connect(t, b, c)
	connect(t, b, d)
	eventually(t, 10*time.Second, "b collects", func() error {
		ms := b.list(a.id().String())
		if len(ms) != 1 || ms[0].Text != text {
			return fmt.Errorf("b has %+v", ms)
		}
		return nil
	})
	eventually(t, 10*time.Second, "mailboxes emptied", func() error {
		for _, m := range []*tnode{c, d} {
			if n, _, _ := m.svc.MailboxHolds(ctx, nil); n > 1 { // the receipt for a may wait there
				return fmt.Errorf("%s still holds %d", m.id(), n)
			}
		}
		return nil
	})
	// A comes back and learns, through the mailboxes, that B has it.
	a.start()
	connect(t, a, c)
	connect(t, a, d)
	eventually(t, 10*time.Second, "receipt", func() error {
		st, err := a.stateOf(bid.String(), sent.ID)
		if err == nil && st != StateDelivered {
			err = fmt.Errorf("state %s", st)
		}
		return err
	})
	// The session goes on: a reply and an answer, now directly.
	connect(t, a, b)
	if r, err := b.svc.Send(ctx, a.id().String(), "got it"); err != nil || r.State != StateDelivered {
		t.Fatalf("reply %+v %v", r, err)
	}
	if r, err := a.svc.Send(ctx, bid.String(), "good"); err != nil || r.State != StateDelivered {
		t.Fatalf("answer %+v %v", r, err)
	}
}
