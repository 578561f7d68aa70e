package compute

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/peerpath/peerpath/internal/compute/memcontent"
	"github.com/peerpath/peerpath/internal/compute/sandbox"
	"github.com/peerpath/peerpath/internal/compute/sandbox/sandboxtest"
	"github.com/peerpath/peerpath/internal/testutil"
)

var (
	runnerOnce sync.Once
	runner     *sandbox.Runner
	runnerErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if runner != nil {
		_ = runner.Close(context.Background())
	}
	if code == 0 {
		if err := goleak.Find(testutil.LeakOptions()...); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// testRunner is one sandbox runner shared by every node of every test (a
// Runner is safe for concurrent use), so the test module compiles once.
func testRunner(t *testing.T) *sandbox.Runner {
	t.Helper()
	runnerOnce.Do(func() {
		// Compiled code is cached on disk across test runs, as the go
		// command caches builds: compiling the 2.6 MB test module takes
		// about 13 s under the race detector.
		cfg := sandbox.RunnerConfig{MaxMemoryBytes: 1 << 30}
		if dir, err := os.UserCacheDir(); err == nil {
			cfg.CacheDir = filepath.Join(dir, "peerpath-test", "compute-wazero")
		}
		runner, runnerErr = sandbox.NewRunner(context.Background(), cfg)
	})
	if runnerErr != nil {
		t.Fatal(runnerErr)
	}
	return runner
}

// testModule is testdata/job built for wasip1.
func testModule(t *testing.T) []byte {
	t.Helper()
	mod := sandboxtest.BuildWasm(t, "testdata/job")
	if _, err := testRunner(t).Compile(context.Background(), mod); err != nil {
		t.Fatal(err)
	}
	return mod
}

var testTune = tunables{advertEvery: 200 * time.Millisecond, retry: 50 * time.Millisecond, trustAfter: 10, spotRate: 0.1, grace: 3 * time.Second,
	fetch: 20 * time.Second}

// cluster is n connected loopback nodes; node 0 is the submitter.
type cluster struct {
	t     *testing.T
	nodes []*loopNode
}

func newCluster(t *testing.T, n int) *cluster {
	t.Helper()
	c := &cluster{t: t}
	dir := t.TempDir()
	cn := memcontent.NewNet(ValidContentKey)
	for range n {
		nd, err := newLoopNode(dir, cn)
		if err != nil {
			t.Fatal(err)
		}
		c.nodes = append(c.nodes, nd)
	}
	t.Cleanup(func() {
		for _, nd := range c.nodes {
			if err := nd.close(); err != nil {
				t.Errorf("closing node: %v", err)
			}
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := connectAll(ctx, c.nodes); err != nil {
		t.Fatal(err)
	}
	return c
}

// start serves node i's Service with its worker on or off.
func (c *cluster) start(i int, worker bool, payer Payer, tweak func(*Service)) *Service {
	c.t.Helper()
	log := slog.New(slog.NewTextHandler(testWriter{c.t}, &slog.HandlerOptions{Level: slog.LevelInfo})).With("node", i)
	if err := c.nodes[i].start(testRunner(c.t), WorkerConfig{Enabled: worker, CPUs: 1}, payer, log, testTune, tweak); err != nil {
		c.t.Fatal(err)
	}
	return c.nodes[i].svc
}

// testWriter sends logs to t.Log until the test ends.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	defer func() { _ = recover() }() // a log after the test ended
	w.t.Log(string(p[:len(p)-1]))
	return len(p), nil
}

// localRun runs unit i of a count-mode job directly in the sandbox.
func localRun(t *testing.T, mod []byte, args []string, i int, stdin []byte) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r := testRunner(t)
	m, err := r.Compile(ctx, mod)
	if err != nil {
		t.Fatal(err)
	}
	u := sandbox.Unit{Args: args, Stdin: stdin}
	if stdin == nil {
		u.Args = append(append([]string(nil), args...), strconv.Itoa(i))
		u.Env = map[string]string{UnitEnv: strconv.Itoa(i)}
	}
	res, err := r.Run(ctx, m, u, sandbox.Limits{})
	if err != nil {
		t.Fatalf("local run of unit %d: %v", i, err)
	}
	return res.Stdout
}

func waitFor(t *testing.T, svc *Service, id string, d time.Duration) JobStatus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	st, err := waitJob(ctx, svc, id)
	if err != nil {
		t.Fatal(err)
	}
	return st
}
