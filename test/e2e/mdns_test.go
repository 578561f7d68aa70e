package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/peerpath/peerpath/api"
)

const mdnsChild = "PEERPATH_E2E_MDNS_CHILD"

// Two daemons on one LAN find each other with no bootstrap peer, through
// mDNS. Multicast must not leave this machine and the host's loopback has
// no MULTICAST flag, so the test makes its own network namespace whose
// loopback carries multicast, and re-runs itself inside it. The namespace
// is deleted afterwards.
func TestMDNSNeighbours(t *testing.T) {
	if os.Getenv(mdnsChild) != "" {
		mdnsNeighbours(t)
		return
	}
	name := fmt.Sprintf("peerpath-e2e-mdns-%d", os.Getpid())
	ip := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	ip("netns", "add", name)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
	ip("-n", name, "link", "set", "lo", "up")
	ip("-n", name, "link", "set", "lo", "multicast", "on")

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", name, os.Args[0],
		"-test.run=^TestMDNSNeighbours$", "-test.v", "-test.count=1", "-test.timeout=85s")
	cmd.Env = append(os.Environ(), mdnsChild+"=1", "PEERPATH_E2E_BIN="+bin)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestMDNSNeighbours") {
		t.Fatalf("mDNS test in namespace %s: %v\n%s", name, err, out)
	}
}

func mdnsNeighbours(t *testing.T) {
	a := startDaemon(t, "--no-mdns=false")
	b := startDaemon(t, "--no-mdns=false")
	aid := a.id().ID
	// Generous: on a loaded machine (CI runs the e2e tests in parallel)
	// the first mDNS exchange or dial can be missed; the node retries.
	eventually(t, 60*time.Second, func() error {
		var ps []api.Peer
		cliJSON(t, &ps, "peers", "--home", b.home)
		for _, p := range ps {
			if p.ID == aid {
				if !p.LAN {
					return fmt.Errorf("a is connected but not marked lan")
				}
				return nil
			}
		}
		return fmt.Errorf("b does not see a: %v", ps)
	})
}
