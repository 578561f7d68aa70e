package msg

import (
	"context"
	"fmt"
	"testing"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
)

// newGroupNode is a tnode whose host runs GossipSub.
func newGroupNode(t *testing.T) *tnode {
	ctx, cancel := context.WithCancel(context.Background())
	n := newTNode(t, func(c *Config) {
		ps, err := pubsub.NewGossipSub(ctx, c.Host)
		if err != nil {
			t.Fatal(err)
		}
		c.PubSub = ps
	})
	t.Cleanup(cancel) // runs before the node stops
	return n
}

func hasText(ms []Message, text string) bool {
	for _, m := range ms {
		if m.Text == text {
			return true
		}
	}
	return false
}

func TestGroupRemovedMemberCannotRead(t *testing.T) {
	a, b, c := newGroupNode(t), newGroupNode(t), newGroupNode(t)
	connect(t, a, b)
	connect(t, a, c)
	connect(t, b, c)
	ctx := context.Background()
	gr, err := a.svc.CreateGroup(ctx, "friends", []string{b.id().String(), c.id().String()})
	if err != nil {
		t.Fatal(err)
	}
	if len(gr.Members) != 3 || gr.Epoch != 1 {
		t.Fatalf("group %+v", gr)
	}
	// Wait for every member's key to reach every other member.
	eventually(t, 10*time.Second, "keys exchanged", func() error {
		for _, n := range []*tnode{a, b, c} {
			var k int
			n.db.QueryRow(`SELECT COUNT(*) FROM msg_group_keys WHERE gid = ?`, gr.ID).Scan(&k)
			if k != 2 {
				return fmt.Errorf("%s holds %d keys", n.id(), k)
			}
		}
		return nil
	})
	send := func(n *tnode, text string) {
		t.Helper()
		eventually(t, 10*time.Second, "publish", func() error { // until the mesh forms
			_, err := n.svc.Send(ctx, "group:friends", text)
			if err != nil {
				return err
			}
			return nil
		})
	}
	send(a, "hello all")
	send(b, "hi from b")
	eventually(t, 10*time.Second, "everyone reads", func() error {
		for _, n := range []*tnode{a, b, c} {
			ms := n.list("group:friends")
			if !hasText(ms, "hello all") || !hasText(ms, "hi from b") {
				return fmt.Errorf("%s has %+v", n.id(), ms)
			}
		}
		return nil
	})

	gr, err = a.svc.RemoveMember(ctx, "friends", c.id().String())
	if err != nil {
		t.Fatal(err)
	}
	if gr.Epoch != 2 || len(gr.Members) != 2 {
		t.Fatalf("after removal %+v", gr)
	}
	eventually(t, 10*time.Second, "b has the new epoch's keys", func() error {
		var k int
		b.db.QueryRow(`SELECT COUNT(*) FROM msg_group_keys WHERE gid = ? AND epoch = 2`, gr.ID).Scan(&k)
		if k != 1 {
			return fmt.Errorf("b holds %d keys of epoch 2", k)
		}
		return nil
	})
	send(a, "after c left")
	eventually(t, 10*time.Second, "b reads after rekey", func() error {
		if !hasText(b.list("group:friends"), "after c left") {
			return fmt.Errorf("not yet")
		}
		return nil
	})
	// C got the ciphertext (the guard proves something) but cannot read it.
	eventually(t, 10*time.Second, "c received the ciphertext", func() error {
		c.svc.groups.mu.Lock()
		n := len(c.svc.groups.pending[gr.ID])
		c.svc.groups.mu.Unlock()
		if n == 0 {
			return fmt.Errorf("c saw nothing")
		}
		return nil
	})
	if hasText(c.list("group:friends"), "after c left") {
		t.Fatal("the removed member read a message sent after its removal")
	}
	if _, err := c.svc.RemoveMember(ctx, "friends", b.id().String()); err == nil {
		t.Fatal("a member that is not the admin removed someone")
	}
}

// TestGroupOfflineMemberReadsOnReturn: a group message sent while a
// member is offline reaches it through mailboxes when it returns; a
// non-member's relayed "group message" is refused.
func TestGroupOfflineMemberReadsOnReturn(t *testing.T) {
	a, b, c := newGroupNode(t), newGroupNode(t), newGroupNode(t)
	m := newTNode(t, nil)
	for _, x := range []*tnode{a, b, c} {
		connect(t, x, m)
	}
	connect(t, a, b)
	connect(t, a, c)
	connect(t, b, c)
	ctx := context.Background()
	gr, err := a.svc.CreateGroup(ctx, "crew", []string{b.id().String(), c.id().String()})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "keys exchanged", func() error {
		for _, n := range []*tnode{a, b, c} {
			var k int
			n.db.QueryRow(`SELECT COUNT(*) FROM msg_group_keys WHERE gid = ?`, gr.ID).Scan(&k)
			if k != 2 {
				return fmt.Errorf("%s holds %d keys", n.id(), k)
			}
		}
		return nil
	})
	c.stop()
	const text = "while you were out"
	if _, err := a.svc.Send(ctx, "group:crew", text); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "online member has it", func() error {
		if !hasText(b.list("group:crew"), text) {
			return fmt.Errorf("b has %+v", b.list("group:crew"))
		}
		return nil
	})
	// Stored for c on the mailboxes (ciphertext only).
	eventually(t, 10*time.Second, "relayed to mailboxes", func() error {
		st, _ := a.svc.Status(ctx)
		if st.Outbox > 0 {
			return fmt.Errorf("%d queued", st.Outbox)
		}
		return nil
	})
	c.start()
	connect(t, c, m)
	connect(t, c, b)
	eventually(t, 15*time.Second, "returning member has it", func() error {
		ms := c.list("group:crew")
		if !hasText(ms, text) {
			return fmt.Errorf("c has %+v", ms)
		}
		for _, x := range ms {
			if x.Text == text && x.From != a.id() {
				return fmt.Errorf("from %s", x.From)
			}
		}
		return nil
	})
	// A non-member relays a "group message" to b over its own session.
	x := newTNode(t, nil)
	connect(t, x, b)
	if err := x.svc.ensureSession(ctx, b.id()); err != nil {
		t.Fatal(err)
	}
	seq, err := x.svc.seal(ctx, b.id(), payload{Kind: kindText, ID: newID(), Time: time.Now().UnixMilli(), Text: "let me in", GID: gr.ID}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var env []byte
	x.db.QueryRow(`SELECT envelope FROM msg_outbox WHERE seq = ?`, seq).Scan(&env)
	if err := x.svc.sendDirect(ctx, b.id(), env); err == nil {
		t.Fatal("a non-member's group message was accepted")
	}
	if hasText(b.list("group:crew"), "let me in") || hasText(b.list(""), "let me in") {
		t.Fatal("a non-member's group message was stored")
	}
}
