//go:build linux

package e2e

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/peerpath/peerpath/api"
)

func TestInitJSONAndKeyMode(t *testing.T) {
	home := t.TempDir()
	var out struct{ ID string }
	cliJSON(t, &out, "init", "--home", home)
	if !strings.HasPrefix(out.ID, "12D3KooW") {
		t.Fatalf("id = %q", out.ID)
	}
	for _, f := range []string{"identity.key", "api-token"} {
		fi, err := os.Stat(filepath.Join(home, f))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v, want 0600", f, fi.Mode().Perm())
		}
	}
	cfg, err := os.ReadFile(filepath.Join(home, "config.toml"))
	if err != nil || !strings.Contains(string(cfg), "# ") || !strings.Contains(string(cfg), "api = \"127.0.0.1:5101\"") {
		t.Fatalf("config file lacks comments or defaults: %v\n%s", err, cfg)
	}
	// The same home keeps its identity; --home works after the subcommand
	// and PEERPATH_HOME works too.
	var again struct{ ID string }
	cmd := exec.Command(bin, "init", "--json")
	cmd.Env = append(os.Environ(), "PEERPATH_HOME="+home)
	b, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	if err := jsonUnmarshal(b, &again); err != nil || again.ID != out.ID {
		t.Fatalf("second init gave %q, want %q (%v)", again.ID, out.ID, err)
	}
}

func TestVersion(t *testing.T) {
	out, _, code := cli(t, "--version")
	if code != 0 || !regexp.MustCompile(`^peerpath \S+ \(commit \S+\)\n$`).MatchString(out) {
		t.Fatalf("--version: %d %q", code, out)
	}
}

// Three daemons find each other from one bootstrap peer through the DHT.
func TestDHTDiscoveryFromOneBootstrap(t *testing.T) {
	a := startDaemon(t)
	boot := a.Addr()
	b := startDaemon(t, "--bootstrap", boot)
	c := startDaemon(t, "--bootstrap", boot)
	bid, cid := b.ID().ID, c.ID().ID
	eventually(t, 30*time.Second, func() error {
		if !peerIDs(t, b)[cid] {
			return fmt.Errorf("b does not see c")
		}
		if !peerIDs(t, c)[bid] {
			return fmt.Errorf("c does not see b")
		}
		return nil
	})
	var st api.Status
	cliJSON(t, &st, "status", "--home", b.Home)
	if st.Peers < 2 || st.RoutingTable < 1 {
		t.Fatalf("status of b: %+v", st)
	}
	if st.Reachability == "" {
		t.Fatalf("no reachability in status")
	}
}

func TestConnectCommand(t *testing.T) {
	a := startDaemon(t)
	b := startDaemon(t)
	out, errOut, code := cli(t, "connect", a.Addr(), "--home", b.Home)
	if code != 0 {
		t.Fatalf("connect: %d %s %s", code, out, errOut)
	}
	if !peerIDs(t, b)[a.ID().ID] {
		t.Fatal("b is not connected to a after connect")
	}
	// A peer that doesn't exist: non-zero exit, one line.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	c := startDaemon(t)
	gone := fmt.Sprintf("/ip4/127.0.0.1/tcp/%d/p2p/%s", port, c.ID().ID)
	_, errOut, code = cli(t, "connect", gone, "--home", b.Home)
	if code == 0 || strings.Count(strings.TrimSpace(errOut), "\n") != 0 || !strings.HasPrefix(errOut, "peerpath: ") {
		t.Fatalf("connect to nobody: code %d, stderr %q", code, errOut)
	}
}

func TestPrivateNetworkIsolation(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "swarm.key")
	key, _, code := cli(t, "swarm-key", "new")
	if code != 0 || !strings.HasPrefix(key, "/key/swarm/psk/1.0.0/") {
		t.Fatalf("swarm-key new: %q", key)
	}
	os.WriteFile(keyFile, []byte(key), 0o600)
	otherKey, _, _ := cli(t, "swarm-key", "new")
	otherFile := filepath.Join(dir, "other.key")
	os.WriteFile(otherFile, []byte(otherKey), 0o600)

	pub := startDaemon(t)
	priv1 := startDaemon(t, "--swarm-key", keyFile)
	priv2 := startDaemon(t, "--swarm-key", keyFile)
	stranger := startDaemon(t, "--swarm-key", otherFile)

	mustFail := func(from, to *daemon, what string) {
		t.Helper()
		_, errOut, code := cli(t, "connect", to.Addr(), "--home", from.Home)
		if code == 0 {
			t.Errorf("%s: connect succeeded", what)
		}
		if strings.Contains(errOut, "goroutine ") {
			t.Errorf("%s: stack trace printed", what)
		}
	}
	mustFail(pub, priv1, "public -> private")
	mustFail(priv1, pub, "private -> public")
	mustFail(stranger, priv1, "other key -> private")
	if _, errOut, code := cli(t, "connect", priv1.Addr(), "--home", priv2.Home); code != 0 {
		t.Fatalf("same key: %s", errOut)
	}
	if peerIDs(t, pub)[priv1.ID().ID] || peerIDs(t, priv1)[pub.ID().ID] {
		t.Fatal("a public and a private node are connected")
	}
	var st api.Status
	cliJSON(t, &st, "status", "--home", priv1.Home)
	if !st.Private {
		t.Fatal("status does not report the private network")
	}
}

func TestAllowPeers(t *testing.T) {
	a := startDaemon(t)
	b := startDaemon(t)
	list := filepath.Join(t.TempDir(), "allow")
	os.WriteFile(list, []byte("# only a\n"+a.ID().ID+"\n"), 0o600)
	gated := startDaemon(t, "--allow-peers", list)
	if _, errOut, code := cli(t, "connect", gated.Addr(), "--home", a.Home); code != 0 {
		t.Fatalf("allowed peer refused: %s", errOut)
	}
	if _, _, code := cli(t, "connect", gated.Addr(), "--home", b.Home); code == 0 {
		t.Fatal("peer not on the list connected in")
	}
	if _, _, code := cli(t, "connect", b.Addr(), "--home", gated.Home); code == 0 {
		t.Fatal("gated node connected out to a peer not on the list")
	}
}

func TestAPIRefusesWithoutTokenOrForeignOrigin(t *testing.T) {
	d := startDaemon(t)
	base := d.Client.Base()
	tok, _ := os.ReadFile(filepath.Join(d.Home, "api-token"))
	do := func(mod func(*http.Request)) int {
		req, _ := http.NewRequest("GET", base+"/api/v1/id", nil)
		mod(req)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	bearer := "Bearer " + strings.TrimSpace(string(tok))
	if got := do(func(r *http.Request) {}); got != 401 {
		t.Errorf("no token: %d, want 401", got)
	}
	if got := do(func(r *http.Request) { r.Header.Set("Authorization", "Bearer nope") }); got != 401 {
		t.Errorf("wrong token: %d, want 401", got)
	}
	if got := do(func(r *http.Request) {
		r.Header.Set("Authorization", bearer)
		r.Header.Set("Origin", "https://evil.example")
	}); got != 403 {
		t.Errorf("foreign origin: %d, want 403", got)
	}
	if got := do(func(r *http.Request) {
		r.Header.Set("Authorization", bearer)
		r.Host = "rebind.example"
	}); got != 403 {
		t.Errorf("foreign host: %d, want 403", got)
	}
	if got := do(func(r *http.Request) { r.Header.Set("Authorization", bearer) }); got != 200 {
		t.Errorf("with token: %d, want 200", got)
	}
	// /metrics serves Prometheus text with our metrics.
	req, _ := http.NewRequest("GET", base+"/metrics", nil)
	req.Header.Set("Authorization", bearer)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var sb strings.Builder
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		sb.Write(buf[:n])
		if err != nil {
			break
		}
	}
	if resp.StatusCode != 200 || !strings.Contains(sb.String(), "peerpath_") {
		t.Fatalf("metrics: %d, no peerpath_ metrics", resp.StatusCode)
	}
}

func TestShutdownAndSecondDaemonRefused(t *testing.T) {
	d := startDaemon(t)
	// A second daemon on the same home is refused with a clear message.
	_, errOut, code := cli(t, "daemon", "--home", d.Home, "--api", "127.0.0.1:0", "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns")
	if code == 0 || !strings.Contains(errOut, "already running") {
		t.Fatalf("second daemon: code %d, %q", code, errOut)
	}
	start := time.Now()
	d.Cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-d.Done:
	case <-time.After(5 * time.Second):
		t.Fatal("daemon did not stop within 5s of SIGINT")
	}
	if d.Err != nil {
		t.Fatalf("exit: %v\n%s", d.Err, d.Out)
	}
	t.Logf("stopped in %s", time.Since(start))
	if _, err := os.Stat(filepath.Join(d.Home, "api")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("api file left behind: %v", err)
	}
	// The client then says there is no daemon, in one line.
	_, errOut, code = cli(t, "id", "--home", d.Home)
	if code == 0 || !strings.Contains(errOut, "no daemon is running") || strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
		t.Fatalf("id with no daemon: %d %q", code, errOut)
	}
}

func TestClearErrors(t *testing.T) {
	home := t.TempDir()
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"no daemon", []string{"peers", "--home", home}, "no daemon is running"},
		{"bad multiaddr", []string{"connect", "/ip4/nope", "--home", home}, "bad multiaddr"},
		{"bad listen", []string{"daemon", "--home", home, "--listen", "/ip4/1.2.3/tcp/x", "--api", "127.0.0.1:0", "--no-mdns"}, "listen"},
		{"unknown command", []string{"frobnicate"}, "unknown command"},
	}
	for _, c := range cases {
		_, errOut, code := cli(t, c.args...)
		if code == 0 || !strings.Contains(strings.ToLower(errOut), c.want) || strings.Contains(errOut, "goroutine ") ||
			strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
			t.Errorf("%s: exit %d, stderr %q; want one line containing %q", c.name, code, errOut, c.want)
		}
	}
	// API port in use.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, errOut, code := cli(t, "daemon", "--home", t.TempDir(), "--api", ln.Addr().String(), "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns")
	if code == 0 || !strings.Contains(errOut, "address already in use") || strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
		t.Errorf("api port in use: %d %q", code, errOut)
	}
	// P2P port in use.
	port := ln.Addr().(*net.TCPAddr).Port
	_, errOut, code = cli(t, "daemon", "--home", t.TempDir(), "--api", "127.0.0.1:0", "--listen", fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", port), "--no-mdns")
	if code == 0 || strings.Contains(errOut, "goroutine ") {
		t.Errorf("p2p port in use: %d %q", code, errOut)
	}
	// Unreadable identity key.
	bad := t.TempDir()
	os.WriteFile(filepath.Join(bad, "identity.key"), []byte("garbage"), 0o600)
	_, errOut, code = cli(t, "daemon", "--home", bad, "--api", "127.0.0.1:0", "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns")
	if code == 0 || !strings.Contains(errOut, "identity") || strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
		t.Errorf("bad key: %d %q", code, errOut)
	}
}

func TestDemoStartsAndStopsClean(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "demo", "--peers", "3")
	d := startDemo(t, cmd)
	re := regexp.MustCompile(`(?m)^peer (\d+)\s+(\S+)\s+api (\S+)\s+home (\S+)$`)
	ms := re.FindAllStringSubmatch(d.Out.String(), -1)
	if len(ms) != 3 {
		t.Fatalf("demo printed %d peers:\n%s", len(ms), d.Out)
	}
	dir := filepath.Dir(ms[0][4])
	// Every peer answers, and peer 1 ends up with the other two.
	for _, m := range ms {
		tok, err := os.ReadFile(filepath.Join(m[4], "api-token"))
		if err != nil {
			t.Fatal(err)
		}
		c := api.NewClient(m[3], strings.TrimSpace(string(tok)))
		defer c.CloseIdle()
		id, err := c.ID(ctx)
		if err != nil || id.ID != m[2] {
			t.Fatalf("peer %s: %v %v", m[1], id, err)
		}
	}
	eventually(t, 20*time.Second, func() error {
		tok, _ := os.ReadFile(filepath.Join(ms[0][4], "api-token"))
		c := api.NewClient(ms[0][3], strings.TrimSpace(string(tok)))
		defer c.CloseIdle()
		ps, err := c.Peers(ctx)
		if err != nil {
			return err
		}
		if len(ps) < 2 {
			return fmt.Errorf("peer 1 has %d peers", len(ps))
		}
		return nil
	})
	cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-d.Done:
	case <-time.After(15 * time.Second):
		t.Fatalf("demo did not stop\n%s", d.Out)
	}
	if d.Err != nil {
		t.Fatalf("demo exit: %v\n%s", d.Err, d.Out)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("demo left %s behind", dir)
	}
}

// startDemo starts cmd and waits for the line "demo ready".
func startDemo(t *testing.T, cmd *exec.Cmd) *daemon {
	t.Helper()
	d := &daemon{T: t, Cmd: cmd, Out: &syncBuffer{}, Done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = d.Out, d.Out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.Err = cmd.Wait(); close(d.Done) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-d.Done
	})
	eventually(t, 30*time.Second, func() error {
		select {
		case <-d.Done:
			t.Fatalf("demo exited early: %v\n%s", d.Err, d.Out)
		default:
		}
		if !strings.Contains(d.Out.String(), "demo ready") {
			return errors.New("demo not ready")
		}
		return nil
	})
	return d
}

// peerpath limits changes the running daemon's bandwidth limits, and they
// are still in force after a restart.
func TestLimitsCommand(t *testing.T) {
	d := startDaemon(t)
	if out, errOut, code := cli(t, "limits", "--max-upload", "2MiB", "--home", d.Home); code != 0 || !strings.Contains(out, "upload 2.0 MiB/s, download unlimited") {
		t.Fatalf("limits: %d %q %s", code, out, errOut)
	}
	var l api.Limits
	cliJSON(t, &l, "limits", "--home", d.Home)
	if l.MaxUpload != 2<<20 || l.MaxDownload != 0 {
		t.Fatalf("limits after change: %+v", l)
	}
	if _, errOut, code := cli(t, "limits", "--max-download", "lots", "--home", d.Home); code == 0 || !strings.Contains(errOut, "bad size") {
		t.Fatalf("bad size: code %d, stderr %q", code, errOut)
	}
	d.Stop()
	d = startDaemonHome(t, d.Home)
	cliJSON(t, &l, "limits", "--home", d.Home)
	if l.MaxUpload != 2<<20 {
		t.Fatalf("limits after restart: %+v", l)
	}
}
