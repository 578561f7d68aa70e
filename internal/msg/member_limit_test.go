package msg

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// sealPayload seals pl from n to p, not queued in n's outbox.
func sealPayload(t *testing.T, n, p *tnode, pl payload) envelope {
	t.Helper()
	env, err := decodeEnvelope(sealDetached(t, n, p, pl))
	if err != nil {
		t.Fatal(err)
	}
	return env
}

// TestGroupMemberLimit: a member of a group this node is in, who is not
// a contact, sends that group's traffic (here a backlog of relayed group
// texts, as collected from mailboxes) under the member's limit, not the
// stranger's; it is still bounded, and its direct texts stay a
// stranger's. A non-member naming the group is a stranger.
func TestGroupMemberLimit(t *testing.T) {
	a, b, eve := newGroupNode(t), newGroupNode(t), newTNode(t, nil)
	connect(t, a, b)
	connect(t, eve, b)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	gr, err := a.svc.CreateGroup(ctx, "club", []string{b.id().String()})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "b joins", func() error {
		var k int
		b.db.QueryRow(`SELECT COUNT(*) FROM msg_groups WHERE gid = ?`, gr.ID).Scan(&k)
		if k != 1 {
			return fmt.Errorf("b is in %d groups", k)
		}
		return nil
	})
	if b.peers.IsContact(a.id()) {
		t.Fatal("a is b's contact")
	}
	relayed := func(n *tnode, i int) envelope {
		return sealPayload(t, n, b, payload{Kind: kindText, ID: newID(), Time: time.Now().UnixMilli(), Text: fmt.Sprint("club ", i), GID: gr.ID})
	}
	count := func(envs []envelope, from string) (accepted, limited int) {
		t.Helper()
		for i, env := range envs {
			switch err := b.svc.receive(ctx, env, "", true); {
			case err == nil:
				accepted++
			case errors.Is(err, errRateLimited):
				limited++
			case from == "eve":
				// refused as not a member: its key is spent, not limited
			default:
				t.Fatalf("%s's envelope %d: %v", from, i, err)
			}
		}
		return
	}
	// A backlog well past the stranger's burst all arrives.
	var envs []envelope
	for i := range strangerBurst + 30 {
		envs = append(envs, relayed(a, i))
	}
	if acc, lim := count(envs, "a"); acc != len(envs) || lim != 0 {
		t.Fatalf("a member's group backlog: %d of %d accepted, %d limited", acc, len(envs), lim)
	}
	if n := len(b.list("group:club")); n < strangerBurst+30 {
		t.Fatalf("b holds %d group texts", n)
	}
	// Bounded: past the member's burst, the rest are held back.
	envs = envs[:0]
	for i := range memberBurst {
		envs = append(envs, relayed(a, 1000+i))
	}
	acc, lim := count(envs, "a")
	if lim < 10 || acc+lim != len(envs) {
		t.Fatalf("a member's flood: %d accepted, %d limited", acc, lim)
	}
	// A member's own texts (not the group's) are a stranger's.
	envs = envs[:0]
	for i := range strangerBurst + 10 {
		envs = append(envs, sealPayload(t, a, b, payload{Kind: kindText, ID: newID(), Time: time.Now().UnixMilli(), Text: fmt.Sprint("dm ", i)}))
	}
	if acc, lim := count(envs, "a"); acc > strangerBurst+2 || lim < 8 {
		t.Fatalf("a member's direct texts: %d accepted, %d limited", acc, lim)
	}
	// A non-member naming the group is a stranger, limited as one.
	envs = envs[:0]
	for i := range strangerBurst + 10 {
		envs = append(envs, relayed(eve, i))
	}
	if _, lim := count(envs, "eve"); lim < 8 {
		t.Fatalf("a non-member's group texts: %d limited", lim)
	}
	for _, m := range b.list("group:club") {
		if m.From == eve.id() {
			t.Fatalf("a non-member's text stored: %+v", m)
		}
	}
}
