package ledger

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// TestJepsenLeaderKill runs concurrent clients against three voters
// (transfers, retries of the same id, concurrent duplicates, overdraft
// attempts) while the leader is killed and restarted from its data dir
// twice, and a thief signs transfers from its victims' accounts with its
// own key and spends its victims' transfer IDs first. Afterwards every
// voter must hold: each acknowledged transfer applied exactly once with the
// acknowledged receipt, no negative balance, sum == supply == the genesis
// supply, balances equal to genesis plus exactly the applied transfers, and
// no account ever spent from except by its own signer (every spend in its
// history is a transfer its owner signed and submitted).
func TestJepsenLeaderKill(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()

	const payers = 24
	const start = 10_000
	accts := make([]account, payers)
	genesis := Genesis{Balances: map[string]int64{}}
	for i := range accts {
		accts[i] = newAccount(t)
		genesis.Balances[accts[i].id] = start
	}
	thief := newAccount(t)
	genesis.Balances[thief.id] = start
	keys := make([]crypto.PrivKey, 3)
	for i := range keys {
		keys[i] = newAccount(t).key
	}
	base := t.TempDir()
	tune := func(c *Config) {
		c.SnapshotThreshold = 32
		c.SnapshotInterval = 500 * time.Millisecond
	}
	nodes, err := startCluster(ctx, base, keys, genesis, tune)
	if err != nil {
		t.Fatal(err)
	}
	cfgs := make([]Config, len(nodes))
	for i, n := range nodes {
		cfgs[i] = n.svc.cfg
	}

	var mu sync.Mutex // guards live
	live := append([]*benchNode(nil), nodes...)
	pick := func(rng *rand.Rand) *benchNode {
		mu.Lock()
		defer mu.Unlock()
		return live[rng.IntN(len(live))]
	}
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		for _, n := range live {
			_ = n.close()
		}
	}()

	var (
		submitted  sync.Map // signer/id -> SignedTransfer
		acked      sync.Map // signer/id -> Receipt
		recent     sync.Map // payer index -> the ID of its latest transfer
		nAcked     atomic.Int64
		nOverdraft atomic.Int64
		nReplay    atomic.Int64
		nUnknown   atomic.Int64
		failure    atomic.Value
	)
	fail := func(format string, args ...any) { failure.CompareAndSwap(nil, fmt.Sprintf(format, args...)) }
	ack := func(st SignedTransfer, rec Receipt) {
		if !rec.Matches(&st.Transfer) || rec.Index == 0 {
			fail("bad receipt %+v for %s", rec, st.ID)
		}
		if prev, loaded := acked.LoadOrStore(st.From+"/"+st.ID, rec); loaded {
			if prev.(Receipt).Index != rec.Index {
				fail("transfer %s acknowledged at index %d and %d", st.ID, prev.(Receipt).Index, rec.Index)
			}
			nReplay.Add(1)
		} else {
			nAcked.Add(1)
		}
	}
	submit := func(rng *rand.Rand, st SignedTransfer) {
		sctx, scancel := context.WithTimeout(ctx, 5*time.Second)
		defer scancel()
		rec, err := pick(rng).svc.Submit(sctx, st)
		switch {
		case err == nil:
			ack(st, rec)
		case errors.Is(err, ErrInsufficientFunds):
			nOverdraft.Add(1)
		case errors.Is(err, ErrConflict) && st.From == thief.id:
			// The thief reused one of its own IDs: refused, as it should be.
		case errors.Is(err, ErrClosed), errors.Is(err, context.DeadlineExceeded):
			nUnknown.Add(1) // outcome unknown: may or may not have applied
		default:
			fail("submit %s: unexpected error %v", st.ID, err)
		}
	}

	stop := make(chan struct{})
	var clients sync.WaitGroup
	for c := 0; c < payers; c++ {
		clients.Add(1)
		go func(c int) {
			defer clients.Done()
			rng := rand.New(rand.NewPCG(uint64(c), 7))
			from := accts[c]
			for {
				select {
				case <-stop:
					return
				default:
				}
				to := accts[(c+1+rng.IntN(payers-1))%payers]
				amount := 1 + rng.Int64N(start/3) // balances run out: overdrafts happen
				st := mustTransfer(t, from, to.id, amount)
				submitted.Store(st.From+"/"+st.ID, st)
				recent.Store(c, st.ID)
				switch rng.IntN(10) {
				case 0: // a concurrent duplicate of the same id
					var wg sync.WaitGroup
					for range 2 {
						seed := rng.Uint64()
						wg.Add(1)
						go func() { defer wg.Done(); submit(rand.New(rand.NewPCG(seed, 1)), st) }()
					}
					wg.Wait()
				case 1: // a retry after the answer
					submit(rng, st)
					submit(rng, st)
				default:
					submit(rng, st)
				}
			}
		}(c)
	}

	// The thief: transfers from a victim's account signed with the
	// thief's key (refused), and the thief's own dust transfers under the
	// ID its victim used last (its own, scoped to it: they may apply, and
	// must never make the victim's transfer "already applied").
	var nForged, nStolenIDs atomic.Int64
	clients.Add(1)
	go func() {
		defer clients.Done()
		rng := rand.New(rand.NewPCG(99, 7))
		for {
			select {
			case <-stop:
				return
			default:
			}
			c := rng.IntN(payers)
			victim := accts[c]
			forged := Transfer{ID: NewID(), From: victim.id, To: thief.id, Amount: 1 + rng.Int64N(start), Time: time.Now().UnixNano()}
			sig, _ := thief.key.Sign(forged.SigningBytes())
			sctx, scancel := context.WithTimeout(ctx, 5*time.Second)
			_, err := pick(rng).svc.Submit(sctx, SignedTransfer{Transfer: forged, Sig: sig})
			scancel()
			switch {
			case errors.Is(err, ErrBadSignature):
				nForged.Add(1)
			case err == nil:
				fail("a transfer from %s signed by the thief applied", peerShort(victim.id))
			}
			if id, ok := recent.Load(c); ok {
				st, err := Sign(thief.key, Transfer{ID: id.(string), From: thief.id, To: victim.id, Amount: 1, Time: time.Now().UnixNano()})
				if err != nil {
					fail("sign: %v", err)
					return
				}
				if _, loaded := submitted.LoadOrStore(st.From+"/"+st.ID, st); !loaded {
					nStolenIDs.Add(1)
					submit(rng, st)
				}
			}
		}
	}()

	// Kill the leader twice, restarting it from its data dir each time.
	for round := 0; round < 2; round++ {
		time.Sleep(1500 * time.Millisecond)
		mu.Lock()
		snapshot := append([]*benchNode(nil), live...)
		mu.Unlock()
		leader, err := waitLeader(ctx, snapshot)
		if err != nil {
			t.Fatal(err)
		}
		slot := -1
		mu.Lock()
		for i, n := range live {
			if n == leader {
				slot = i
			}
		}
		mu.Unlock()
		// Clients keep using the dying node; it answers ErrClosed.
		if err := leader.close(); err != nil {
			t.Logf("closing leader: %v", err)
		}
		time.Sleep(700 * time.Millisecond) // the others elect a new leader meanwhile
		restarted, err := startNode(keys[slot], cfgs[slot])
		if err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		live[slot] = restarted
		introduce(live...)
		mu.Unlock()
		t.Logf("round %d: killed leader %s (slot %d), restarted it", round, leader.host.ID(), slot)
	}
	time.Sleep(1500 * time.Millisecond)
	close(stop)
	clients.Wait()
	if f := failure.Load(); f != nil {
		t.Fatal(f)
	}

	mu.Lock()
	final := append([]*benchNode(nil), live...)
	mu.Unlock()
	if _, err := waitLeader(ctx, final); err != nil {
		t.Fatal(err)
	}
	// An empty entry from the leader makes every voter apply everything.
	waitConverged(t, ctx, final)

	t.Logf("acked %d, replays %d, overdrafts %d, unknown %d", nAcked.Load(), nReplay.Load(), nOverdraft.Load(), nUnknown.Load())
	t.Logf("thief: %d forged transfers refused, %d transfers under its victims' IDs", nForged.Load(), nStolenIDs.Load())
	if nAcked.Load() < 100 || nOverdraft.Load() == 0 || nReplay.Load() == 0 || nForged.Load() == 0 || nStolenIDs.Load() == 0 {
		t.Fatalf("too little exercised: acked %d overdraft %d replay %d forged %d stolen ids %d",
			nAcked.Load(), nOverdraft.Load(), nReplay.Load(), nForged.Load(), nStolenIDs.Load())
	}
	snaps := 0
	for _, c := range cfgs {
		entries, _ := os.ReadDir(filepath.Join(c.Dir, "snapshots"))
		snaps += len(entries)
	}
	if snaps == 0 {
		t.Fatal("no voter took a snapshot; restore paths were not exercised")
	}
	for _, n := range final {
		f := n.svc.fsm
		if err := f.CheckInvariant(); err != nil {
			t.Fatalf("voter %s: %v", n.host.ID(), err)
		}
		if f.Supply() != start*(payers+1) {
			t.Fatalf("voter %s: supply %d", n.host.ID(), f.Supply())
		}
		want := map[string]int64{}
		for k, v := range genesis.Balances {
			want[k] = v
		}
		applied := 0
		submitted.Range(func(k, v any) bool {
			st := v.(SignedTransfer)
			rec, ok := f.Lookup(st.Signer(), st.ID)
			if ok && !rec.Matches(&st.Transfer) {
				t.Errorf("voter %s: %s/%s answered with another transfer's receipt %+v", n.host.ID(), peerShort(st.From), st.ID, rec)
				ok = false
			}
			if a, wasAcked := acked.Load(st.From + "/" + st.ID); wasAcked {
				if !ok {
					t.Errorf("voter %s: acknowledged %s missing", n.host.ID(), st.ID)
				} else if rec.Index != a.(Receipt).Index {
					t.Errorf("voter %s: %s at index %d, acknowledged at %d", n.host.ID(), st.ID, rec.Index, a.(Receipt).Index)
				}
			}
			if ok {
				applied++
				want[st.From] -= st.Amount
				want[st.To] += st.Amount
			}
			return true
		})
		got := f.Balances()
		for k, v := range want {
			if got[k] != v {
				t.Fatalf("voter %s: %s has %d, want %d (genesis + each applied transfer once)", n.host.ID(), peerShort(k), got[k], v)
			}
		}
		if int64(applied) < nAcked.Load() {
			t.Fatalf("voter %s: %d applied < %d acknowledged", n.host.ID(), applied, nAcked.Load())
		}
		// No account was ever spent from but by its own signer: every
		// spend in its history is a transfer its owner signed and sent.
		for _, a := range append([]account{thief}, accts...) {
			hist, err := f.History(a.id, historyLimit)
			if err != nil {
				t.Fatal(err)
			}
			for _, h := range hist {
				if h.From != a.id {
					continue
				}
				v, ok := submitted.Load(a.id + "/" + h.ID)
				if !ok || v.(SignedTransfer).To != h.To || v.(SignedTransfer).Amount != h.Amount {
					t.Fatalf("voter %s: %s spent %d to %s under id %s, which it never signed", n.host.ID(), peerShort(a.id), h.Amount, peerShort(h.To), h.ID)
				}
			}
		}
	}
}

func peerShort(s string) string {
	if id, err := peer.Decode(s); err == nil {
		return id.ShortString()
	}
	return s
}
