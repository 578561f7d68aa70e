//go:build linux

package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/peerpath/peerpath/api"
)

const (
	mdnsChild = "PEERPATH_E2E_MDNS_CHILD" // set in the re-run: "nsA,nsB"
	mdnsIPA   = "10.77.0.1"
	mdnsIPB   = "10.77.0.2"
)

// Two daemons on one LAN find each other with no bootstrap peer, through
// mDNS. Each runs in a network namespace of its own (two test hosts), joined
// by a veth pair with multicast on, so multicast never leaves this machine
// and the two behave like two computers on a LAN: each has its own port 5353
// (two mDNS responders on one host share it, and unicast answers then reach
// one of them at random). The test re-runs itself inside B's namespace and
// starts A's daemon in A's; the namespaces are deleted afterwards.
func TestMDNSNeighbours(t *testing.T) {
	if ns := os.Getenv(mdnsChild); ns != "" {
		nsA, _, _ := strings.Cut(ns, ",")
		mdnsNeighbours(t, nsA)
		return
	}
	nsA := fmt.Sprintf("ppe2e-mdnsA-%d", os.Getpid())
	nsB := fmt.Sprintf("ppe2e-mdnsB-%d", os.Getpid())
	vethA := fmt.Sprintf("ppa%d", os.Getpid()%100000)
	vethB := fmt.Sprintf("ppb%d", os.Getpid()%100000)
	ip := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	for _, ns := range []string{nsA, nsB} {
		ip("netns", "add", ns)
		t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	}
	ip("link", "add", vethA, "netns", nsA, "type", "veth", "peer", "name", vethB, "netns", nsB)
	for _, c := range []struct{ ns, dev, addr string }{{nsA, vethA, mdnsIPA}, {nsB, vethB, mdnsIPB}} {
		ip("-n", c.ns, "addr", "add", c.addr+"/24", "dev", c.dev)
		ip("-n", c.ns, "link", "set", c.dev, "multicast", "on")
		ip("-n", c.ns, "link", "set", c.dev, "up")
		ip("-n", c.ns, "link", "set", "lo", "up")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", nsB, os.Args[0],
		"-test.run=^TestMDNSNeighbours$", "-test.v", "-test.count=1", "-test.timeout=85s")
	cmd.Env = append(os.Environ(), mdnsChild+"="+nsA+","+nsB, "PEERPATH_E2E_BIN="+bin)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestMDNSNeighbours") {
		t.Fatalf("mDNS test in namespaces %s and %s: %v\n%s", nsA, nsB, err, out)
	}
}

// mdnsNeighbours runs in B's namespace; A's daemon runs in nsA.
func mdnsNeighbours(t *testing.T, nsA string) {
	homeA := t.TempDir()
	var ida api.Identity
	cliJSON(t, &ida, "init", "--home", homeA)
	a := startProcess(t, homeA, exec.Command("ip", "netns", "exec", nsA, bin, "daemon", "--home", homeA,
		"--listen", "/ip4/"+mdnsIPA+"/tcp/0", "--api", "127.0.0.1:0", "--log-level", "debug", "--no-port-map"))
	homeB := filepath.Join(t.TempDir(), "b")
	b := startProcess(t, homeB, exec.Command(bin, "daemon", "--home", homeB,
		"--listen", "/ip4/"+mdnsIPB+"/tcp/0", "--api", "127.0.0.1:0", "--log-level", "debug", "--no-port-map"))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("a's log:\n%s\nb's log:\n%s", a.Out, b.Out)
		}
	})
	eventually(t, 60*time.Second, func() error {
		var ps []api.Peer
		cliJSON(t, &ps, "peers", "--home", b.Home)
		for _, p := range ps {
			if p.ID == ida.ID {
				if !p.LAN {
					return fmt.Errorf("a is connected but not marked lan")
				}
				return nil
			}
		}
		return fmt.Errorf("b does not see a: %v", ps)
	})
}
