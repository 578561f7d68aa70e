//go:build linux

package hostile

// Attacks by a hostile local user or program: a client of the local API, a
// job that hogs memory, a home that lost its key, and a second daemon on the
// same host competing for the web app's session.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/peerpath/peerpath/api"
	"github.com/peerpath/peerpath/internal/compute/sandbox/sandboxtest"
	"github.com/peerpath/peerpath/test/harness"
)

// testJobModule is the compute package's test module (behaviours echo,
// work, spin, hog, fail).
const testJobModule = "../../internal/compute/testdata/job"

// statusKiB reads a "VmXxx:   N kB" line of /proc/PID/status.
func statusKiB(pid int, field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}

// children lists the pids whose parent is pid.
func children(pid int) []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		cpid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", cpid))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...; comm may hold spaces, so cut at the last ')'.
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			out = append(out, cpid)
		}
	}
	return out
}

// Class 9: `job submit --count 1000000000` is refused at once with 400, and
// the daemon neither dies nor grows.
func TestHostileJobCount(t *testing.T) {
	d := harness.Start(t)
	dir := t.TempDir()
	mod := filepath.Join(dir, "job.wasm")
	if err := os.WriteFile(mod, sandboxtest.BuildWasm(t, testJobModule), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, count := range []string{"1000000000", "3000000"} {
		start := time.Now()
		_, errOut, code := harness.CLI(t, "job", "submit", mod, "--count", count, "--args", "work", "--home", d.Home)
		took := time.Since(start)
		if code == 0 || !strings.Contains(errOut, "units per job") {
			t.Fatalf("job submit --count %s: exit %d, %q; want a refusal naming the bound", count, code, errOut)
		}
		if took > 10*time.Second {
			t.Errorf("job submit --count %s took %v to be refused", count, took)
		}
		t.Logf("--count %s: %s (%v)", count, strings.TrimSpace(errOut), took.Round(time.Millisecond))
	}
	// The same bound holds for the raw API, whatever client sends it.
	_, err := d.Client.SubmitJob(context.Background(),
		api.JobRequest{Module: sandboxtest.BuildWasm(t, testJobModule), Count: 1 << 40, Args: []string{"work"}})
	var he *api.Error
	if !errors.As(err, &he) || he.Status != http.StatusBadRequest {
		t.Fatalf("POST /jobs count 2^40: %v, want 400", err)
	}
	// At the bound a job is accepted promptly, and the node's unfinished
	// jobs together stop at twice that.
	wasm := sandboxtest.BuildWasm(t, testJobModule)
	for i := range 3 {
		start := time.Now()
		_, err := d.Client.SubmitJob(context.Background(),
			api.JobRequest{Module: wasm, Count: 100_000, Args: []string{"work"}})
		t.Logf("job %d of 100,000 units: %v in %v", i, err, time.Since(start).Round(time.Millisecond))
		if i < 2 && err != nil {
			t.Fatalf("job %d of 100,000 units: %v", i, err)
		}
		if i == 2 && (!errors.As(err, &he) || he.Status != http.StatusBadRequest) {
			t.Fatalf("a third job of 100,000 units: %v, want 400", err)
		}
		if took := time.Since(start); took > 60*time.Second {
			t.Errorf("job %d of 100,000 units took %v", i, took)
		}
	}
	// The daemon is up and answers.
	d.ID()
	hwm, err := statusKiB(d.Cmd.Process.Pid, "VmHWM")
	if err != nil {
		t.Fatal(err)
	}
	if hwm > 400<<10 {
		t.Errorf("daemon peak RSS %d MiB after the refused jobs", hwm>>10)
	}
	jobs, err := d.Client.Jobs(context.Background())
	if err != nil || len(jobs) != 2 {
		t.Fatalf("jobs after refusals: %v, %v; want the two at the bound", len(jobs), err)
	}
}

// fdCount counts pid's open file descriptors.
func fdCount(t *testing.T, pid int) int {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// Class 10: thousands of idle or unauthenticated keep-alive connections to
// the local API neither exhaust the daemon's descriptors nor keep an honest
// client out; a request with a wrong token has its connection closed.
func TestHostileAPIConnections(t *testing.T) {
	d := harness.Start(t)
	u, err := url.Parse(d.Client.Base())
	if err != nil {
		t.Fatal(err)
	}
	pid := d.Cmd.Process.Pid
	before := fdCount(t, pid)

	// A refused token closes its connection: a keep-alive client cannot
	// park a connection by asking without the token.
	c, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET /api/v1/id HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer wrong\r\n\r\n", u.Host)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong token: status %d", resp.StatusCode)
	}
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("after a refused token the connection stays open (read: %v)", err)
	}

	// The idle horde. 20,000 would need more descriptors than the test
	// process may hold; 5,000 is twenty times the cap, which proves it.
	const horde = 5000
	conns := make([]net.Conn, 0, horde)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := range horde {
		c, err := net.Dial("tcp", u.Host)
		if err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
		if i%2 == 1 {
			// Half of them start a request and never finish its header.
			fmt.Fprintf(c, "GET /api/v1/id HTTP/1.1\r\nHost: %s\r\n", u.Host)
		}
		conns = append(conns, c)
	}
	// An honest client is still served, promptly.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tok, err := os.ReadFile(filepath.Join(d.Home, "api-token"))
	if err != nil {
		t.Fatal(err)
	}
	honest := api.NewClient(d.Client.Base(), strings.TrimSpace(string(tok)))
	defer honest.CloseIdle()
	start := time.Now()
	if _, err := honest.ID(ctx); err != nil {
		t.Fatalf("honest client during the attack: %v", err)
	}
	t.Logf("honest request answered in %v", time.Since(start).Round(time.Millisecond))
	after := fdCount(t, pid)
	t.Logf("daemon descriptors: %d before, %d with %d idle connections", before, after, horde)
	if after-before > 600 {
		t.Fatalf("daemon holds %d more descriptors with %d idle connections: no connection cap", after-before, horde)
	}
}

// Class 11: a unit given 64 MiB that keeps allocating (and writing every
// page it gets) cannot push its child process's resident memory past the
// bound, and the child is bounded as a whole by rlimits.
func TestHostileSandboxMemory(t *testing.T) {
	d := harness.Start(t, "--worker")
	req := api.JobRequest{Module: sandboxtest.BuildWasm(t, testJobModule), Count: 1, Args: []string{"fill"},
		MemoryBytes: 64 << 20, Timeout: "30s", Replication: 1, Quorum: 1, MaxTries: 1}
	out, err := d.Client.SubmitJob(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	pid := d.Cmd.Process.Pid
	var peak int64 // KiB, the largest VmHWM of any child seen
	harness.Eventually(t, 60*time.Second, func() error {
		for _, c := range children(pid) {
			if hwm, err := statusKiB(c, "VmHWM"); err == nil && hwm > peak {
				peak = hwm
			}
		}
		j, err := d.Client.Job(context.Background(), out.ID)
		if err != nil {
			return err
		}
		if j.State != "failed" {
			return fmt.Errorf("job %s", j.State)
		}
		if !strings.Contains(strings.Join(j.Reasons, ";"), "memory") {
			return fmt.Errorf("job failed for %v, want the memory limit", j.Reasons)
		}
		return nil
	})
	// The child that ran the unit stays idle for a while: its high-water
	// mark is final now.
	for _, c := range children(pid) {
		if hwm, err := statusKiB(c, "VmHWM"); err == nil && hwm > peak {
			peak = hwm
		}
	}
	if peak == 0 {
		t.Fatal("no sandbox child seen")
	}
	for _, c := range children(pid) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", c))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "Max data size") && strings.Fields(line)[3] == "unlimited" {
				t.Errorf("sandbox child %d has no data limit: %s", c, line)
			}
		}
	}
	// The bound: the unit's 64 MiB plus the child's own runtime (about
	// 50 MiB here).
	const bound = (64 + 80) << 10
	t.Logf("child peak RSS %d MiB (bound %d MiB)", peak>>10, bound>>10)
	if peak > bound {
		t.Fatalf("sandbox child reached %d MiB resident for a 64 MiB unit (bound %d MiB)", peak>>10, bound>>10)
	}
}

// startRefused runs a daemon on home expecting it to refuse to start; it
// returns its output. A daemon that starts is a failure.
func startRefused(t *testing.T, home string, extra ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	os.Remove(filepath.Join(home, "api"))
	cmd := exec.CommandContext(ctx, harness.Bin, harness.DaemonArgs(home, extra...)...)
	var outBuf harness.SyncBuffer
	cmd.Stdout, cmd.Stderr = &outBuf, &outBuf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	for {
		select {
		case err := <-done:
			if err == nil {
				t.Fatalf("daemon exited 0, want a refusal\n%s", outBuf.String())
			}
			return outBuf.String()
		case <-time.After(50 * time.Millisecond):
		}
		if b, err := os.ReadFile(filepath.Join(home, "api")); err == nil && len(bytes.TrimSpace(b)) > 0 {
			cmd.Process.Kill()
			<-done
			t.Fatalf("daemon started\n%s", outBuf.String())
		}
	}
}

// Class 12: a home that lost identity.key is not silently given a new
// identity (and a voter's empty raft.db is not "no ledger").
func TestHostileMissingIdentity(t *testing.T) {
	home := t.TempDir()
	d := harness.StartHome(t, home, "--ledger-voter")
	oldID := d.ID().ID
	d.Stop()
	key := filepath.Join(home, "identity.key")
	saved, err := os.ReadFile(key)
	if err != nil {
		t.Fatal(err)
	}

	// A truncated raft.db fails loudly.
	raftDB := filepath.Join(home, "ledger", "raft.db")
	rdb, err := os.ReadFile(raftDB)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(raftDB, 0); err != nil {
		t.Fatal(err)
	}
	out := startRefused(t, home, "--ledger-voter")
	if !strings.Contains(out, "raft.db") || !strings.Contains(out, "empty") {
		t.Fatalf("an empty raft.db: the refusal does not say so:\n%s", out)
	}
	if err := os.WriteFile(raftDB, rdb, 0o600); err != nil {
		t.Fatal(err)
	}

	if err := os.Remove(key); err != nil {
		t.Fatal(err)
	}
	out = startRefused(t, home, "--ledger-voter")
	for _, want := range []string{key, "--new-identity"} {
		if !strings.Contains(out, want) {
			t.Fatalf("refusal does not name %q:\n%s", want, out)
		}
	}
	if _, err := os.Stat(key); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the refused start created %s (%v)", key, err)
	}
	// `peerpath init` refuses the same way.
	_, errOut, code := harness.CLI(t, "init", "--home", home)
	if code == 0 || !strings.Contains(errOut, "--new-identity") {
		t.Fatalf("init on a home without its key: exit %d, %q", code, errOut)
	}

	// Restored, the node is itself again.
	if err := os.WriteFile(key, saved, 0o600); err != nil {
		t.Fatal(err)
	}
	d = harness.StartHome(t, home, "--ledger-voter")
	if got := d.ID().ID; got != oldID {
		t.Fatalf("restored key: id %s, want %s", got, oldID)
	}
	d.Stop()

	// Afresh on purpose.
	os.Remove(key)
	d = harness.StartHome(t, home, "--ledger-voter", "--new-identity")
	if got := d.ID().ID; got == oldID || got == "" {
		t.Fatalf("--new-identity: id %q", got)
	}
}

// loginCookie logs in to d's web app and returns the session cookie it
// sets.
func loginCookie(t *testing.T, d *harness.Daemon) *http.Cookie {
	t.Helper()
	out, err := d.Client.UILogin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	cl := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := cl.Get(out.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cs := resp.Cookies()
	if resp.StatusCode != http.StatusSeeOther || len(cs) != 1 {
		t.Fatalf("login: %s, cookies %v", resp.Status, cs)
	}
	return cs[0]
}

// Class 13: two daemons on one host keep their own sessions, and a session
// cookie lives hours, not a month.
func TestHostileSessionCookie(t *testing.T) {
	a, b := harness.Start(t), harness.Start(t)
	ca, cb := loginCookie(t, a), loginCookie(t, b)
	t.Logf("cookies: %s (max-age %d), %s (max-age %d)", ca.Name, ca.MaxAge, cb.Name, cb.MaxAge)
	if ca.Name == cb.Name {
		t.Errorf("both daemons name their session cookie %q: logging in to one logs out of the other", ca.Name)
	}
	for _, c := range []*http.Cookie{ca, cb} {
		if c.MaxAge <= 0 || c.MaxAge > 12*3600 {
			t.Errorf("cookie %s: Max-Age %d s, want at most 12 h", c.Name, c.MaxAge)
		}
		if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode {
			t.Errorf("cookie %s: HttpOnly %v, SameSite %v", c.Name, c.HttpOnly, c.SameSite)
		}
	}
	// The browser sends both cookies to both ports (cookies ignore the
	// port): each daemon accepts only its own session.
	for _, tc := range []struct {
		d    *harness.Daemon
		own  *http.Cookie
		name string
	}{{a, ca, "a"}, {b, cb, "b"}} {
		get := func(cookies ...*http.Cookie) int {
			r, _ := http.NewRequest(http.MethodGet, tc.d.Client.Base()+api.Prefix+"/id", nil)
			for _, c := range cookies {
				r.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
			}
			resp, err := http.DefaultClient.Do(r)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return resp.StatusCode
		}
		if st := get(ca, cb); st != http.StatusOK {
			t.Errorf("daemon %s with both cookies: %d", tc.name, st)
		}
		other := cb
		if tc.own == cb {
			other = ca
		}
		if st := get(other); st != http.StatusUnauthorized {
			t.Errorf("daemon %s accepts the other daemon's cookie: %d", tc.name, st)
		}
		// A state change with the cookie still needs the CSRF header.
		r, _ := http.NewRequest(http.MethodPost, tc.d.Client.Base()+api.Prefix+"/ui/login", nil)
		r.AddCookie(&http.Cookie{Name: tc.own.Name, Value: tc.own.Value})
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("daemon %s: cookie POST without the CSRF header: %d", tc.name, resp.StatusCode)
		}
	}
}
