package compute

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/peerpath/peerpath/internal/testutil"
)

// A runaway module (endless loop, unbounded memory) fails its units with
// clear reasons, and the workers go on to run a good job.
func TestRunawayModule(t *testing.T) {
	t.Parallel()
	mod := testModule(t)
	c := newCluster(t, 3)
	sub := c.start(0, false, nil, nil)
	w1 := c.start(1, true, nil, nil)
	w2 := c.start(2, true, nil, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	spin, err := sub.Submit(ctx, JobSpec{Module: mod, Count: 2, Args: []string{"spin"}, Timeout: 300 * time.Millisecond, MaxTries: 2})
	if err != nil {
		t.Fatal(err)
	}
	hog, err := sub.Submit(ctx, JobSpec{Module: mod, Count: 2, Args: []string{"hog"}, MemoryBytes: 32 << 20, MaxTries: 2})
	if err != nil {
		t.Fatal(err)
	}
	exit, err := sub.Submit(ctx, JobSpec{Module: mod, Count: 2, Args: []string{"fail"}, MaxTries: 2})
	if err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]string{spin: "time limit exceeded", hog: "memory limit exceeded", exit: "non-zero exit code: 3"} {
		st := waitFor(t, sub, id, 80*time.Second)
		if st.State != StateFailed || st.Failed < 1 || len(st.Reasons) == 0 || !strings.Contains(st.Reasons[0], want) {
			t.Errorf("job %s: state %s, reasons %q; want failed with %q", id, st.State, st.Reasons, want)
		}
	}
	if ws1, ws2 := w1.WorkerStatus(), w2.WorkerStatus(); ws1.Failed+ws2.Failed < 6 {
		t.Errorf("workers counted %d and %d failed units", ws1.Failed, ws2.Failed)
	}
	good, err := sub.Submit(ctx, JobSpec{Module: mod, Count: 4, Args: []string{"work", "1000"}})
	if err != nil {
		t.Fatal(err)
	}
	if st := waitFor(t, sub, good, 60*time.Second); st.State != StateDone || len(st.Workers) != 2 {
		t.Fatalf("good job after runaways: %+v", st)
	}
}

// A worker that returns wrong outputs is outvoted, loses its reliability,
// is excluded and is not paid; the results are still right.
func TestCheaterCaught(t *testing.T) {
	t.Parallel()
	mod := testModule(t)
	c := newCluster(t, 4)
	sub := c.start(0, false, nil, nil)
	c.start(1, true, nil, nil)
	c.start(2, true, nil, nil)
	var mu sync.Mutex
	lies := 0
	c.start(3, true, nil, func(s *Service) {
		s.w.tamper = func(out []byte) []byte {
			mu.Lock()
			lies++
			mu.Unlock()
			return append([]byte("forged "), out...)
		}
	})
	cheater := c.nodes[3].h.ID()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	args := []string{"work", "50000"}
	id, err := sub.Submit(ctx, JobSpec{Module: mod, Count: 12, Args: args, Reward: 3})
	if err != nil {
		t.Fatal(err)
	}
	st := waitFor(t, sub, id, 80*time.Second)
	if st.State != StateDone {
		t.Fatalf("status %+v", st)
	}
	mu.Lock()
	n := lies
	mu.Unlock()
	if n == 0 {
		t.Fatal("the cheater never got a unit; the test proves nothing")
	}
	res, _ := sub.Results(ctx, id)
	for i := range 12 {
		if local := localRun(t, mod, args, i, nil); !bytes.Equal(res[i], local) {
			t.Errorf("unit %d: accepted %q, right %q", i, res[i], local)
		}
	}
	sub.mu.Lock()
	rec := *sub.rec(cheater)
	sub.mu.Unlock()
	if rec.invalid == 0 || !rec.excluded() {
		t.Errorf("cheater's record %+v: not excluded after %d lies", rec, n)
	}
	pays, _ := sub.Payments(ctx)
	for _, p := range pays {
		if p.Worker == cheater.String() {
			t.Errorf("cheater paid: %+v", p)
		}
	}
	// An excluded worker gets no more work.
	sub.mu.Lock()
	m, a := sub.assign(cheater, id)
	sub.mu.Unlock()
	if a != nil || !m.Final {
		t.Errorf("excluded worker was answered %+v", m)
	}
}

// A worker killed while running a unit is routed around.
func TestWorkerKilledMidUnit(t *testing.T) {
	t.Parallel()
	mod := testModule(t)
	c := newCluster(t, 4)
	sub := c.start(0, false, nil, nil)
	c.start(1, true, nil, nil)
	c.start(2, true, nil, nil)
	victim := c.nodes[3]
	killed := make(chan struct{})
	var once sync.Once
	c.start(3, true, nil, func(s *Service) {
		s.w.onStart = func(string, int) {
			once.Do(func() {
				// Close the host as the unit starts, as a crash would:
				// the submitter sees the connection drop, not a polite
				// goodbye, while the unit is assigned.
				victim.h.Close()
				close(killed)
			})
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	args := []string{"work", "300000"}
	id, err := sub.Submit(ctx, JobSpec{Module: mod, Count: 6, Args: args})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-killed:
	case <-ctx.Done():
		t.Fatal("the victim never started a unit")
	}
	st := waitFor(t, sub, id, 80*time.Second)
	if st.State != StateDone {
		t.Fatalf("status %+v", st)
	}
	for _, w := range st.Workers {
		if w == victim.h.ID().String() {
			t.Errorf("the killed worker returned a result")
		}
	}
	res, _ := sub.Results(ctx, id)
	for i := range 6 {
		if local := localRun(t, mod, args, i, nil); !bytes.Equal(res[i], local) {
			t.Errorf("unit %d: %q, local %q", i, res[i], local)
		}
	}
}

// A submitter restarted mid-job (service closed and opened again on the
// same database) carries on to done.
func TestSubmitterRestart(t *testing.T) {
	t.Parallel()
	mod := testModule(t)
	c := newCluster(t, 3)
	sub := c.start(0, false, nil, nil)
	c.start(1, true, nil, nil)
	c.start(2, true, nil, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	args := []string{"work", "200000"}
	id, err := sub.Submit(ctx, JobSpec{Module: mod, Count: 10, Args: args})
	if err != nil {
		t.Fatal(err)
	}
	for {
		st, err := sub.Status(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if st.Validated >= 2 {
			if st.State == StateDone {
				t.Fatal("job finished before the restart; make units longer")
			}
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("no progress before the restart")
		case <-time.After(20 * time.Millisecond):
		}
	}
	if err := c.nodes[0].stopService(); err != nil {
		t.Fatal(err)
	}
	sub = c.start(0, false, nil, nil)
	st, err := sub.Status(ctx, id)
	if err != nil || st.Validated < 2 || st.Running != 0 {
		t.Fatalf("after restart: %+v, %v", st, err)
	}
	// The job's module is still published for the workers.
	if err := sub.sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if keys, _ := c.nodes[0].content.Keys(ctx); !slices.Contains(keys, moduleKey(id)) {
		t.Errorf("after restart, published %v", keys)
	}
	st = waitFor(t, sub, id, 80*time.Second)
	if st.State != StateDone {
		t.Fatalf("status %+v", st)
	}
	res, _ := sub.Results(ctx, id)
	for i := range 10 {
		if local := localRun(t, mod, args, i, nil); !bytes.Equal(res[i], local) {
			t.Errorf("unit %d: %q, local %q", i, res[i], local)
		}
	}
}

type payment struct {
	to    peer.ID
	micro int64
	ref   string
}

type fakePayer struct {
	mu    sync.Mutex
	calls []payment
	fails int // fail this many calls first
}

func (p *fakePayer) Pay(ctx context.Context, to peer.ID, micro int64, memo, ref string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fails > 0 {
		p.fails--
		return errors.New("ledger unavailable")
	}
	p.calls = append(p.calls, payment{to, micro, ref})
	return nil
}

// The Payer is called once per validated unit per matching worker, with the
// reward and ref jobID/unit, even when it fails at first.
func TestPayments(t *testing.T) {
	t.Parallel()
	mod := testModule(t)
	c := newCluster(t, 3)
	payer := &fakePayer{fails: 1}
	sub := c.start(0, false, payer, nil)
	c.start(1, true, nil, nil)
	c.start(2, true, nil, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	id, err := sub.Submit(ctx, JobSpec{Module: mod, Count: 4, Args: []string{"work", "1000"}, Reward: 1_500_000})
	if err != nil {
		t.Fatal(err)
	}
	if st := waitFor(t, sub, id, 60*time.Second); st.State != StateDone {
		t.Fatalf("status %+v", st)
	}
	workers := map[peer.ID]bool{c.nodes[1].h.ID(): true, c.nodes[2].h.ID(): true}
	for {
		pays, err := sub.Payments(ctx)
		if err != nil {
			t.Fatal(err)
		}
		paid := 0
		for _, p := range pays {
			if p.State == "paid" {
				paid++
			}
		}
		if len(pays) == 8 && paid == 8 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("payments %+v", pays)
		case <-time.After(50 * time.Millisecond):
		}
	}
	payer.mu.Lock()
	defer payer.mu.Unlock()
	if len(payer.calls) != 8 {
		t.Fatalf("%d payments, want 8: %+v", len(payer.calls), payer.calls)
	}
	seen := map[payment]bool{}
	for _, p := range payer.calls {
		if !workers[p.to] || p.micro != 1_500_000 || !strings.HasPrefix(p.ref, id+"/") || seen[p] {
			t.Errorf("payment %+v", p)
		}
		seen[p] = true
	}
}

// Adaptive replication: once workers have a clean record, most units run
// once, with spot checks, and redundancy falls well below 2.
func TestAdaptiveReplication(t *testing.T) {
	t.Parallel()
	mod := testModule(t)
	c := newCluster(t, 3)
	// A fixed seed: each unit given to a trusted worker draws once, so the
	// number of spot checks below is the same in every run (with the
	// default 10% rate a random seed leaves all 24 units single 8% of the time).
	sub := c.start(0, false, nil, func(s *Service) {
		s.tune.trustAfter = 5
		s.rnd = rand.New(rand.NewPCG(8, 8))
	})
	c.start(1, true, nil, nil)
	c.start(2, true, nil, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	// Warm-up: build a record.
	warm, err := sub.Submit(ctx, JobSpec{Module: mod, Count: 12, Args: []string{"work", "10"}})
	if err != nil {
		t.Fatal(err)
	}
	if st := waitFor(t, sub, warm, 60*time.Second); st.State != StateDone || st.Results < 12 {
		t.Fatalf("warm-up %+v", st)
	}
	units := 40
	if testutil.Race {
		units = 24
	}
	id, err := sub.Submit(ctx, JobSpec{Module: mod, Count: units, Args: []string{"work", "10"}})
	if err != nil {
		t.Fatal(err)
	}
	st := waitFor(t, sub, id, 80*time.Second)
	if st.State != StateDone {
		t.Fatalf("status %+v", st)
	}
	ratio := float64(st.Results) / float64(st.Units)
	t.Logf("redundancy %.2f (%d results for %d units, %d single copies)", ratio, st.Results, st.Units, st.Singles)
	if ratio > 1.5 || st.Singles == 0 || st.Singles == st.Units {
		t.Errorf("redundancy %.2f with %d single copies of %d: adaptive replication did not work", ratio, st.Singles, st.Units)
	}
}

// Cancelling a job stops its units on the workers at once, and the job
// stays cancelled.
func TestCancelStopsWorkers(t *testing.T) {
	t.Parallel()
	mod := testModule(t)
	c := newCluster(t, 3)
	sub := c.start(0, false, nil, nil)
	w1 := c.start(1, true, nil, nil)
	w2 := c.start(2, true, nil, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	id, err := sub.Submit(ctx, JobSpec{Module: mod, Count: 4, Args: []string{"spin"}, Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	for w1.WorkerStatus().Running+w2.WorkerStatus().Running < 2 {
		select {
		case <-ctx.Done():
			t.Fatal("workers never started")
		case <-time.After(20 * time.Millisecond):
		}
	}
	if err := sub.Cancel(ctx, id); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for w1.WorkerStatus().Running+w2.WorkerStatus().Running > 0 {
		if time.Since(start) > 15*time.Second {
			t.Fatal("workers still running units of a cancelled job")
		}
		time.Sleep(20 * time.Millisecond)
	}
	st, err := sub.Status(ctx, id)
	if err != nil || st.State != StateCancelled || st.Running != 0 {
		t.Fatalf("status %+v, %v", st, err)
	}
	if err := sub.Cancel(ctx, id); !errors.Is(err, ErrFinished) {
		t.Errorf("second cancel: %v", err)
	}
}

// A worker that reports every unit as failed cannot fail a job alone: its
// failure counts once per unit and honest workers run the units.
func TestLyingFailuresDoNotFailJob(t *testing.T) {
	t.Parallel()
	mod := testModule(t)
	c := newCluster(t, 3)
	sub := c.start(0, false, nil, nil)
	liar := c.start(1, true, nil, func(s *Service) { s.w.lieFail = true })
	c.start(2, true, nil, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	args := []string{"work", "20000"}
	id, err := sub.Submit(ctx, JobSpec{Module: mod, Count: 8, Args: args, Replication: 1, Quorum: 1})
	if err != nil {
		t.Fatal(err)
	}
	st := waitFor(t, sub, id, 80*time.Second)
	if st.State != StateDone {
		t.Fatalf("status %+v", st)
	}
	if liar.WorkerStatus().Failed == 0 {
		t.Fatal("the liar never got a unit; the test proves nothing")
	}
	res, _ := sub.Results(ctx, id)
	for i := range 8 {
		if local := localRun(t, mod, args, i, nil); !bytes.Equal(res[i], local) {
			t.Errorf("unit %d: %q, local %q", i, res[i], local)
		}
	}
}

// A trusted worker that turns cheater is caught by a spot check: it loses
// its trust (and is excluded), and only the few single copies it returned
// before that can be wrong.
func TestSpotCheckCatchesTurncoat(t *testing.T) {
	t.Parallel()
	mod := testModule(t)
	c := newCluster(t, 4)
	sub := c.start(0, false, nil, func(s *Service) { s.tune.trustAfter, s.tune.spotRate = 3, 0.5 })
	c.start(1, true, nil, nil)
	c.start(2, true, nil, nil)
	var mu sync.Mutex
	cheating := false
	c.start(3, true, nil, func(s *Service) {
		s.w.tamper = func(out []byte) []byte {
			mu.Lock()
			defer mu.Unlock()
			if cheating {
				return append([]byte("turncoat "), out...)
			}
			return out
		}
	})
	turncoat := c.nodes[3].h.ID()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	args := []string{"work", "10"}
	warm, err := sub.Submit(ctx, JobSpec{Module: mod, Count: 15, Args: args})
	if err != nil {
		t.Fatal(err)
	}
	if st := waitFor(t, sub, warm, 60*time.Second); st.State != StateDone {
		t.Fatalf("warm-up %+v", st)
	}
	sub.mu.Lock()
	wasTrusted := sub.trusted(turncoat)
	sub.mu.Unlock()
	if !wasTrusted {
		t.Fatal("the worker did not earn trust in the warm-up; the test proves nothing")
	}
	mu.Lock()
	cheating = true
	mu.Unlock()
	id, err := sub.Submit(ctx, JobSpec{Module: mod, Count: 30, Args: args})
	if err != nil {
		t.Fatal(err)
	}
	if st := waitFor(t, sub, id, 60*time.Second); st.State != StateDone {
		t.Fatalf("status %+v", st)
	}
	sub.mu.Lock()
	rec, trusted := *sub.rec(turncoat), sub.trusted(turncoat)
	sub.mu.Unlock()
	if rec.invalid == 0 || trusted || !rec.excluded() {
		t.Fatalf("turncoat not caught: record %+v, trusted %v", rec, trusted)
	}
	res, _ := sub.Results(ctx, id)
	wrong := 0
	for i := range 30 {
		if !bytes.Equal(res[i], localRun(t, mod, args, i, nil)) {
			wrong++
		}
	}
	t.Logf("%d wrong single copies accepted before the spot check (record %+v)", wrong, rec)
	if wrong > 10 {
		t.Errorf("%d wrong results accepted", wrong)
	}
}

// A worker cannot hoard units: past maxAssignedPerWorker at once it is told
// to come back later, while another worker still gets work; a finished
// assignment frees its place.
func TestWorkerCannotHoard(t *testing.T) {
	t.Parallel()
	mod := testModule(t)
	c := newCluster(t, 1)
	sub := c.start(0, false, nil, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	id, err := sub.Submit(ctx, JobSpec{Module: mod, Count: maxAssignedPerWorker + 20, Args: []string{"work", "10"}, Replication: 1, Quorum: 1})
	if err != nil {
		t.Fatal(err)
	}
	greedy, other := peer.ID("greedy"), peer.ID("other")
	sub.mu.Lock()
	defer sub.mu.Unlock()
	var held []*assignment
	for range maxAssignedPerWorker {
		m, a := sub.assign(greedy, id)
		if a == nil {
			t.Fatalf("assignment %d refused: %s", len(held)+1, m.Reason)
		}
		held = append(held, a)
	}
	if m, a := sub.assign(greedy, id); a != nil || !strings.Contains(m.Reason, "too many units") {
		t.Fatalf("assignment past the cap: %+v (%v)", m, a)
	}
	if _, a := sub.assign(other, id); a == nil {
		t.Fatal("another worker got no unit")
	}
	sub.abandon(held[0], "test")
	if _, a := sub.assign(greedy, id); a == nil {
		t.Fatal("no unit after one was given back")
	}
}
