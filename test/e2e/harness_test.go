//go:build linux

// Package e2e runs the built peerpath binary as real daemon processes on
// loopback and drives them through the CLI and the local API, as a user
// would.
package e2e

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

// bin is the peerpath binary built once for the whole run.
var bin string

func TestMain(m *testing.M) {
	// A test re-run inside a network namespace reuses the parent's binary.
	if b := os.Getenv("PEERPATH_E2E_BIN"); b != "" {
		bin = b
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "peerpath-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "peerpath")
	build := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-o", bin, "../../cmd/peerpath")
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

// daemon is one running peerpath daemon process.
type daemon struct {
	t      *testing.T
	home   string
	cmd    *exec.Cmd
	out    *syncBuffer
	client *api.Client
	done   chan struct{}
	err    error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startDaemon starts a daemon with a new home on loopback. Extra flags are
// appended after the defaults (loopback TCP, free API port, no mDNS unless
// the caller passes --no-mdns=false).
func startDaemon(t *testing.T, extra ...string) *daemon {
	t.Helper()
	home := t.TempDir()
	return startDaemonHome(t, home, extra...)
}

func startDaemonHome(t *testing.T, home string, extra ...string) *daemon {
	t.Helper()
	args := append([]string{"daemon", "--home", home, "--listen", "/ip4/127.0.0.1/tcp/0", "--api", "127.0.0.1:0", "--no-mdns", "--log-level", "debug"}, extra...)
	return startProcess(t, home, exec.Command(bin, args...))
}

func startProcess(t *testing.T, home string, cmd *exec.Cmd) *daemon {
	t.Helper()
	d := &daemon{t: t, home: home, cmd: cmd, out: &syncBuffer{}, done: make(chan struct{})}
	// An api file left by a killed daemon is stale; wait for the new one.
	os.Remove(filepath.Join(home, "api"))
	cmd.Stdout, cmd.Stderr = d.out, d.out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.err = cmd.Wait(); close(d.done) }()
	t.Cleanup(func() { d.stop() })
	deadline := time.Now().Add(20 * time.Second)
	for {
		b, err := os.ReadFile(filepath.Join(home, "api"))
		if err == nil && len(bytes.TrimSpace(b)) > 0 {
			tok, err := os.ReadFile(filepath.Join(home, "api-token"))
			if err != nil {
				t.Fatal(err)
			}
			d.client = api.NewClient(strings.TrimSpace(string(b)), strings.TrimSpace(string(tok)))
			t.Cleanup(d.client.CloseIdle)
			return d
		}
		select {
		case <-d.done:
			t.Fatalf("daemon exited before it was ready: %v\n%s", d.err, d.out)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("daemon not ready after 20s\n%s", d.out)
		}
	}
}

// stop sends SIGTERM and waits; it fails the test if the daemon does not
// exit cleanly within 5 seconds (plus slack for a loaded CI machine).
func (d *daemon) stop() {
	select {
	case <-d.done:
		return
	default:
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
		if d.err != nil {
			d.t.Errorf("daemon exited with %v\n%s", d.err, d.out)
		}
	case <-time.After(8 * time.Second):
		d.cmd.Process.Kill()
		<-d.done
		d.t.Errorf("daemon did not stop within 8s of SIGTERM\n%s", d.out)
	}
}

// kill stops the daemon with SIGKILL.
func (d *daemon) kill() {
	d.cmd.Process.Kill()
	<-d.done
}

func (d *daemon) id() api.Identity {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	id, err := d.client.ID(ctx)
	if err != nil {
		d.t.Fatal(err)
	}
	return id
}

func (d *daemon) addr() string {
	id := d.id()
	if len(id.Addrs) == 0 {
		d.t.Fatalf("daemon has no addresses")
	}
	return id.Addrs[0]
}

// cli runs the binary with args and returns stdout, stderr and the exit code.
func cli(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
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

// cliJSON runs the binary with --json and decodes its stdout into v.
func cliJSON(t *testing.T, v any, args ...string) {
	t.Helper()
	out, errOut, code := cli(t, append(args, "--json")...)
	if code != 0 {
		t.Fatalf("peerpath %v: exit %d: %s", args, code, errOut)
	}
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("peerpath %v: bad JSON %q: %v", args, out, err)
	}
}

// eventually retries f until it returns nil or the timeout passes.
func eventually(t *testing.T, timeout time.Duration, f func() error) {
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

func peerIDs(t *testing.T, d *daemon) map[string]bool {
	var ps []api.Peer
	cliJSON(t, &ps, "peers", "--home", d.home)
	m := map[string]bool{}
	for _, p := range ps {
		m[p.ID] = true
	}
	return m
}

// lines scans s into lines.
func lines(s string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

const e2eSecond = time.Second

func errState(v any) error { return fmt.Errorf("not done yet: %+v", v) }
