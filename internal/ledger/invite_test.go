package ledger

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

var testHash = strings.Repeat("0f", 32)

func TestInvitationSignAndVerify(t *testing.T) {
	a, b, c := newAccount(t), newAccount(t), newAccount(t)
	ids := func(accts ...account) []peer.ID {
		var out []peer.ID
		for _, x := range accts {
			out = append(out, peer.ID(mustDecode(t, x.id)))
		}
		return out
	}
	inv, err := NewInvitation(a.key, ids(c, a, b, a), testHash)
	if err != nil {
		t.Fatal(err)
	}
	if len(inv.Voters) != 3 || !slices.IsSorted(inv.Voters) {
		t.Fatalf("voters not sorted and deduplicated: %v", inv.Voters)
	}
	if err := inv.Verify(); err != nil {
		t.Fatal(err)
	}
	for name, tamper := range map[string]func(*Invitation){
		"voter swapped":   func(i *Invitation) { i.Voters[0] = newAccount(t).id; slices.Sort(i.Voters) },
		"genesis changed": func(i *Invitation) { i.Genesis = strings.Repeat("aa", 32) },
		"inviter changed": func(i *Invitation) { i.Inviter = b.id },
		"time changed":    func(i *Invitation) { i.Time++ },
		"no signature":    func(i *Invitation) { i.Sig = nil },
	} {
		bad := inv
		bad.Voters = slices.Clone(inv.Voters)
		tamper(&bad)
		if err := bad.Verify(); err == nil {
			t.Errorf("%s: verified", name)
		}
	}
	// Shapes refused before any signature check.
	if _, err := NewInvitation(a.key, ids(b, c), testHash); err == nil {
		t.Error("an invitation not listing its inviter was signed")
	}
	if _, err := NewInvitation(a.key, ids(a), "beef"); err == nil {
		t.Error("a short genesis hash was accepted")
	}
	unsorted := inv
	unsorted.Voters = []string{inv.Voters[2], inv.Voters[0], inv.Voters[1]}
	if err := unsorted.checkShape(); err == nil {
		t.Error("unsorted voters accepted")
	}
	many := make([]peer.ID, maxInviteVoters+1)
	for i := range many {
		many[i] = peer.ID(mustDecode(t, newAccount(t).id))
	}
	many[0] = peer.ID(mustDecode(t, a.id))
	if _, err := NewInvitation(a.key, many, testHash); err == nil {
		t.Error("an invitation over the voter limit was signed")
	}
}

func mustDecode(t testing.TB, s string) peer.ID {
	t.Helper()
	id, err := peer.Decode(s)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// The rules a fresh voter applies to invitations, and what an accepted one
// changes: it is persisted, and only its voters may then speak raft.
func TestFreshVoterInvitationRules(t *testing.T) {
	boot, stranger, other := newAccount(t), newAccount(t), newAccount(t)
	bootID, strangerID, otherID := mustDecode(t, boot.id), mustDecode(t, stranger.id), mustDecode(t, other.id)
	key := newAccount(t).key
	dir := t.TempDir()
	cfg := Config{Dir: dir, Voter: true, Inviters: []peer.ID{bootID}}
	n, err := startNode(key, cfg)
	if err != nil {
		t.Fatal(err)
	}
	self := n.host.ID()
	inviteFrom := func(from account, fromID peer.ID, voters ...peer.ID) error {
		inv, err := NewInvitation(from.key, append(voters, fromID), testHash)
		if err != nil {
			t.Fatal(err)
		}
		return n.svc.acceptInvitation(fromID, &inv)
	}

	// A stranger is not trusted, whatever it lists; no raft from it.
	if err := inviteFrom(stranger, strangerID, self); !errors.Is(err, ErrInvitationRefused) {
		t.Fatalf("stranger's invitation: %v", err)
	}
	if n.svc.isVoter(strangerID) || n.svc.isVoter(bootID) {
		t.Fatal("raft allowed before any invitation")
	}
	// An invitation must come from its signer and list this node.
	inv, _ := NewInvitation(boot.key, []peer.ID{bootID, self}, testHash)
	if err := n.svc.acceptInvitation(strangerID, &inv); !errors.Is(err, ErrInvitationRefused) {
		t.Fatalf("relayed invitation: %v", err)
	}
	if err := inviteFrom(boot, bootID, otherID); !errors.Is(err, ErrInvitationRefused) {
		t.Fatalf("invitation not listing this node: %v", err)
	}
	// The bootstrap peer's invitation is accepted and persisted.
	if err := inviteFrom(boot, bootID, self, otherID); err != nil {
		t.Fatalf("bootstrap peer's invitation: %v", err)
	}
	if !n.svc.isVoter(bootID) || !n.svc.isVoter(otherID) || n.svc.isVoter(strangerID) {
		t.Fatal("raft allow list does not follow the invitation")
	}
	if _, err := os.Stat(filepath.Join(dir, InvitationFile)); err != nil {
		t.Fatal(err)
	}
	// Once taken, nobody else may invite it, not even a peer it lists.
	if err := inviteFrom(other, otherID, self); !errors.Is(err, ErrInvitationRefused) {
		t.Fatalf("second inviter: %v", err)
	}
	// Its inviter may update it (a Create that another voter refused,
	// retried without that voter).
	if err := inviteFrom(boot, bootID, self); err != nil {
		t.Fatalf("updated invitation: %v", err)
	}
	if n.svc.isVoter(otherID) {
		t.Fatal("a voter dropped from the updated invitation may still speak raft")
	}
	if err := n.close(); err != nil {
		t.Fatal(err)
	}

	// After a restart the invitation still holds, even without Inviters.
	n, err = startNode(key, Config{Dir: dir, Voter: true})
	if err != nil {
		t.Fatal(err)
	}
	if !n.svc.isVoter(bootID) || n.svc.isVoter(strangerID) {
		t.Fatal("the accepted invitation was not restored")
	}
	if err := n.close(); err != nil {
		t.Fatal(err)
	}
	// The operator names another inviter (--ledger-voters): that one may
	// now replace it, the stranger still may not.
	n, err = startNode(key, Config{Dir: dir, Voter: true, Voters: []peer.ID{otherID}})
	if err != nil {
		t.Fatal(err)
	}
	if err := inviteFrom(stranger, strangerID, self); !errors.Is(err, ErrInvitationRefused) {
		t.Fatalf("stranger after restart: %v", err)
	}
	if err := inviteFrom(other, otherID, self); err != nil {
		t.Fatalf("invitation from the peer the operator named: %v", err)
	}
	if n.svc.isVoter(bootID) || !n.svc.isVoter(otherID) {
		t.Fatal("raft allow list does not follow the replaced invitation")
	}
	if err := n.close(); err != nil {
		t.Fatal(err)
	}
	// A damaged invitation file stops the voter, naming the file.
	if err := os.WriteFile(filepath.Join(dir, InvitationFile), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if n, err := startNode(key, Config{Dir: dir, Voter: true}); err == nil {
		n.close()
		t.Fatal("started with a damaged invitation file")
	} else if !strings.Contains(err.Error(), InvitationFile) {
		t.Fatalf("error does not name the file: %v", err)
	}
}

// Voters told nothing but their bootstrap peer form a ledger through
// Create; a voter that trusts someone else refuses at once, named in the
// error with the flag that fixes it, and nothing is bootstrapped.
func TestCreateInvitesVoters(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	base := t.TempDir()
	keys := make([]crypto.PrivKey, 4)
	ids := make([]peer.ID, 4)
	for i := range keys {
		keys[i] = newAccount(t).key
		ids[i], _ = peer.IDFromPrivateKey(keys[i])
	}
	cfg := func(i int) Config {
		c := Config{Dir: filepath.Join(base, ids[i].String()), Voter: true, ElectionTimeout: 300 * time.Millisecond}
		switch {
		case i == 3:
			c.Voters = []peer.ID{ids[1]} // told to trust someone else
		case i > 0:
			c.Inviters = []peer.ID{ids[0]}
		}
		return c
	}
	var nodes []*benchNode
	defer func() {
		for _, n := range nodes {
			_ = n.close()
		}
	}()
	for i := range keys {
		n, err := startNode(keys[i], cfg(i))
		if err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, n)
	}
	introduce(nodes...)
	alice := newAccount(t)
	g := Genesis{Balances: map[string]int64{alice.id: 42}}

	err := nodes[0].svc.Create(ctx, ids, g)
	if !errors.Is(err, ErrInvitationRefused) || !strings.Contains(err.Error(), ids[3].String()) ||
		!strings.Contains(err.Error(), "--ledger-voters "+ids[0].String()) {
		t.Fatalf("Create with a voter that trusts someone else: %v", err)
	}
	t.Logf("refusal: %v", err)
	if ctx.Err() != nil {
		t.Fatal("the refusal was not decided at once")
	}
	if len(nodes[0].raftServers()) != 0 {
		t.Fatal("Create bootstrapped although a voter refused")
	}
	// A voter not running a ledger at all is named too.
	plain, err := startNode(newAccount(t).key, Config{})
	if err != nil {
		t.Fatal(err)
	}
	nodes = append(nodes, plain)
	introduce(nodes...)
	err = nodes[0].svc.Create(ctx, append(slices.Clone(ids[:3]), plain.host.ID()), g)
	if !errors.Is(err, ErrInvitationRefused) || !strings.Contains(err.Error(), "--ledger-voter") ||
		!strings.Contains(err.Error(), plain.host.ID().String()) {
		t.Fatalf("Create with a non-voter: %v", err)
	}

	if err := nodes[0].svc.Create(ctx, ids[:3], g); err != nil {
		t.Fatalf("Create: %v", err)
	}
	waitConverged(t, ctx, nodes[:3])
	for _, n := range nodes[:3] {
		if b, err := n.svc.Balance(ctx, alice.id); err != nil || b != 42 {
			t.Fatalf("balance on %s: %d %v", n.host.ID(), b, err)
		}
	}
	// An initialised voter refuses another ledger, even from its inviter,
	// and raft from outside its configuration.
	inv, _ := NewInvitation(keys[0], []peer.ID{ids[0], ids[1]}, testHash)
	if err := nodes[1].svc.acceptInvitation(ids[0], &inv); !errors.Is(err, ErrInvitationRefused) {
		t.Fatalf("second ledger's invitation: %v", err)
	}
	if nodes[1].svc.isVoter(ids[3]) {
		t.Fatal("a non-voter may speak raft to an initialised voter")
	}

	// add-voter invites too: a fresh voter that trusts the node adding it
	// joins; one that does not refuses at once.
	if err := nodes[2].svc.AddVoter(ctx, ids[3]); !errors.Is(err, ErrInvitationRefused) {
		t.Fatalf("add a voter that trusts someone else: %v", err)
	}
	if err := nodes[1].svc.AddVoter(ctx, ids[3]); err != nil {
		t.Fatalf("add voter: %v", err)
	}
	waitConverged(t, ctx, nodes[:4])
	if b, _ := nodes[3].svc.Balance(ctx, alice.id); b != 42 {
		t.Fatalf("added voter: balance %d", b)
	}
}

func (n *benchNode) raftServers() []string {
	var out []string
	for _, srv := range n.svc.raft.Load().GetConfiguration().Configuration().Servers {
		out = append(out, string(srv.ID))
	}
	return out
}

// FuzzInvitation runs the client protocol's decoding of an invitation and
// its verification on arbitrary bytes: no panic, and whatever decodes has
// the bounded shape.
func FuzzInvitation(f *testing.F) {
	k, _, _ := crypto.GenerateEd25519Key(nil)
	id, _ := peer.IDFromPrivateKey(k)
	inv, _ := NewInvitation(k, []peer.ID{id}, testHash)
	var buf bytes.Buffer
	_ = writeFrame(&buf, clientRequest{Op: opInvite, Invitation: &inv})
	f.Add(buf.Bytes())
	f.Add([]byte(`{"op":"invite","invitation":{"voters":[]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		body := data
		if b, err := readFrame(bytes.NewReader(data)); err == nil {
			body = b
		}
		req, err := decodeRequest(body)
		if err != nil || req.Op != opInvite {
			return
		}
		inv := req.Invitation
		if inv == nil || len(inv.Voters) == 0 || len(inv.Voters) > maxInviteVoters || !slices.IsSorted(inv.Voters) ||
			len(inv.Sig) > maxSigLen || !slices.Contains(inv.Voters, inv.Inviter) {
			t.Fatalf("bad invitation decoded: %+v", inv)
		}
		_ = inv.Verify() // must not panic
	})
}
