package ledger

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
)

func testHost(t *testing.T) (host.Host, crypto.PrivKey) {
	t.Helper()
	k, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	h, err := newLoopbackHost(k)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h, k
}

func TestStreamLayerResetsNonVoter(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	a, _ := testHost(t)
	b, _ := testHost(t)
	c, _ := testHost(t)
	for _, h := range []host.Host{b, c} {
		h.Peerstore().AddAddrs(a.ID(), a.Addrs(), peerstore.PermanentAddrTTL)
	}
	log := slog.New(slog.DiscardHandler)
	la := NewStreamLayer(a, func(p peer.ID) bool { return p == b.ID() }, log)
	defer la.Close()
	lb := NewStreamLayer(b, func(peer.ID) bool { return false }, log)
	defer lb.Close()

	// The allowed peer: Dial, Accept, a round trip, addresses are peer IDs.
	accepted := make(chan error, 1)
	go func() {
		conn, err := la.Accept()
		if err != nil {
			accepted <- err
			return
		}
		defer conn.Close()
		if conn.RemoteAddr().String() != b.ID().String() {
			accepted <- errors.New("remote addr is not the dialer's peer id")
			return
		}
		buf := make([]byte, 4)
		if _, err := io.ReadFull(conn, buf); err != nil {
			accepted <- err
			return
		}
		_, err = conn.Write(buf)
		accepted <- err
	}()
	conn, err := lb.Dial(raftAddr(a.ID()), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	echo := make([]byte, 4)
	if _, err := io.ReadFull(conn, echo); err != nil || string(echo) != "ping" {
		t.Fatalf("echo %q %v", echo, err)
	}
	conn.Close()
	if err := <-accepted; err != nil {
		t.Fatal(err)
	}

	// Another peer speaking the raft protocol is reset before raft sees it.
	s, err := c.NewStream(ctx, a.ID(), RaftProtocol)
	if err != nil {
		t.Fatal(err)
	}
	_ = s.SetDeadline(time.Now().Add(5 * time.Second))
	_, _ = s.Write([]byte("append entries please"))
	n, err := s.Read(make([]byte, 1))
	if err == nil || n != 0 {
		t.Fatalf("non-voter stream: read %d, %v; want a reset", n, err)
	}
	if errors.Is(err, context.DeadlineExceeded) || isTimeout(err) {
		t.Fatalf("non-voter stream timed out instead of being reset: %v", err)
	}
	select {
	case conn := <-la.conns:
		t.Fatalf("non-voter stream reached Accept: %v", conn.RemoteAddr())
	default:
	}
	// After Close, Accept fails.
	la.Close()
	if _, err := la.Accept(); err == nil {
		t.Fatal("Accept after Close succeeded")
	}
}

func isTimeout(err error) bool {
	var te interface{ Timeout() bool }
	return errors.As(err, &te) && te.Timeout()
}

// waitConverged waits until every node's state machine has applied
// exactly what the leader's has after a barrier.
func waitConverged(t *testing.T, ctx context.Context, nodes []*benchNode) {
	t.Helper()
	leader, err := waitLeader(ctx, nodes)
	if err != nil {
		t.Fatal(err)
	}
	if err := leader.svc.Barrier(ctx); err != nil {
		t.Fatal(err)
	}
	target := leader.svc.AppliedIndex()
	for {
		var idx []uint64
		for _, n := range nodes {
			idx = append(idx, n.svc.AppliedIndex())
		}
		if slices.Min(idx) == target && slices.Max(idx) == target {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("voters did not converge on %d: applied %v", target, idx)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func TestThreeVotersWithNonVoter(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	alice, bob := newAccount(t), newAccount(t)
	keys := make([]crypto.PrivKey, 3)
	for i := range keys {
		keys[i] = newAccount(t).key
	}
	genesis := Genesis{Balances: map[string]int64{alice.id: 100 * MicroPerCredit}}
	nodes, err := startCluster(ctx, t.TempDir(), keys, genesis, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		for _, n := range nodes {
			if err := n.close(); err != nil {
				t.Error(err)
			}
		}
	}()
	leader, err := waitLeader(ctx, nodes)
	if err != nil {
		t.Fatal(err)
	}
	var follower *benchNode
	for _, n := range nodes {
		if n != leader {
			follower = n
		}
	}
	var voterIDs []peer.ID
	for _, n := range nodes {
		voterIDs = append(voterIDs, n.host.ID())
	}
	if err := nodes[0].svc.Create(ctx, voterIDs, genesis); !errors.Is(err, ErrLedgerExists) {
		t.Fatalf("second Create: %v, want ErrLedgerExists", err)
	}

	// A non-voter that only knows the follower: its requests go through it.
	client, err := startNode(alice.key, Config{Voters: []peer.ID{follower.host.ID()}})
	if err != nil {
		t.Fatal(err)
	}
	defer client.close()
	introduce(append([]*benchNode{client}, nodes...)...)
	if err := client.svc.Create(ctx, voterIDs, genesis); !errors.Is(err, ErrNotVoter) {
		t.Fatalf("Create on a non-voter: %v", err)
	}

	var want int64
	for i := 1; i <= 5; i++ {
		st := mustTransfer(t, alice, bob.id, int64(i)*MicroPerCredit)
		rec, err := client.svc.Submit(ctx, st)
		if err != nil {
			t.Fatalf("submit %d: %v", i, err)
		}
		if rec.ID != st.ID || rec.Amount != st.Amount || rec.Index == 0 {
			t.Fatalf("receipt %+v", rec)
		}
		want += st.Amount
		// Retrying the same transfer returns the original receipt.
		again, err := client.svc.Submit(ctx, st)
		if err != nil || !again.Replay || again.Index != rec.Index {
			t.Fatalf("retry: %+v %v", again, err)
		}
	}
	// Decided outcomes cross the wire as the same sentinel errors.
	if _, err := client.svc.Submit(ctx, mustTransfer(t, bob, alice.id, 1000*MicroPerCredit)); !errors.Is(err, ErrInsufficientFunds) {
		t.Fatalf("overdraft through non-voter: %v", err)
	}
	forged := mustTransfer(t, alice, bob.id, 1)
	forged.Amount = 2
	if _, err := client.svc.Submit(ctx, forged); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("forged through non-voter: %v", err)
	}

	waitConverged(t, ctx, nodes)
	for _, n := range nodes {
		if b, err := n.svc.Balance(ctx, bob.id); err != nil || b != want {
			t.Fatalf("voter %s: bob has %d (%v), want %d", n.host.ID(), b, err, want)
		}
		if a, _ := n.svc.Balance(ctx, alice.id); a != 100*MicroPerCredit-want {
			t.Fatalf("voter %s: alice has %d", n.host.ID(), a)
		}
		if err := n.svc.fsm.CheckInvariant(); err != nil {
			t.Fatal(err)
		}
	}
	if b, err := client.svc.Balance(ctx, bob.id); err != nil || b != want {
		t.Fatalf("non-voter balance %d %v", b, err)
	}
	if _, err := client.svc.Balance(ctx, "nope"); !errors.Is(err, ErrUnknownAccount) {
		t.Fatalf("balance of a non-peer: %v", err)
	}
	hist, err := client.svc.History(ctx, bob.id, 3)
	if err != nil || len(hist) != 3 || hist[0].Amount != 5*MicroPerCredit {
		t.Fatalf("history %+v %v", hist, err)
	}
	st, err := client.svc.Status(ctx)
	if err != nil || st.Leader != leader.host.ID().String() || len(st.Voters) != 3 || st.CommitIndex == 0 {
		t.Fatalf("status %+v %v", st, err)
	}

	// The non-voter may not speak raft to a voter: its stream is reset.
	s, err := client.host.NewStream(ctx, follower.host.ID(), RaftProtocol)
	if err == nil {
		_ = s.SetDeadline(time.Now().Add(5 * time.Second))
		_, _ = s.Write([]byte{0, 1, 2})
		if _, err = s.Read(make([]byte, 1)); err == nil || isTimeout(err) {
			t.Fatalf("raft stream from a non-voter: %v, want reset", err)
		}
	}
	// Nor change membership through the client protocol.
	resp, err := client.svc.call(ctx, leader.host.ID(), clientRequest{Op: opAdd, Peer: client.host.ID().String()})
	if err != nil || !errors.Is(resp.err(), ErrNotVoter) {
		t.Fatalf("add_voter from a non-voter: %+v %v", resp, err)
	}

	// Membership: add a fourth voter, see it catch up, remove it.
	k4 := newAccount(t).key
	fourth, err := startNode(k4, Config{Dir: filepath.Join(t.TempDir(), "v4"), Voter: true, Voters: voterIDs,
		ElectionTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer fourth.close()
	introduce(append([]*benchNode{fourth, client}, nodes...)...)
	if err := follower.svc.AddVoter(ctx, fourth.host.ID()); err != nil {
		t.Fatalf("add voter: %v", err)
	}
	all := append(slices.Clone(nodes), fourth)
	waitConverged(t, ctx, all)
	if b, _ := fourth.svc.Balance(ctx, bob.id); b != want {
		t.Fatalf("new voter: bob has %d, want %d", b, want)
	}
	if st, _ := leader.svc.Status(ctx); len(st.Voters) != 4 {
		t.Fatalf("voters after add: %v", st.Voters)
	}
	if err := leader.svc.RemoveVoter(ctx, fourth.host.ID()); err != nil {
		t.Fatalf("remove voter: %v", err)
	}
	if st, _ := leader.svc.Status(ctx); len(st.Voters) != 3 || slices.Contains(st.Voters, fourth.host.ID().String()) {
		t.Fatalf("voters after remove: %v", st.Voters)
	}
	// Once removed, its raft streams are reset like any non-voter's.
	s, err = fourth.host.NewStream(ctx, leader.host.ID(), RaftProtocol)
	if err == nil {
		_ = s.SetDeadline(time.Now().Add(5 * time.Second))
		_, _ = s.Write([]byte{0, 1, 2})
		if _, err = s.Read(make([]byte, 1)); err == nil || isTimeout(err) {
			t.Fatalf("raft stream from a removed voter: %v, want reset", err)
		}
	}
}

func raftAddr(id peer.ID) raft.ServerAddress { return raft.ServerAddress(id.String()) }

func TestServiceConfigAndLifecycle(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := New(ctx, Config{}); err == nil {
		t.Fatal("New without a host succeeded")
	}
	h, key := testHost(t)
	if _, err := New(ctx, Config{Host: h, Voter: true}); err == nil {
		t.Fatal("voter without Dir succeeded")
	}
	// A non-voter that knows no voter cannot submit: ErrNoLedger at once
	// (nothing to wait for), and Create/AddVoter say ErrNotVoter.
	svc, err := New(ctx, Config{Host: h})
	if err != nil {
		t.Fatal(err)
	}
	bob := newAccount(t)
	st, err := NewTransfer(key, bob.id, 1, "", "")
	if err != nil {
		t.Fatal(err)
	}
	sctx, scancel := context.WithTimeout(ctx, 5*time.Second)
	_, err = svc.Submit(sctx, st)
	waited := sctx.Err()
	scancel()
	if !errors.Is(err, ErrNoLedger) || errors.Is(err, context.DeadlineExceeded) || waited != nil {
		t.Fatalf("submit with no voter: %v (context: %v)", err, waited)
	}
	if err := svc.AddVoter(ctx, h.ID()); !errors.Is(err, ErrNotVoter) {
		t.Fatalf("AddVoter on non-voter: %v", err)
	}
	// Malformed transfers are refused before any network use.
	bad := st
	bad.Amount = -5
	if _, err := svc.Submit(ctx, bad); !errors.Is(err, ErrInvalid) {
		t.Fatalf("negative amount: %v", err)
	}
	// Serve returns after its context ends; calls afterwards say ErrClosed.
	serveCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- svc.Serve(serveCtx) }()
	stop()
	if err := <-done; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if _, err := svc.Submit(ctx, st); !errors.Is(err, ErrClosed) {
		t.Fatalf("submit after close: %v", err)
	}
}

// TestCreateWaitsForVotersAndResumes: Create on a lone voter waits for
// the others to accept its invitation and bootstraps nothing meanwhile; a
// Create that bootstrapped but gave up before its genesis committed (no
// quorum yet) resumes without bootstrapping twice, and a further call says
// ErrLedgerExists.
func TestCreateWaitsForVotersAndResumes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	base := t.TempDir()
	keys := make([]crypto.PrivKey, 3)
	ids := make([]peer.ID, 3)
	for i := range keys {
		keys[i] = newAccount(t).key
		ids[i], _ = peer.IDFromPrivateKey(keys[i])
	}
	cfg := func(i int) Config {
		return Config{Dir: filepath.Join(base, ids[i].String()), Voter: true, Voters: ids, ElectionTimeout: 300 * time.Millisecond}
	}
	first, err := startNode(keys[0], cfg(0))
	if err != nil {
		t.Fatal(err)
	}
	nodes := []*benchNode{first}
	defer func() {
		for _, n := range nodes {
			_ = n.close()
		}
	}()
	alice := newAccount(t)
	g := Genesis{Balances: map[string]int64{alice.id: 42}}
	short, cancelShort := context.WithTimeout(ctx, 800*time.Millisecond)
	err = first.svc.Create(short, ids, g)
	cancelShort()
	if err == nil || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "did not answer the invitation") {
		t.Fatalf("Create without the other voters: %v, want a deadline error naming a voter", err)
	}
	if len(first.raftServers()) != 0 {
		t.Fatal("Create bootstrapped before the voters accepted")
	}
	// An earlier Create that bootstrapped and then gave up.
	var conf raft.Configuration
	for _, id := range ids {
		conf.Servers = append(conf.Servers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(id.String()), Address: raftAddr(id)})
	}
	if err := first.svc.raft.Load().BootstrapCluster(conf).Error(); err != nil {
		t.Fatal(err)
	}
	for i := 1; i < 3; i++ {
		n, err := startNode(keys[i], cfg(i))
		if err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, n)
	}
	introduce(nodes...)
	if err := first.svc.Create(ctx, ids[:2], g); !errors.Is(err, ErrLedgerExists) {
		t.Fatalf("Create with other voters: %v, want ErrLedgerExists", err)
	}
	if err := first.svc.Create(ctx, ids, g); err != nil {
		t.Fatalf("resumed Create: %v", err)
	}
	waitConverged(t, ctx, nodes)
	for _, n := range nodes {
		if b, err := n.svc.Balance(ctx, alice.id); err != nil || b != 42 {
			var idx []uint64
			for _, m := range nodes {
				idx = append(idx, m.svc.AppliedIndex())
			}
			t.Fatalf("node %s: balance %d %v (applied %v)", n.host.ID(), b, err, idx)
		}
		if n.svc.fsm.Supply() != 42 {
			t.Fatalf("supply %d: genesis applied twice?", n.svc.fsm.Supply())
		}
	}
	if err := first.svc.Create(ctx, ids, g); !errors.Is(err, ErrLedgerExists) {
		t.Fatalf("third Create: %v", err)
	}
}

// A peer that sends a voter more requests than its share is answered
// ErrBusy; the service's own calls back off and get through; voters'
// forwarded requests are not limited.
func TestClientRateLimit(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	alice := newAccount(t)
	genesis := Genesis{Balances: map[string]int64{alice.id: 7 * MicroPerCredit}}
	keys := []crypto.PrivKey{newAccount(t).key}
	nodes, err := startCluster(ctx, t.TempDir(), keys, genesis, func(c *Config) { c.ClientRate, c.ClientBurst = 5, 3 })
	if err != nil {
		t.Fatal(err)
	}
	voter := nodes[0]
	defer voter.close()
	client, err := startNode(alice.key, Config{Voters: []peer.ID{voter.host.ID()}})
	if err != nil {
		t.Fatal(err)
	}
	defer client.close()
	introduce(client, voter)

	busy := 0
	for range 10 {
		resp, err := client.svc.call(ctx, voter.host.ID(), clientRequest{Op: opBalance, Account: alice.id})
		if err != nil {
			t.Fatal(err)
		}
		switch err := resp.err(); {
		case errors.Is(err, ErrBusy):
			busy++
		case err != nil:
			t.Fatal(err)
		case resp.Balance != 7*MicroPerCredit:
			t.Fatalf("balance %d", resp.Balance)
		}
	}
	if busy < 5 {
		t.Fatalf("%d of 10 requests at once refused, want at least 5 (burst 3)", busy)
	}
	// The service retries with a backoff and gets its answer.
	if b, err := client.svc.Balance(ctx, alice.id); err != nil || b != 7*MicroPerCredit {
		t.Fatalf("balance through the service: %d %v", b, err)
	}

	// Between voters nothing is limited.
	keys3 := []crypto.PrivKey{newAccount(t).key, newAccount(t).key, newAccount(t).key}
	three, err := startCluster(ctx, t.TempDir(), keys3, genesis, func(c *Config) { c.ClientRate, c.ClientBurst = 1, 1 })
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		for _, n := range three {
			n.close()
		}
	}()
	for range 10 {
		resp, err := three[1].svc.call(ctx, three[0].host.ID(), clientRequest{Op: opBalance, Account: alice.id})
		if err != nil {
			t.Fatal(err)
		}
		if err := resp.err(); errors.Is(err, ErrBusy) {
			t.Fatal("a voter's request was refused as busy")
		}
	}
}

// A decided answer is never retried: a conflict (an id reused with other
// content) used to be retried until the caller's deadline, so a meter
// settling a pre-spent payment waited 15 s for each try.
func TestDecidedErrorsNotRetried(t *testing.T) {
	for _, err := range []error{ErrConflict, ErrReplayed, ErrInsufficientFunds, ErrNoLedger, ErrNotPermitted} {
		if retryable(errors.Join(errors.New("ledger: wrapped"), err)) {
			t.Errorf("%v is retried", err)
		}
	}
	for _, err := range []error{ErrNoLeader, ErrBusy} {
		if !retryable(err) {
			t.Errorf("%v is not retried", err)
		}
	}
}
