//go:build linux

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/peerpath/peerpath/api"
	"github.com/peerpath/peerpath/internal/content"
)

// testJobModule is the compute package's test module (see its doc for the
// behaviours: echo, work, spin, hog, fail).
const testJobModule = "../../internal/compute/testdata/job"

// echoOutput is what the test module writes for "echo" with stdin in:
// "echo:" then in reversed.
func echoOutput(in []byte) []byte {
	out := []byte("echo:")
	for i := len(in) - 1; i >= 0; i-- {
		out = append(out, in[i])
	}
	return out
}

// workOutput is what the test module writes for "work n unit" (count mode),
// computed natively.
func workOutput(n, unit uint64) []byte {
	x := unit*0x9E3779B97F4A7C15 + 1
	for range n {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
	}
	return fmt.Appendf(nil, "unit=%d sum=%x env=%d", unit, x, unit)
}

func apiCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func submitJob(t *testing.T, d *daemon, req api.JobRequest) string {
	t.Helper()
	out, err := d.Client.SubmitJob(apiCtx(t), req)
	if err != nil || out.ID == "" {
		t.Fatalf("submitting a job: %q, %v", out.ID, err)
	}
	return out.ID
}

func jobStatus(t *testing.T, d *daemon, id string) (api.Job, error) {
	return d.Client.Job(apiCtx(t), id)
}

// waitJob polls job id on d until it is finished and returns its status.
func waitJob(t *testing.T, d *daemon, id string, timeout time.Duration) api.Job {
	t.Helper()
	var st api.Job
	eventually(t, timeout, func() error {
		var err error
		if st, err = jobStatus(t, d, id); err != nil {
			return err
		}
		switch st.State {
		case "done", "failed", "cancelled":
			return nil
		}
		return errState(st)
	})
	return st
}

func jobResults(t *testing.T, d *daemon, id string) map[int][]byte {
	t.Helper()
	res, err := d.Client.JobResults(apiCtx(t), id)
	if err != nil {
		t.Fatal(err)
	}
	return res.Outputs
}

func workerStatus(t *testing.T, d *daemon) api.Worker {
	t.Helper()
	w, err := d.Client.Worker(apiCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func shareCIDs(t *testing.T, d *daemon) map[string]api.Share {
	t.Helper()
	shares, err := d.Client.SharesAll(apiCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]api.Share{}
	for _, s := range shares {
		m[s.CID] = s
	}
	return m
}

// waitPeers waits until d is connected to every one of others.
func waitPeers(t *testing.T, d *daemon, others ...*daemon) {
	t.Helper()
	eventually(t, 30*time.Second, func() error {
		ids := peerIDs(t, d)
		for _, o := range others {
			if !ids[o.ID().ID] {
				return fmt.Errorf("%s not connected to %s yet", d.ID().ID, o.ID().ID)
			}
		}
		return nil
	})
}

func cidOf(b []byte) string { return content.HashBytes(b, 0).ID().String() }

// A module that loops forever or allocates without bound fails its units
// with clear reasons and leaves the worker daemons healthy: they then run
// a job whose inputs are larger than an inline message allows, which
// travel (with the module and the large outputs) as content, by id.
func TestJobContentAndRunaway(t *testing.T) {
	wasm := buildWasm(t, testJobModule)
	module, err := os.ReadFile(wasm)
	if err != nil {
		t.Fatal(err)
	}
	a := startDaemon(t)
	boot := a.Addr()
	b := startDaemon(t, "--bootstrap", boot, "--worker")
	c := startDaemon(t, "--bootstrap", boot, "--worker")
	waitPeers(t, a, b, c)

	var spin, hog struct{ ID string }
	cliJSON(t, &spin, "job", "submit", wasm, "--count", "2", "--args", "spin", "--timeout", "1s", "--home", a.Home)
	cliJSON(t, &hog, "job", "submit", wasm, "--count", "2", "--args", "hog", "--memory", "32MiB", "--timeout", "30s", "--home", a.Home)
	for id, want := range map[string]string{spin.ID: "time limit exceeded", hog.ID: "memory limit exceeded"} {
		st := waitJob(t, a, id, 60*time.Second)
		if st.State != "failed" || len(st.Reasons) == 0 || !strings.Contains(st.Reasons[0], want) {
			t.Fatalf("runaway job %s: state %s, reasons %q; want failed with %q", id, st.State, st.Reasons, want)
		}
		t.Logf("runaway job failed: %s", st.Reasons[0])
	}
	// The workers stop what still runs of the failed jobs and are idle.
	eventually(t, 30*time.Second, func() error {
		failed := int64(0)
		for _, d := range []*daemon{b, c} {
			w := workerStatus(t, d)
			if !w.Enabled || w.Running != 0 {
				return fmt.Errorf("worker after runaway units: %+v", w)
			}
			failed += w.Failed
		}
		if failed < 4 {
			return fmt.Errorf("the workers counted %d failed units, want at least 4", failed)
		}
		return nil
	})

	// Inputs of 100 KiB and more: above InlineResult (64 KiB), so their
	// echoes come back as content too.
	rnd := rand.New(rand.NewPCG(5, 5))
	inputs := [][]byte{make([]byte, 300<<10), make([]byte, 100<<10), []byte("a small input")}
	for _, in := range inputs[:2] {
		for i := range in {
			in[i] = byte(rnd.UintN(256))
		}
	}
	args := []string{"job", "submit", wasm, "--args", "echo", "--timeout", "30s", "--home", a.Home}
	dir := t.TempDir()
	for i, in := range inputs {
		p := filepath.Join(dir, fmt.Sprintf("in%d", i))
		os.WriteFile(p, in, 0o600)
		args = append(args, "--input", p)
	}
	var job struct{ ID string }
	cliJSON(t, &job, args...)
	if st := waitJob(t, a, job.ID, 60*time.Second); st.State != "done" || len(st.Workers) != 2 {
		t.Fatalf("job after the runaways: %+v", st)
	}
	out := t.TempDir()
	if _, errOut, code := cli(t, "job", "results", job.ID, "-o", out, "--home", a.Home); code != 0 {
		t.Fatal(errOut)
	}
	for i, in := range inputs {
		got, err := os.ReadFile(filepath.Join(out, fmt.Sprintf("%d.out", i)))
		if err != nil || !bytes.Equal(got, echoOutput(in)) {
			t.Fatalf("unit %d: %d bytes (%v), want the %d-byte echo of its input", i, len(got), err, len(in)+5)
		}
	}

	// By id: each worker holds (and seeds) the module and every input under
	// its content id, fetched from the submitter; the submitter holds the
	// large outputs, fetched from the workers; and once the job is done the
	// submitter no longer publishes its module and inputs.
	for _, d := range []*daemon{b, c} {
		held := shareCIDs(t, d)
		for i, want := range append([][]byte{module}, inputs...) {
			if s, ok := held[cidOf(want)]; !ok || !s.Downloaded {
				t.Errorf("worker %s does not hold content %d (%d bytes) by its id", d.ID().ID, i, len(want))
			}
		}
	}
	eventually(t, 20*time.Second, func() error {
		held := shareCIDs(t, a)
		for i, in := range inputs[:2] {
			if s, ok := held[cidOf(echoOutput(in))]; !ok || !s.Downloaded {
				return fmt.Errorf("the submitter does not hold output %d by its id", i)
			}
		}
		for _, s := range held {
			if strings.HasPrefix(s.Path, filepath.Join(a.Home, "compute", "blobs")) {
				return fmt.Errorf("still published after the job: %s", s.Path)
			}
		}
		return nil
	})
}

// startDaemonEnv starts a daemon like startDaemon, with extra environment
// variables.
func startDaemonEnv(t *testing.T, env []string, extra ...string) *daemon {
	t.Helper()
	home := t.TempDir()
	args := append([]string{"daemon", "--home", home, "--listen", "/ip4/127.0.0.1/tcp/0", "--api", "127.0.0.1:0", "--no-mdns", "--log-level", "debug"}, extra...)
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	return startProcess(t, home, cmd)
}

// A worker daemon that returns wrong results (made to by the test-only
// PEERPATH_TEST_CHEAT hook) is outvoted and excluded: the job ends with
// the right results, and the next job runs on the honest workers only.
func TestCheatingWorkerCaught(t *testing.T) {
	wasm := buildWasm(t, testJobModule)
	a := startDaemon(t)
	boot := a.Addr()
	b := startDaemon(t, "--bootstrap", boot, "--worker")
	c := startDaemon(t, "--bootstrap", boot, "--worker")
	cheat := startDaemonEnv(t, []string{"PEERPATH_TEST_CHEAT=1"}, "--bootstrap", boot, "--worker")
	cheater := cheat.ID().ID
	waitPeers(t, a, b, c, cheat)

	const units, n = 12, 100_000_000 // about 0.2 s a unit
	module, _ := os.ReadFile(wasm)
	spec := api.JobRequest{Module: module, Count: units, Args: []string{"work", strconv.Itoa(n)}, Timeout: "30s"}
	first := submitJob(t, a, spec)
	st := waitJob(t, a, first, 90*time.Second)
	if st.State != "done" {
		t.Fatalf("job with a cheater: %+v", st)
	}
	w := workerStatus(t, cheat)
	if w.Completed == 0 {
		t.Fatal("the cheater never ran a unit; the test proves nothing")
	}
	t.Logf("first job: %s, %d executions for %d units; the cheater ran %d", st.Finished.Sub(st.Created).Round(time.Millisecond), st.Results, units, w.Completed)
	check := func(id string, units int) {
		t.Helper()
		res := jobResults(t, a, id)
		for i := range units {
			if want := workOutput(n, uint64(i)); !bytes.Equal(res[i], want) {
				t.Errorf("job %s unit %d: accepted %q, right %q", id, i, res[i], want)
			}
		}
	}
	check(first, units)
	if !strings.Contains(a.Out.String(), "compute: wrong result") || !strings.Contains(a.Out.String(), cheater) {
		t.Errorf("the submitter logged no wrong result from the cheater")
	}

	spec.Count = 4
	second := submitJob(t, a, spec)
	st = waitJob(t, a, second, 90*time.Second)
	if st.State != "done" || slices.Contains(st.Workers, cheater) || len(st.Workers) != 2 {
		t.Fatalf("job after the cheater was caught: %+v (cheater %s)", st, cheater)
	}
	t.Logf("second job: %s, on %v", st.Finished.Sub(st.Created).Round(time.Millisecond), st.Workers)
	check(second, spec.Count)
}

// A worker daemon killed with kill -9 while it runs a unit is routed
// around, and a submitter daemon killed with kill -9 mid-job and started
// again on the same home carries on to done.
func TestWorkerAndSubmitterKilled(t *testing.T) {
	wasm := buildWasm(t, testJobModule)
	a := startDaemon(t)
	boot := a.Addr()
	b := startDaemon(t, "--bootstrap", boot, "--worker")
	c := startDaemon(t, "--bootstrap", boot, "--worker")
	d := startDaemon(t, "--bootstrap", boot, "--worker")
	waitPeers(t, a, b, c, d)

	const units, n = 16, 100_000_000 // about 0.2 s a unit
	module, _ := os.ReadFile(wasm)
	id := submitJob(t, a, api.JobRequest{Module: module, Count: units, Args: []string{"work", strconv.Itoa(n)},
		Timeout: "30s", Replication: 1, Quorum: 1})

	eventually(t, 60*time.Second, func() error {
		if w := workerStatus(t, b); w.Running == 0 {
			return fmt.Errorf("worker b runs nothing yet")
		}
		return nil
	})
	victim := b.ID().ID
	b.Kill()
	killedAt := time.Now()
	// The submitter sees b's connection drop while it holds the unit and
	// hands the unit to another worker.
	eventually(t, 30*time.Second, func() error {
		for _, l := range lines(a.Out.String()) {
			if strings.Contains(l, "compute: assignment abandoned") && strings.Contains(l, victim) {
				return nil
			}
		}
		return fmt.Errorf("no unit of the killed worker abandoned yet")
	})

	var before api.Job
	eventually(t, 60*time.Second, func() error {
		st, err := jobStatus(t, a, id)
		if err != nil {
			return err
		}
		if st.State == "done" {
			t.Fatal("the job finished before the submitter was killed; make units longer")
		}
		if st.Validated < 2 {
			return errState(st)
		}
		before = st
		return nil
	})
	addr := a.Addr() // .../tcp/PORT/p2p/ID: the workers know it
	a.Kill()
	listen := addr[:strings.Index(addr, "/p2p/")]
	a = startProcess(t, a.Home, exec.Command(bin, "daemon", "--home", a.Home, "--listen", listen, "--api", "127.0.0.1:0",
		"--no-mdns", "--log-level", "debug", "--bootstrap", c.Addr()))
	after, err := jobStatus(t, a, id)
	if err != nil || after.Validated < before.Validated {
		t.Fatalf("after the restart: %+v (%v); before: %+v", after, err, before)
	}
	st := waitJob(t, a, id, 90*time.Second)
	if st.State != "done" || st.Validated != units {
		t.Fatalf("job after the kills: %+v", st)
	}
	res := jobResults(t, a, id)
	for i := range units {
		if want := workOutput(n, uint64(i)); !bytes.Equal(res[i], want) {
			t.Errorf("unit %d: %q, right %q", i, res[i], want)
		}
	}
	t.Logf("done %s after worker b was killed; %d of %d units were validated before the submitter's restart",
		time.Since(killedAt).Round(time.Millisecond), before.Validated, units)
}
