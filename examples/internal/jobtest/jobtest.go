// Package jobtest runs an example job both natively and as WebAssembly in
// the sandbox, for the examples' tests and benchmarks. The module is built
// with the Go toolchain running the tests and compiled once per test
// process.
package jobtest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/peerpath/peerpath/examples/internal/unitarg"
	"github.com/peerpath/peerpath/internal/compute/sandbox"
	"github.com/peerpath/peerpath/internal/compute/sandbox/sandboxtest"
	"go.uber.org/goleak"
)

var (
	mu      sync.Mutex
	runners = map[bool]*sandbox.Runner{} // by isolation
	jobs    = map[string]*Job{}
)

// Job is a compiled example module.
type Job struct {
	runner *sandbox.Runner
	module *sandbox.Module
}

// Load builds the main package in dir as a WASI module and compiles it in
// the test process's runner.
func Load(tb testing.TB, dir string) *Job { return load(tb, dir, false) }

// LoadIsolated is Load for a runner that runs each unit in a child process
// (sandbox.RunnerConfig.Isolate).
func LoadIsolated(tb testing.TB, dir string) *Job { return load(tb, dir, true) }

func load(tb testing.TB, dir string, isolate bool) *Job {
	tb.Helper()
	mu.Lock()
	defer mu.Unlock()
	key := fmt.Sprint(isolate, dir)
	if j := jobs[key]; j != nil {
		return j
	}
	wasm := sandboxtest.BuildWasm(tb, dir)
	r := runners[isolate]
	if r == nil {
		var err error
		r, err = sandbox.NewRunner(context.Background(), sandbox.RunnerConfig{Isolate: isolate})
		if err != nil {
			tb.Fatal(err)
		}
		runners[isolate] = r
	}
	m, err := r.Compile(context.Background(), wasm)
	if err != nil {
		tb.Fatal(err)
	}
	j := &Job{runner: r, module: m}
	jobs[key] = j
	return j
}

// Main serves as a sandbox child when started as one, otherwise runs the
// tests, closes the runners and checks for leaked goroutines. Call it from
// TestMain.
func Main(m *testing.M) {
	sandbox.ServeChild()
	code := m.Run()
	mu.Lock()
	for _, r := range runners {
		_ = r.Close(context.Background())
	}
	mu.Unlock()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// Unit returns the sandbox unit the compute layer would run for index i
// with extra arguments and environment: the index as the first positional
// argument (after flags) and in PEERPATH_UNIT.
func Unit(i uint64, flags []string, env map[string]string) sandbox.Unit {
	e := map[string]string{unitarg.EnvVar: fmt.Sprint(i)}
	for k, v := range env {
		e[k] = v
	}
	return sandbox.Unit{Args: append(append([]string(nil), flags...), fmt.Sprint(i)), Env: e}
}

// Getenv returns a getenv function over u's environment, for running the
// native kernel with the same inputs.
func Getenv(u sandbox.Unit) func(string) string {
	return func(k string) string { return u.Env[k] }
}

// Run runs unit u in the sandbox and returns its stdout; any failure fails
// tb.
func (j *Job) Run(tb testing.TB, u sandbox.Unit) []byte {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := j.runner.Run(ctx, j.module, u, sandbox.Limits{})
	if err != nil {
		tb.Fatalf("wasm unit %v: %v (stderr %q)", u.Args, err, res.Stderr)
	}
	return res.Stdout
}

// Native runs a kernel's Run function on the unit's arguments and
// environment.
func Native(tb testing.TB, run func([]string, func(string) string) ([]byte, error), u sandbox.Unit) []byte {
	tb.Helper()
	out, err := run(u.Args, Getenv(u))
	if err != nil {
		tb.Fatalf("native unit %v: %v", u.Args, err)
	}
	return out
}

// Compare runs u natively and in the sandbox and fails tb unless the
// outputs are byte-identical. It returns the output.
func (j *Job) Compare(tb testing.TB, run func([]string, func(string) string) ([]byte, error), u sandbox.Unit) []byte {
	tb.Helper()
	native := Native(tb, run, u)
	wasm := j.Run(tb, u)
	if !bytes.Equal(native, wasm) {
		tb.Fatalf("unit %v: wasm output (%d bytes) differs from native (%d bytes)\nwasm:   %.200q\nnative: %.200q",
			u.Args, len(wasm), len(native), wasm, native)
	}
	return wasm
}

// Ratio benchmarks unit u natively and in the sandbox (instantiation
// included) and reports the wasm/native time ratio as a metric, alongside
// both times per run.
func (j *Job) Ratio(b *testing.B, run func([]string, func(string) string) ([]byte, error), u sandbox.Unit) {
	b.Helper()
	var native, wasm []time.Duration
	for b.Loop() {
		t0 := time.Now()
		Native(b, run, u)
		t1 := time.Now()
		j.Run(b, u)
		native = append(native, t1.Sub(t0))
		wasm = append(wasm, time.Since(t1))
	}
	n, w := median(native), median(wasm)
	b.ReportMetric(float64(w)/float64(n), "wasm/native")
	b.ReportMetric(float64(n.Microseconds())/1000, "native-ms")
	b.ReportMetric(float64(w.Microseconds())/1000, "wasm-ms")
}

func median(d []time.Duration) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, k int) bool { return s[i] < s[k] })
	return s[len(s)/2]
}
