package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/peerpath/peerpath/api"
)

// kuboIdleRSS is kubo v0.43.1's idle daemon RSS measured on this machine
// (issue 2), the reference the idle benchmark compares against.
const kuboIdleRSS = 72e6

func idleCmd() *cobra.Command {
	var (
		binPath string
		peers   int
		wait    time.Duration
		detail  bool
		profDir string
	)
	c := &cobra.Command{
		Use:   "idle",
		Short: "Resident memory of idle daemons with a few peers, beside kubo's 72 MB",
		RunE: func(c *cobra.Command, _ []string) error {
			return runIdle(c.Context(), binPath, peers, wait, detail, profDir)
		},
	}
	c.Flags().StringVar(&binPath, "bin", "", "peerpath binary (default: build ./cmd/peerpath into a temporary folder)")
	c.Flags().IntVar(&peers, "peers", 4, "daemons to start")
	c.Flags().DurationVar(&wait, "wait", 30*time.Second, "idle time before measuring")
	c.Flags().BoolVar(&detail, "detail", false, "also print where each daemon's memory is (binary pages, anonymous, Go heap, stacks, goroutines)")
	c.Flags().StringVar(&profDir, "profile", "", "with --detail: save each daemon's heap profile and goroutines in this folder")
	return c
}

// buildPeerpath builds ./cmd/peerpath into dir unless bin is given.
func buildPeerpath(bin, dir string) (string, error) {
	if bin != "" {
		return bin, nil
	}
	out := filepath.Join(dir, "peerpath")
	cmd := exec.Command("go", "build", "-o", out, "./cmd/peerpath")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("building peerpath (run from the repository root, or pass --bin): %w", err)
	}
	return out, nil
}

type proc struct {
	cmd    *exec.Cmd
	home   string
	client *api.Client
}

// startDaemons starts n daemon processes on loopback, each bootstrapped
// from the first. The caller stops them with stopDaemons.
func startDaemons(ctx context.Context, bin, dir string, n int, extra ...string) ([]*proc, error) {
	var ps []*proc
	for i := range n {
		home := filepath.Join(dir, fmt.Sprintf("peer%d", i+1))
		args := []string{"daemon", "--home", home, "--listen", "/ip4/127.0.0.1/tcp/0", "--api", "127.0.0.1:0", "--no-mdns", "--log-level", "warn"}
		if i > 0 {
			id, err := ps[0].client.ID(ctx)
			if err != nil {
				return ps, err
			}
			args = append(args, "--bootstrap", id.Addrs[0])
		}
		args = append(args, extra...)
		cmd := exec.Command(bin, args...)
		cmd.Stderr = os.Stderr
		dieWithParent(cmd)
		if err := cmd.Start(); err != nil {
			return ps, err
		}
		p := &proc{cmd: cmd, home: home}
		ps = append(ps, p)
		deadline := time.Now().Add(30 * time.Second)
		for {
			b, err := os.ReadFile(filepath.Join(home, "api"))
			if err == nil && len(b) > 0 {
				tok, _ := os.ReadFile(filepath.Join(home, "api-token"))
				p.client = api.NewClient(strings.TrimSpace(string(b)), strings.TrimSpace(string(tok)))
				break
			}
			if time.Now().After(deadline) {
				return ps, fmt.Errorf("daemon %d not ready after 30s", i+1)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return ps, nil
}

func stopDaemons(ps []*proc) {
	for _, p := range ps {
		p.cmd.Process.Signal(syscall.SIGTERM)
	}
	for _, p := range ps {
		done := make(chan struct{})
		go func() { p.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(8 * time.Second):
			p.cmd.Process.Kill()
			<-done
		}
	}
}

// rss returns a process's resident set size from /proc.
func rss(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmRSS for pid %d", pid)
}

// descendants returns the pids of every process below pid (children,
// grandchildren, ...), read from /proc.
func descendants(pid int) ([]int, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	parent := map[int]int{}
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue // the process ended
		}
		// pid (comm) state ppid ...: comm may hold spaces and parentheses.
		i := strings.LastIndexByte(string(b), ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 2 {
			continue
		}
		if pp, err := strconv.Atoi(f[1]); err == nil {
			parent[p] = pp
		}
	}
	var out []int
	for p := range parent {
		for q := parent[p]; q > 1; q = parent[q] {
			if q == pid {
				out = append(out, p)
				break
			}
		}
	}
	return out, nil
}

func runIdle(ctx context.Context, bin string, n int, wait time.Duration, detail bool, profDir string) error {
	dir, err := os.MkdirTemp("", "peerpath-bench-idle-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin, err = buildPeerpath(bin, dir)
	if err != nil {
		return err
	}
	ps, err := startDaemons(ctx, bin, dir, n)
	defer stopDaemons(ps)
	if err != nil {
		return err
	}
	fmt.Printf("idle: %d daemons on loopback, waiting %s\n", n, wait)
	time.Sleep(wait)
	var max, maxTree int64
	for i, p := range ps {
		peers, _ := p.client.Peers(ctx)
		pid := p.cmd.Process.Pid
		r, err := rss(pid)
		if err != nil {
			return err
		}
		// A daemon's child processes (the compute sandbox's) are part of
		// what an idle daemon costs; their RSS is added as measured, so
		// pages they share with the daemon count twice.
		kids, err := descendants(pid)
		if err != nil {
			return err
		}
		var kidsRSS int64
		for _, k := range kids {
			if kr, err := rss(k); err == nil {
				kidsRSS += kr
			}
		}
		max, maxTree = maxInt(max, r), maxInt(maxTree, r+kidsRSS)
		fmt.Printf("  daemon %d: %d peers, RSS %.1f MB, %d child processes (RSS %.1f MB)\n",
			i+1, len(peers), float64(r)/1e6, len(kids), float64(kidsRSS)/1e6)
		if detail {
			if err := idleDetail(p, i, bin, profDir); err != nil {
				return err
			}
		}
	}
	fmt.Printf("idle RSS (max) %.1f MB; kubo idles at %.1f MB; ratio %.2f (goal <= 0.50)\n",
		float64(max)/1e6, float64(kuboIdleRSS)/1e6, float64(max)/float64(kuboIdleRSS))
	fmt.Printf("with child processes (max) %.1f MB; ratio %.2f\n",
		float64(maxTree)/1e6, float64(maxTree)/float64(kuboIdleRSS))
	return nil
}

func maxInt(a, b int64) int64 {
	if a > b {
		return a
	}
	return b
}
