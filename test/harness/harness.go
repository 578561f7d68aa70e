//go:build linux

// Package harness runs the built peerpath binary as real daemon processes on
// loopback for the end-to-end (test/e2e) and attack (test/hostile) tests.
// Only tests import it.
package harness

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/peerpath/peerpath/api"
)

// Bin is the peerpath binary that Main built for the whole run.
var Bin string

// Main builds the binary once (or reuses PEERPATH_E2E_BIN, set for a test
// re-run inside a network namespace), runs the tests and removes it.
func Main(m interface{ Run() int }) {
	if b := os.Getenv("PEERPATH_E2E_BIN"); b != "" {
		Bin = b
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "peerpath-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	Bin = filepath.Join(dir, "peerpath")
	build := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-o", Bin, "github.com/peerpath/peerpath/cmd/peerpath")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building peerpath:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// Daemon is one running peerpath daemon process.
type Daemon struct {
	T      *testing.T
	Home   string
	Cmd    *exec.Cmd
	Out    *SyncBuffer
	Client *api.Client
	// Done is closed when the process has exited; Err is then its exit error.
	Done chan struct{}
	Err  error
}

// SyncBuffer is a bytes.Buffer safe for a process's output and a test's
// reads at once.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Start starts a daemon with a new home on loopback. Extra flags are
// appended after the defaults (loopback TCP, free API port, no mDNS unless
// the caller passes --no-mdns=false).
func Start(t *testing.T, extra ...string) *Daemon {
	t.Helper()
	return StartHome(t, t.TempDir(), extra...)
}

// StartHome is Start with a given home.
func StartHome(t *testing.T, home string, extra ...string) *Daemon {
	t.Helper()
	return StartProcess(t, home, exec.Command(Bin, DaemonArgs(home, extra...)...))
}

// DaemonArgs returns the daemon command line Start uses.
func DaemonArgs(home string, extra ...string) []string {
	return append([]string{"daemon", "--home", home, "--listen", "/ip4/127.0.0.1/tcp/0", "--api", "127.0.0.1:0", "--no-mdns", "--log-level", "debug"}, extra...)
}

// StartProcess starts cmd (a daemon on home) and waits until its API is
// ready. The daemon is stopped when the test ends.
func StartProcess(t *testing.T, home string, cmd *exec.Cmd) *Daemon {
	t.Helper()
	d := &Daemon{T: t, Home: home, Cmd: cmd, Out: &SyncBuffer{}, Done: make(chan struct{})}
	// An api file left by a killed daemon is stale; wait for the new one.
	os.Remove(filepath.Join(home, "api"))
	cmd.Stdout, cmd.Stderr = d.Out, d.Out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.Err = cmd.Wait(); close(d.Done) }()
	t.Cleanup(func() { d.Stop() })
	deadline := time.Now().Add(20 * time.Second)
	for {
		b, err := os.ReadFile(filepath.Join(home, "api"))
		if err == nil && len(bytes.TrimSpace(b)) > 0 {
			tok, err := os.ReadFile(filepath.Join(home, "api-token"))
			if err != nil {
				t.Fatal(err)
			}
			d.Client = api.NewClient(strings.TrimSpace(string(b)), strings.TrimSpace(string(tok)))
			t.Cleanup(d.Client.CloseIdle)
			return d
		}
		select {
		case <-d.Done:
			t.Fatalf("daemon exited before it was ready: %v\n%s", d.Err, d.Out)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("daemon not ready after 20s\n%s", d.Out)
		}
	}
}

// Stop sends SIGTERM and waits; it fails the test if the daemon does not
// exit cleanly within 5 seconds (plus slack for a loaded CI machine).
func (d *Daemon) Stop() {
	select {
	case <-d.Done:
		return
	default:
	}
	d.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.Done:
		if d.Err != nil {
			d.T.Errorf("daemon exited with %v\n%s", d.Err, d.Out)
		}
	case <-time.After(8 * time.Second):
		d.Cmd.Process.Kill()
		<-d.Done
		d.T.Errorf("daemon did not stop within 8s of SIGTERM\n%s", d.Out)
	}
}

// Kill stops the daemon with SIGKILL.
func (d *Daemon) Kill() {
	d.Cmd.Process.Kill()
	<-d.Done
}

// ID returns the daemon's identity from its API.
func (d *Daemon) ID() api.Identity {
	d.T.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	id, err := d.Client.ID(ctx)
	if err != nil {
		d.T.Fatal(err)
	}
	return id
}

// Addr returns the daemon's first multiaddr with its peer id.
func (d *Daemon) Addr() string {
	d.T.Helper()
	id := d.ID()
	if len(id.Addrs) == 0 {
		d.T.Fatalf("daemon has no addresses")
	}
	return id.Addrs[0]
}

// CLI runs the binary with args and returns stdout, stderr and the exit code.
func CLI(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, Bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("running %v: %v", args, err)
		}
		code = ee.ExitCode()
	}
	return stdout.String(), stderr.String(), code
}

// CLIJSON runs the binary with --json and decodes its stdout into v.
func CLIJSON(t *testing.T, v any, args ...string) {
	t.Helper()
	out, errOut, code := CLI(t, append(args, "--json")...)
	if code != 0 {
		t.Fatalf("peerpath %v: exit %d: %s", args, code, errOut)
	}
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("peerpath %v: bad JSON %q: %v", args, out, err)
	}
}

// Eventually retries f until it returns nil or the timeout passes.
func Eventually(t testing.TB, timeout time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var err error
	for time.Now().Before(deadline) {
		if err = f(); err == nil {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("not within %s: %v", timeout, err)
}

// Lines scans s into lines.
func Lines(s string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}
