//go:build linux

// Package e2e runs the built peerpath binary as real daemon processes on
// loopback and drives them through the CLI and the local API, as a user
// would. The harness itself is test/harness, shared with test/hostile.
package e2e

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"testing"
	"time"

	"github.com/peerpath/peerpath/api"
	"github.com/peerpath/peerpath/test/harness"
)

var bin string

func TestMain(m *testing.M) {
	harness.Main(&binSetter{m})
}

// binSetter copies harness.Bin into bin once it is built.
type binSetter struct{ m *testing.M }

func (b *binSetter) Run() int { bin = harness.Bin; return b.m.Run() }

type daemon = harness.Daemon
type syncBuffer = harness.SyncBuffer

func startDaemon(t *testing.T, extra ...string) *daemon {
	t.Helper()
	return harness.Start(t, extra...)
}
func startDaemonHome(t *testing.T, home string, extra ...string) *daemon {
	t.Helper()
	return harness.StartHome(t, home, extra...)
}
func startProcess(t *testing.T, home string, cmd *exec.Cmd) *daemon {
	t.Helper()
	return harness.StartProcess(t, home, cmd)
}
func cli(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	return harness.CLI(t, args...)
}
func cliJSON(t *testing.T, v any, args ...string) { t.Helper(); harness.CLIJSON(t, v, args...) }
func eventually(t *testing.T, timeout time.Duration, f func() error) {
	t.Helper()
	harness.Eventually(t, timeout, f)
}
func lines(s string) []string { return harness.Lines(s) }

func peerIDs(t *testing.T, d *daemon) map[string]bool {
	var ps []api.Peer
	cliJSON(t, &ps, "peers", "--home", d.Home)
	m := map[string]bool{}
	for _, p := range ps {
		m[p.ID] = true
	}
	return m
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

const e2eSecond = time.Second

func errState(v any) error { return fmt.Errorf("not done yet: %+v", v) }
