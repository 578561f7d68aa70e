package compute

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/peerpath/peerpath/internal/content"
)

// A job submitted on one node runs on two other nodes' workers, and its
// results are byte-identical to a local run of the module.
func TestRemoteWorkersMatchLocalRun(t *testing.T) {
	t.Parallel()
	mod := testModule(t)
	c := newCluster(t, 3)
	sub := c.start(0, false, nil, nil)
	c.start(1, true, nil, nil)
	c.start(2, true, nil, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	args := []string{"work", "100000"}
	id, err := sub.Submit(ctx, JobSpec{Module: mod, Count: 6, Args: args, Reward: 5})
	if err != nil {
		t.Fatal(err)
	}
	inputs := [][]byte{[]byte("hello"), {}, bytes.Repeat([]byte("ab"), 100000)}
	id2, err := sub.Submit(ctx, JobSpec{Module: mod, Inputs: inputs, Args: []string{"echo"}})
	if err != nil {
		t.Fatal(err)
	}
	st := waitFor(t, sub, id, 80*time.Second)
	if st.State != StateDone || st.Validated != 6 {
		t.Fatalf("status %+v", st)
	}
	want := []string{c.nodes[1].h.ID().String(), c.nodes[2].h.ID().String()}
	slices.Sort(want)
	if !slices.Equal(st.Workers, want) {
		t.Errorf("workers %v, want %v", st.Workers, want)
	}
	res, err := sub.Results(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 6 {
		t.Fatalf("%d results", len(res))
	}
	for i := range 6 {
		if local := localRun(t, mod, args, i, nil); !bytes.Equal(res[i], local) {
			t.Errorf("unit %d: %q, local run %q", i, res[i], local)
		}
	}
	st2 := waitFor(t, sub, id2, 80*time.Second)
	if st2.State != StateDone {
		t.Fatalf("inputs job: %+v", st2)
	}
	res2, err := sub.Results(ctx, id2)
	if err != nil {
		t.Fatal(err)
	}
	for i, in := range inputs {
		if local := localRun(t, mod, []string{"echo"}, i, in); !bytes.Equal(res2[i], local) {
			t.Errorf("input unit %d: %.40q, local run %.40q", i, res2[i], local)
		}
	}

	// No Payer: the owed ledger has one line per unit and matching worker.
	pays, err := sub.Payments(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(pays) != 12 {
		t.Fatalf("%d payment records, want 12: %+v", len(pays), pays)
	}
	seen := map[string]bool{}
	for _, p := range pays {
		if p.State != "owed" || p.Amount != 5 || !strings.HasPrefix(p.Ref, id+"/") || !slices.Contains(want, p.Worker) {
			t.Errorf("payment %+v", p)
		}
		seen[p.Ref+" "+p.Worker] = true
	}
	if len(seen) != 12 {
		t.Errorf("duplicate payment records")
	}
	jobs, err := sub.Jobs(ctx)
	if err != nil || len(jobs) != 2 || jobs[0].ID != id2 {
		t.Errorf("Jobs: %v %+v", err, jobs)
	}
}

// A node runs its own job on its local worker; with default replication its
// own results count as trusted single copies.
func TestLocalWorker(t *testing.T) {
	t.Parallel()
	mod := testModule(t)
	c := newCluster(t, 1)
	svc := c.start(0, true, nil, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 80*time.Second)
	defer cancel()
	id, err := svc.Submit(ctx, JobSpec{Module: mod, Count: 4, Args: []string{"work", "1000"}})
	if err != nil {
		t.Fatal(err)
	}
	st := waitFor(t, svc, id, 60*time.Second)
	if st.State != StateDone || st.Results != 4 || st.Singles != 4 {
		t.Fatalf("status %+v", st)
	}
	res, _ := svc.Results(ctx, id)
	for i := range 4 {
		if want := fmt.Sprintf("unit=%d ", i); !strings.HasPrefix(string(res[i]), want) {
			t.Errorf("unit %d: %q", i, res[i])
		}
	}
	if ws := svc.WorkerStatus(); ws.Completed != 4 || !ws.Enabled {
		t.Errorf("worker status %+v", ws)
	}
	// Nothing is owed to ourselves.
	if pays, _ := svc.Payments(ctx); len(pays) != 0 {
		t.Errorf("payments to self: %+v", pays)
	}
	if err := svc.Cancel(ctx, id); err == nil {
		t.Error("cancelled a finished job")
	}
	for _, bad := range []JobSpec{
		{Module: mod},
		{Module: mod, Count: 1, Inputs: [][]byte{nil}},
		{Module: mod, Count: 1, Replication: 1, Quorum: 2},
		{Module: mod, Count: 1, MemoryBytes: 8 << 30},
		{Module: mod, Count: 1, Timeout: 2 * MaxUnitTimeout},
		{Module: mod, Inputs: [][]byte{make([]byte, MaxInput+1)}},
		{Module: []byte("not wasm"), Count: 1},
		{Module: mod, Count: MaxJobUnits + 1},
		{Module: mod, Count: 1 << 40},
	} {
		if _, err := svc.Submit(ctx, bad); !errors.Is(err, ErrInvalidJob) {
			t.Errorf("Submit(%d units, %d inputs, r%d q%d, mem %d, timeout %v): %v", bad.Count, len(bad.Inputs), bad.Replication, bad.Quorum, bad.MemoryBytes, bad.Timeout, err)
		}
	}
	if _, err := svc.Status(ctx, "nope"); err == nil {
		t.Error("status of an unknown job")
	}
}

// A node's unfinished jobs hold at most maxActive units together; a job
// beyond it is refused before anything is stored, and cancelling a job
// frees its units.
func TestActiveUnitsBounded(t *testing.T) {
	t.Parallel()
	mod := testModule(t)
	c := newCluster(t, 1)
	svc := c.start(0, false, nil, func(s *Service) { s.maxActive = 10 })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	first, err := svc.Submit(ctx, JobSpec{Module: mod, Count: 6, Args: []string{"work", "1"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Submit(ctx, JobSpec{Module: mod, Inputs: make([][]byte, 5), Args: []string{"echo"}}); !errors.Is(err, ErrInvalidJob) {
		t.Fatalf("job over the active bound: %v", err)
	}
	if _, err := svc.Submit(ctx, JobSpec{Module: mod, Count: 4, Args: []string{"work", "1"}}); err != nil {
		t.Fatalf("job within the bound: %v", err)
	}
	if js, _ := svc.Jobs(ctx); len(js) != 2 {
		t.Fatalf("%d jobs stored, want 2", len(js))
	}
	if err := svc.Cancel(ctx, first); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Submit(ctx, JobSpec{Module: mod, Count: 6, Args: []string{"work", "1"}}); err != nil {
		t.Fatalf("after a cancel: %v", err)
	}
}

// The module and the inputs travel as content: each worker fetches the
// module once (then runs it from its cache) and each input it runs; an
// output larger than InlineResult comes back as content the submitter
// fetches. Once the job is done nothing stays published.
func TestContentTravel(t *testing.T) {
	t.Parallel()
	mod := testModule(t)
	c := newCluster(t, 3)
	sub := c.start(0, false, nil, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	big := bytes.Repeat([]byte("0123456789abcdef"), (InlineResult+1000)/16)
	inputs := [][]byte{big, []byte("hi"), {}, append([]byte("x"), big...)}
	id, err := sub.Submit(ctx, JobSpec{Module: mod, Inputs: inputs, Args: []string{"echo"}})
	if err != nil {
		t.Fatal(err)
	}
	// Until the job ends, its module and non-empty inputs are published.
	want := []string{moduleKey(id), inputKey(id, 0), inputKey(id, 1), inputKey(id, 3)}
	slices.Sort(want)
	if keys, err := c.nodes[0].content.Keys(ctx); err != nil || !slices.Equal(keys, want) {
		t.Errorf("published %v, want %v (%v)", keys, want, err)
	}
	c.start(1, true, nil, nil)
	c.start(2, true, nil, nil)
	st := waitFor(t, sub, id, 80*time.Second)
	if st.State != StateDone || st.Results != 2*len(inputs) {
		t.Fatalf("status %+v", st)
	}
	res, err := sub.Results(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	for i, in := range inputs {
		if local := localRun(t, mod, []string{"echo"}, i, in); !bytes.Equal(res[i], local) {
			t.Errorf("unit %d: %.40q, local run %.40q", i, res[i], local)
		}
	}
	cidOf := func(b []byte) string { return content.HashBytes(b, 0).ID().String() }
	for _, w := range c.nodes[1:] {
		if n := w.content.Fetched(cidOf(mod)); n != 1 {
			t.Errorf("worker fetched the module %d times, want once", n)
		}
		if n := w.content.Fetched(cidOf(big)); n != 1 {
			t.Errorf("worker fetched the big input %d times, want once", n)
		}
	}
	for _, i := range []int{0, 3} {
		if n := c.nodes[0].content.Fetched(cidOf(res[i])); n < 1 {
			t.Errorf("the submitter did not fetch the %d-byte output of unit %d as content", len(res[i]), i)
		}
	}
	if n := c.nodes[0].content.Fetched(cidOf(res[1])); n != 0 {
		t.Errorf("a small output was fetched as content %d times", n)
	}
	// The finished job's content and the workers' outputs are unpublished.
	deadline := time.Now().Add(20 * time.Second)
	for _, nd := range c.nodes {
		for {
			keys, err := nd.content.Keys(ctx)
			if err == nil && len(keys) == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("still published after the job: %v (%v)", keys, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// Content left published by a previous run (a job that is not active, an
// output of an attempt that is over) is removed when the service starts;
// an active job's content is kept.
func TestSweepLeftovers(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cn := c.nodes[0].content
	for _, k := range []string{moduleKey(newID()), inputKey(newID(), 3), resultKey(newID()), "stray"} {
		if _, err := cn.Publish(ctx, k, []byte(k)); err != nil {
			t.Fatal(err)
		}
	}
	c.start(0, false, nil, nil)
	for {
		keys, err := cn.Keys(ctx)
		if err == nil && len(keys) == 0 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("leftovers still published: %v (%v)", keys, err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// An active job whose content is no longer published (deleted behind the
// node's back) fails with the reason instead of waiting forever.
func TestMissingContentFailsJob(t *testing.T) {
	t.Parallel()
	mod := testModule(t)
	c := newCluster(t, 1)
	svc := c.start(0, false, nil, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	id, err := svc.Submit(ctx, JobSpec{Module: mod, Inputs: [][]byte{[]byte("a"), []byte("b")}, Args: []string{"echo"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if st, _ := svc.Status(ctx, id); st.State != StateQueued {
		t.Fatalf("job with its content in place: %+v", st)
	}
	if err := c.nodes[0].content.Unpublish(ctx, inputKey(id, 1)); err != nil {
		t.Fatal(err)
	}
	if err := svc.sweep(ctx); err != nil {
		t.Fatal(err)
	}
	st, _ := svc.Status(ctx, id)
	if st.State != StateFailed || len(st.Reasons) == 0 || !strings.Contains(st.Reasons[0], inputKey(id, 1)) {
		t.Fatalf("job with an input gone: %+v", st)
	}
	// Its remaining content is unpublished with it.
	if keys, _ := c.nodes[0].content.Keys(ctx); len(keys) != 0 {
		t.Errorf("still published: %v", keys)
	}
}
