//go:build linux

// Command idlefloor measures the least an idle peerpath daemon can hold:
// processes that run only the p2p layer (libp2p host, DHT, GossipSub, as
// internal/p2p builds them) and open the SQLite store, nothing else. It
// starts --peers such processes on loopback, each bootstrapped from the
// first, waits, and prints their resident memory the way
// `peerpath-bench idle` does. Built with -tags linkall, the binary also
// links the whole daemon (internal/node), which it never runs: the
// difference shows what linked but idle code costs. See
// docs/performance.md, "Idle daemon memory".
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/peerpath/peerpath/internal/p2p"
	"github.com/peerpath/peerpath/internal/store"
)

func main() {
	if len(os.Args) == 3 && os.Args[1] == "node" {
		if err := runNode(os.Args[2]); err != nil {
			fmt.Fprintln(os.Stderr, "idlefloor node:", err)
			os.Exit(1)
		}
		return
	}
	peers := flag.Int("peers", 4, "processes to start")
	wait := flag.Duration("wait", 20*time.Second, "idle time before measuring")
	flag.Parse()
	if err := run(*peers, *wait); err != nil {
		fmt.Fprintln(os.Stderr, "idlefloor:", err)
		os.Exit(1)
	}
}

func run(n int, wait time.Duration) error {
	dir, err := os.MkdirTemp("", "peerpath-idlefloor-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	var cmds []*exec.Cmd
	defer func() {
		for _, c := range cmds {
			_ = c.Process.Signal(syscall.SIGTERM)
			_ = c.Wait()
		}
	}()
	var boot string
	for i := range n {
		home := filepath.Join(dir, strconv.Itoa(i))
		if err := os.MkdirAll(home, 0o700); err != nil {
			return err
		}
		if boot != "" {
			if err := os.WriteFile(filepath.Join(home, "bootstrap"), []byte(boot), 0o600); err != nil {
				return err
			}
		}
		c := exec.Command(os.Args[0], "node", home)
		c.Stderr = os.Stderr
		c.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := c.Start(); err != nil {
			return err
		}
		cmds = append(cmds, c)
		addr, err := waitFile(filepath.Join(home, "addr"), 30*time.Second)
		if err != nil {
			return err
		}
		if boot == "" {
			boot = addr
		}
	}
	fmt.Printf("idlefloor: %d processes (p2p + SQLite only) on loopback, waiting %s\n", n, wait)
	time.Sleep(wait)
	var max int64
	for i, c := range cmds {
		r, err := rss(c.Process.Pid)
		if err != nil {
			return err
		}
		max = maxInt(max, r)
		fmt.Printf("  process %d: RSS %.1f MB\n", i+1, float64(r)/1e6)
	}
	fmt.Printf("idle RSS (max) %.1f MB\n", float64(max)/1e6)
	return nil
}

// runNode runs one p2p node with its store until SIGTERM.
func runNode(home string) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	key, err := p2p.LoadOrCreateIdentity(filepath.Join(home, "identity.key"))
	if err != nil {
		return err
	}
	db, err := store.Open(filepath.Join(home, "node.db"))
	if err != nil {
		return err
	}
	defer db.Close()
	var boot []string
	if b, err := os.ReadFile(filepath.Join(home, "bootstrap")); err == nil {
		boot = []string{strings.TrimSpace(string(b))}
	}
	n, err := p2p.New(ctx, p2p.Config{Identity: key, ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}, Bootstrap: boot})
	if err != nil {
		return err
	}
	defer n.Close()
	if err := os.WriteFile(filepath.Join(home, "addr"), []byte(n.Addrs()[0]), 0o600); err != nil {
		return err
	}
	return n.Serve(ctx)
}

func waitFile(path string, d time.Duration) (string, error) {
	deadline := time.Now().Add(d)
	for {
		b, err := os.ReadFile(path)
		if err == nil && len(b) > 0 {
			return strings.TrimSpace(string(b)), nil
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("%s not written after %s", path, d)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// rss returns a process's resident set size from /proc.
func rss(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmRSS for pid %d", pid)
}

func maxInt(a, b int64) int64 {
	if a > b {
		return a
	}
	return b
}
