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
// twice. Afterwards every voter must hold: each acknowledged transfer
// applied exactly once with the acknowledged receipt, no negative balance,
// sum == supply, and balances equal to genesis plus exactly the applied
// transfers.
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
		submitted  sync.Map // id -> SignedTransfer
		acked      sync.Map // id -> Receipt
		nAcked     atomic.Int64
		nOverdraft atomic.Int64
		nReplay    atomic.Int64
		nUnknown   atomic.Int64
		failure    atomic.Value
	)
	fail := func(format string, args ...any) { failure.CompareAndSwap(nil, fmt.Sprintf(format, args...)) }
	ack := func(st SignedTransfer, rec Receipt) {
		if rec.ID != st.ID || rec.Amount != st.Amount || rec.Index == 0 {
			fail("bad receipt %+v for %s", rec, st.ID)
		}
		if prev, loaded := acked.LoadOrStore(st.ID, rec); loaded {
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
				submitted.Store(st.ID, st)
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
	if nAcked.Load() < 100 || nOverdraft.Load() == 0 || nReplay.Load() == 0 {
		t.Fatalf("too little exercised: acked %d overdraft %d replay %d", nAcked.Load(), nOverdraft.Load(), nReplay.Load())
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
		if f.Supply() != start*payers {
			t.Fatalf("voter %s: supply %d", n.host.ID(), f.Supply())
		}
		want := map[string]int64{}
		for k, v := range genesis.Balances {
			want[k] = v
		}
		applied := 0
		submitted.Range(func(k, v any) bool {
			st := v.(SignedTransfer)
			rec, ok := f.Lookup(st.ID)
			if a, wasAcked := acked.Load(st.ID); wasAcked {
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
	}
}

func peerShort(s string) string {
	if id, err := peer.Decode(s); err == nil {
		return id.ShortString()
	}
	return s
}
