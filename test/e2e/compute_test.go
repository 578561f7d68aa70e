//go:build linux

package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/peerpath/peerpath/api"
	"github.com/peerpath/peerpath/examples/primes/kernel"
)

// buildWasm builds an example as a WASI module.
func buildWasm(t *testing.T, pkg string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), filepath.Base(pkg)+".wasm")
	cmd := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building %s: %v\n%s", pkg, err, b)
	}
	return out
}

// A job submitted on one daemon runs on two other daemons' workers; its
// results equal the kernel run natively; the workers are paid through the
// ledger.
func TestJobRunsOnWorkersAndPays(t *testing.T) {
	wasm := buildWasm(t, "../../examples/primes")
	a := startDaemon(t, "--ledger-voter")
	boot := a.Addr()
	b := startDaemon(t, "--bootstrap", boot, "--worker", "--ledger-voters", a.ID().ID)
	c := startDaemon(t, "--bootstrap", boot, "--worker", "--ledger-voters", a.ID().ID)

	gen := filepath.Join(t.TempDir(), "genesis.json")
	g, _ := json.Marshal(map[string]any{a.ID().ID: 1000})
	os.WriteFile(gen, g, 0o600)
	if _, errOut, code := cli(t, "ledger", "create", "--voters", a.ID().ID, "--genesis", gen, "--home", a.Home); code != 0 {
		t.Fatalf("ledger create: %s", errOut)
	}

	const units = 4
	var sub struct{ ID string }
	cliJSON(t, &sub, "job", "submit", wasm, "--count", fmt.Sprint(units), "--args", "--span", "--args", "20000",
		"--reward", "1.5", "--timeout", "30s", "--home", a.Home)
	if sub.ID == "" {
		t.Fatal("no job id")
	}
	var st api.Job
	eventually(t, 90*time.Second, func() error {
		cliJSON(t, &st, "job", "status", sub.ID, "--home", a.Home)
		if st.State == "failed" {
			t.Fatalf("job failed: %+v", st)
		}
		if st.State != "done" {
			return fmt.Errorf("state %s: %+v", st.State, st)
		}
		return nil
	})
	if st.Validated != units || len(st.Workers) < 2 {
		t.Fatalf("status %+v", st)
	}
	for _, w := range st.Workers {
		if w == a.ID().ID {
			t.Fatalf("the submitter (no worker) ran units: %v", st.Workers)
		}
	}
	dir := t.TempDir()
	if _, errOut, code := cli(t, "job", "results", sub.ID, "-o", dir, "--home", a.Home); code != 0 {
		t.Fatal(errOut)
	}
	for i := range units {
		got, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("%d.out", i)))
		if err != nil {
			t.Fatal(err)
		}
		want, err := kernel.Run([]string{"--span", "20000", fmt.Sprint(i)}, func(string) string { return "" })
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Fatalf("unit %d: got %q, native run gives %q", i, got, want)
		}
	}
	// Workers are paid through the ledger: each validated unit pays 1.5 to
	// every worker whose output matched.
	eventually(t, 30*time.Second, func() error {
		total := 0.0
		for _, d := range []*daemon{b, c} {
			var bal api.Balance
			cliJSON(t, &bal, "wallet", "--home", d.Home)
			f, _ := bal.Balance.Float64()
			total += f
		}
		if want := 1.5 * units * 2; total != want {
			return fmt.Errorf("workers hold %v credits, want %v", total, want)
		}
		return nil
	})
	// Each side meters the units: the submitter those each worker ran for
	// it (accepted), each worker those it ran for the submitter.
	var ma api.Meter
	cliJSON(t, &ma, "meter", "--home", a.Home)
	used := int64(0)
	for _, d := range []*daemon{b, c} {
		var mw api.Meter
		cliJSON(t, &mw, "meter", "--home", d.Home)
		run := usageOf(mw, a.ID().ID).UnitsRun
		u := usageOf(ma, d.ID().ID).UnitsUsed
		if run < u || u == 0 {
			t.Fatalf("worker %s metered %d units run, submitter %d used", d.Home, run, u)
		}
		used += u
	}
	if used != units*2 {
		t.Fatalf("submitter metered %d units used, want %d", used, units*2)
	}
	var jobs []api.Job
	cliJSON(t, &jobs, "jobs", "--home", a.Home)
	if len(jobs) != 1 || jobs[0].ID != sub.ID {
		t.Fatalf("jobs: %+v", jobs)
	}
	out, _, code := cli(t, "worker", "off", "--home", b.Home)
	if code != 0 || !strings.Contains(out, "worker off") {
		t.Fatalf("worker off: %q", out)
	}
}
