package sandbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/peerpath/peerpath/internal/compute/sandbox/sandboxtest"
	"go.uber.org/goleak"
)

// cacheDir is a compilation cache shared by the tests' runners, so that the
// Go test program (seconds to compile) is compiled once per test process.
var cacheDir string

func TestMain(m *testing.M) {
	ServeChild() // the isolation tests re-run this binary as the child
	dir, err := os.MkdirTemp("", "sandbox-test-cache-*")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	cacheDir = dir
	code := m.Run()
	if shared.r != nil {
		_ = shared.r.Close(context.Background())
	}
	os.RemoveAll(dir)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// shared is one runner for the tests that do not close it, so that the Go
// test program is compiled once.
var shared struct {
	once sync.Once
	r    *Runner
	prog *Module
	err  error
}

// testRunner returns the shared runner and the compiled test program.
func testRunner(t *testing.T) (*Runner, *Module) {
	t.Helper()
	shared.once.Do(func() {
		ctx := context.Background()
		shared.r, shared.err = NewRunner(ctx, RunnerConfig{CacheDir: cacheDir})
		if shared.err != nil {
			return
		}
		wasm := sandboxtest.BuildWasm(t, "testdata/testprog")
		shared.prog, shared.err = shared.r.Compile(ctx, wasm)
	})
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.r, shared.prog
}

// newRunner returns a private runner closed at the end of the test.
func newRunner(t *testing.T, cfg RunnerConfig) *Runner {
	t.Helper()
	r, err := NewRunner(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := r.Close(context.Background()); err != nil && !errors.Is(err, ErrClosed) {
			t.Error(err)
		}
	})
	return r
}

func compile(t *testing.T, r *Runner, wasm []byte) *Module {
	t.Helper()
	m, err := r.Compile(context.Background(), wasm)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestEcho(t *testing.T) {
	r, prog := testRunner(t)
	in := bytes.Repeat([]byte("peerpath\x00\xff"), 10000)
	res, err := r.Run(testCtx(t), prog, Unit{Stdin: in, Args: []string{"echo"}}, Limits{})
	if err != nil {
		t.Fatalf("run: %v (stderr %q)", err, res.Stderr)
	}
	if !bytes.Equal(res.Stdout, in) {
		t.Fatalf("stdout differs from stdin: %d bytes vs %d", len(res.Stdout), len(in))
	}
	if res.ExitCode != 0 || res.Duration <= 0 || res.PeakMemory == 0 {
		t.Fatalf("result %+v", res)
	}
}

// TestFreshInstances checks that runs share no state: memory starts fresh
// and concurrent runs see only their own input.
func TestFreshInstances(t *testing.T) {
	r, prog := testRunner(t)
	once := compile(t, r, wasmOnce)
	for range 3 {
		if _, err := r.Run(testCtx(t), once, Unit{}, Limits{}); err != nil {
			t.Fatalf("memory survived a previous run: %v", err)
		}
	}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			in := bytes.Repeat([]byte{byte('a' + i)}, 1000+i)
			res, err := r.Run(testCtx(t), prog, Unit{Stdin: in, Args: []string{"echo"}}, Limits{})
			if err != nil || !bytes.Equal(res.Stdout, in) {
				t.Errorf("concurrent run %d: err %v, %d bytes out", i, err, len(res.Stdout))
			}
		})
	}
	wg.Wait()
}

func TestArgsEnv(t *testing.T) {
	r, prog := testRunner(t)
	u := Unit{Args: []string{"argsenv", "a b", "c"}, Env: map[string]string{"ZED": "1", "PEERPATH_UNIT": "7", "EMPTY": ""}}
	res, err := r.Run(testCtx(t), prog, u, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	want := "args=unit,argsenv,a b,c\nenv=EMPTY=,PEERPATH_UNIT=7,ZED=1\n"
	if string(res.Stdout) != want {
		t.Fatalf("stdout %q, want %q", res.Stdout, want)
	}
}

func TestExitCode(t *testing.T) {
	r, prog := testRunner(t)
	res, err := r.Run(testCtx(t), prog, Unit{Args: []string{"exit", "7"}}, Limits{})
	if !errors.Is(err, ErrExit) {
		t.Fatalf("err = %v, want ErrExit", err)
	}
	if res.ExitCode != 7 || !strings.Contains(string(res.Stderr), "exiting with 7") {
		t.Fatalf("exit code %d, stderr %q", res.ExitCode, res.Stderr)
	}
	// A guest cannot pass itself off as timed out by exiting with wazero's
	// reserved code.
	res, err = r.Run(testCtx(t), prog, Unit{Args: []string{"exit", fmt.Sprint(int32(-268435457))}}, Limits{}) // 0xefffffff
	if !errors.Is(err, ErrExit) || errors.Is(err, ErrTimeout) {
		t.Fatalf("reserved exit code: err = %v (exit %x), want ErrExit", err, res.ExitCode)
	}
	// A Go panic exits with code 2 and explains itself on stderr.
	res, err = r.Run(testCtx(t), prog, Unit{Args: []string{"panic"}}, Limits{})
	if !errors.Is(err, ErrExit) || res.ExitCode != 2 || !strings.Contains(string(res.Stderr), "boom") {
		t.Fatalf("panic: err %v, exit %d, stderr %q", err, res.ExitCode, res.Stderr)
	}
	// Exit code 0 via proc_exit is success.
	res, err = r.Run(testCtx(t), prog, Unit{Args: []string{"exit", "0"}}, Limits{})
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("exit 0: err %v, exit %d", err, res.ExitCode)
	}
}

func TestTimeout(t *testing.T) {
	r, prog := testRunner(t)
	loop := compile(t, r, wasmLoop)
	const limit = 300 * time.Millisecond
	for name, m := range map[string]*Module{"go": prog, "wat": loop} {
		t.Run(name, func(t *testing.T) {
			start := time.Now()
			_, err := r.Run(testCtx(t), m, Unit{Args: []string{"loop"}}, Limits{Timeout: limit})
			took := time.Since(start)
			if !errors.Is(err, ErrTimeout) {
				t.Fatalf("err = %v, want ErrTimeout", err)
			}
			if took < limit || took > limit+2*time.Second {
				t.Fatalf("stopped after %v, limit %v", took, limit)
			}
		})
	}
}

// TestLoopDoesNotStallGC checks that a spinning guest leaves the rest of the
// process running: a garbage collection (which must stop every goroutine)
// completes while the guest spins.
func TestLoopDoesNotStallGC(t *testing.T) {
	r, _ := testRunner(t)
	loop := compile(t, r, wasmLoop)
	errc := make(chan error, 1)
	go func() {
		_, err := r.Run(testCtx(t), loop, Unit{}, Limits{Timeout: 1500 * time.Millisecond})
		errc <- err
	}()
	time.Sleep(200 * time.Millisecond) // let the guest start spinning
	done := make(chan time.Duration, 1)
	go func() {
		start := time.Now()
		runtime.GC()
		done <- time.Since(start)
	}()
	select {
	case took := <-done:
		t.Logf("GC during a spinning guest took %v", took)
	case err := <-errc:
		t.Fatalf("the GC waited for the guest to be stopped (%v)", err)
	}
	if err := <-errc; !errors.Is(err, ErrTimeout) {
		t.Fatalf("err = %v, want ErrTimeout", err)
	}
}

func TestCallerCancel(t *testing.T) {
	r, _ := testRunner(t)
	loop := compile(t, r, wasmLoop)
	ctx, cancel := context.WithCancel(testCtx(t))
	time.AfterFunc(100*time.Millisecond, cancel)
	_, err := r.Run(ctx, loop, Unit{}, Limits{Timeout: 20 * time.Second})
	if !errors.Is(err, context.Canceled) || errors.Is(err, ErrTimeout) {
		t.Fatalf("err = %v, want context.Canceled only", err)
	}
	// A caller deadline shorter than the unit's budget is the caller's.
	ctx, cancel2 := context.WithTimeout(testCtx(t), 100*time.Millisecond)
	defer cancel2()
	_, err = r.Run(ctx, loop, Unit{}, Limits{Timeout: 20 * time.Second})
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrTimeout) {
		t.Fatalf("err = %v, want context.DeadlineExceeded only", err)
	}
}

func TestMemoryLimit(t *testing.T) {
	r, prog := testRunner(t)
	const limit = 64 << 20
	t.Run("go", func(t *testing.T) {
		res, err := r.Run(testCtx(t), prog, Unit{Args: []string{"alloc"}}, Limits{MemoryBytes: limit})
		if !errors.Is(err, ErrMemory) {
			t.Fatalf("err = %v, want ErrMemory (stderr %q)", err, res.Stderr)
		}
		if res.PeakMemory > limit || res.PeakMemory < limit/2 {
			t.Fatalf("peak memory %d, limit %d", res.PeakMemory, limit)
		}
		if !strings.Contains(string(res.Stderr), "out of memory") {
			t.Fatalf("stderr %q", res.Stderr)
		}
	})
	t.Run("wat", func(t *testing.T) {
		grow := compile(t, r, wasmGrow)
		res, err := r.Run(testCtx(t), grow, Unit{}, Limits{MemoryBytes: limit})
		if !errors.Is(err, ErrMemory) || errors.Is(err, ErrTrap) {
			t.Fatalf("err = %v, want ErrMemory", err)
		}
		// 1 initial page plus 16-page steps: the last step that fits.
		if want := uint64(1+(limit/pageSize-1)/16*16) * pageSize; res.PeakMemory != want {
			t.Fatalf("peak memory %d, want %d", res.PeakMemory, want)
		}
	})
	t.Run("initial", func(t *testing.T) {
		big := compile(t, r, wasmBigMemory)
		if _, err := r.Run(testCtx(t), big, Unit{}, Limits{MemoryBytes: limit}); !errors.Is(err, ErrMemory) {
			t.Fatalf("err = %v, want ErrMemory", err)
		}
		res, err := r.Run(testCtx(t), big, Unit{}, Limits{MemoryBytes: 256 << 20})
		if err != nil || res.PeakMemory != 128<<20 {
			t.Fatalf("within limit: err %v, peak %d", err, res.PeakMemory)
		}
	})
	t.Run("rounding", func(t *testing.T) {
		grow := compile(t, r, wasmGrow)
		// 1 MiB + 1 byte rounds up to 17 pages: exactly one 16-page step fits.
		res, err := r.Run(testCtx(t), grow, Unit{}, Limits{MemoryBytes: 1<<20 + 1})
		if !errors.Is(err, ErrMemory) || res.PeakMemory != 17*pageSize {
			t.Fatalf("err %v, peak %d", err, res.PeakMemory)
		}
	})
}

func TestTrap(t *testing.T) {
	r, _ := testRunner(t)
	m := compile(t, r, wasmUnreachable)
	_, err := r.Run(testCtx(t), m, Unit{}, Limits{})
	if !errors.Is(err, ErrTrap) || !strings.Contains(err.Error(), "unreachable") {
		t.Fatalf("err = %v, want ErrTrap mentioning unreachable", err)
	}
}

func TestOutputTooLarge(t *testing.T) {
	r, prog := testRunner(t)
	const limit = 1 << 20
	res, err := r.Run(testCtx(t), prog, Unit{Args: []string{"spam"}}, Limits{MaxOutput: limit, Timeout: 20 * time.Second})
	if !errors.Is(err, ErrOutputTooLarge) {
		t.Fatalf("err = %v, want ErrOutputTooLarge", err)
	}
	if len(res.Stdout) != limit {
		t.Fatalf("kept %d bytes of stdout, want %d", len(res.Stdout), limit)
	}
	res, err = r.Run(testCtx(t), prog, Unit{Args: []string{"spamerr"}}, Limits{MaxStderr: 4096, Timeout: 20 * time.Second})
	if !errors.Is(err, ErrOutputTooLarge) || len(res.Stderr) != 4096 {
		t.Fatalf("stderr: err = %v, kept %d bytes", err, len(res.Stderr))
	}
}

func TestInvalidModule(t *testing.T) {
	r := newRunner(t, RunnerConfig{MaxModuleBytes: 1 << 20})
	cases := map[string][]byte{
		"empty":       nil,
		"garbage":     []byte("this is not webassembly"),
		"truncated":   wasmNop[:len(wasmNop)-3],
		"no _start":   wasmNoStart,
		"env import":  wasmEnvImport,
		"too large":   make([]byte, 1<<20+1),
		"header only": wasmNop[:8],
	}
	for name, wasm := range cases {
		t.Run(name, func(t *testing.T) {
			m, err := r.Compile(testCtx(t), wasm)
			if !errors.Is(err, ErrInvalidModule) || m != nil {
				t.Fatalf("err = %v, module %v; want ErrInvalidModule", err, m)
			}
		})
	}
}

// TestDecodingBombs feeds modules whose counts claim far more than their
// bytes hold; each must be rejected cheaply.
func TestDecodingBombs(t *testing.T) {
	r := newRunner(t, RunnerConfig{})
	cases := map[string][]byte{
		"exports": wasmExportBomb,
		"locals":  wasmLocalsBomb,
		"data":    wasmDataBomb,
		"params":  wasmParamsBomb,
		"names":   wasmNamesBomb,
		"table":   wasmBigTable,
		// Needs reference types, which are disabled.
		"table.grow": wasmTableGrow,
	}
	for name, wasm := range cases {
		t.Run(name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			start := time.Now()
			_, err := r.Compile(testCtx(t), wasm)
			took := time.Since(start)
			runtime.ReadMemStats(&after)
			if !errors.Is(err, ErrInvalidModule) {
				t.Fatalf("err = %v, want ErrInvalidModule", err)
			}
			if took > 2*time.Second {
				t.Fatalf("rejecting took %v", took)
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 16<<20 {
				t.Fatalf("rejecting allocated %d bytes", alloc)
			}
		})
	}
	// The well-formed relatives of the bombs are accepted.
	for _, wasm := range [][]byte{
		wasmNop,
		buildModule(modOptions{locals: []byte{0x01, 0x10, 0x7f}, memPages: 1, exportStart: true}),
		buildModule(modOptions{table: []byte{0x01, 0x70, 0x00, 0x10}, memPages: 1, exportStart: true}),
		buildModule(modOptions{memPages: 1, exportStart: true, after: section(11, 0x01, 0x00, 0x41, 0x00, 0x0b, 0x02, 'h', 'i')}),
	} {
		if _, err := r.Compile(testCtx(t), wasm); err != nil {
			t.Fatal(err)
		}
	}
}

func TestStackOverflow(t *testing.T) {
	r, _ := testRunner(t)
	m := compile(t, r, wasmRecurse)
	_, err := r.Run(testCtx(t), m, Unit{}, Limits{Timeout: 10 * time.Second})
	if !errors.Is(err, ErrTrap) || !strings.Contains(err.Error(), "stack overflow") {
		t.Fatalf("err = %v, want ErrTrap with stack overflow", err)
	}
}

func TestNoFilesystem(t *testing.T) {
	r, prog := testRunner(t)
	res, err := r.Run(testCtx(t), prog, Unit{Args: []string{"open"}}, Limits{})
	if err != nil {
		t.Fatalf("err %v, stdout %q", err, res.Stdout)
	}
	for _, name := range []string{"/etc/passwd", "/", "/tmp"} {
		if !strings.Contains(string(res.Stdout), "denied "+name+":") {
			t.Fatalf("guest was not denied %s: %q", name, res.Stdout)
		}
	}
}

func TestDeterministic(t *testing.T) {
	r, prog := testRunner(t)
	run := func(r *Runner, m *Module, u Unit) string {
		t.Helper()
		res, err := r.Run(testCtx(t), m, u, Limits{})
		if err != nil {
			t.Fatal(err)
		}
		return string(res.Stdout)
	}
	u := Unit{Args: []string{"entropy", "1"}}
	a := run(r, prog, u)
	if !strings.HasPrefix(a, "rand=") {
		t.Fatalf("stdout %q", a)
	}
	if b := run(r, prog, u); a != b {
		t.Fatalf("same unit, different output: %q vs %q", a, b)
	}
	// Another runner (another worker) gives the same output.
	other := newRunner(t, RunnerConfig{CacheDir: cacheDir})
	if b := run(other, compile(t, other, sandboxtest.BuildWasm(t, "testdata/testprog")), u); a != b {
		t.Fatalf("other runner: %q vs %q", a, b)
	}
	// Other arguments or an explicit seed change the random bytes.
	if b := run(r, prog, Unit{Args: []string{"entropy", "2"}}); a[:37] == b[:37] {
		t.Fatalf("different units, same random bytes: %q", a)
	}
	if b := run(r, prog, Unit{Args: u.Args, Seed: []byte("x")}); a[:37] == b[:37] {
		t.Fatalf("explicit seed ignored: %q", a)
	}
}

func TestCompileCache(t *testing.T) {
	testRunner(t) // fills the shared cache directory
	r := newRunner(t, RunnerConfig{CacheDir: cacheDir})
	ctx := testCtx(t)
	wasm := sandboxtest.BuildWasm(t, "testdata/testprog")
	start := time.Now()
	first := compile(t, r, wasm)
	load := time.Since(start)
	start = time.Now()
	second := compile(t, r, slices.Clone(wasm))
	hit := time.Since(start)
	if first != second {
		t.Fatal("second Compile of the same bytes returned another module")
	}
	if hit >= load {
		t.Fatalf("cache hit took %v, loading from the compilation cache %v", hit, load)
	}
	if first.Hash() != second.Hash() || first.Size() != len(wasm) {
		t.Fatal("hash or size mismatch")
	}
	t.Logf("load from disk cache %v, in-memory hit %v", load, hit)

	// Concurrent compilations of new bytes share one module.
	var wg sync.WaitGroup
	mods := make([]*Module, 4)
	for i := range mods {
		wg.Go(func() {
			m, err := r.Compile(ctx, wasmLoop)
			if err != nil {
				t.Error(err)
			}
			mods[i] = m
		})
	}
	wg.Wait()
	for _, m := range mods {
		if m != mods[0] {
			t.Fatal("concurrent compiles returned different modules")
		}
	}
}

func TestEviction(t *testing.T) {
	r := newRunner(t, RunnerConfig{MaxModules: 1})
	ctx := testCtx(t)
	nop := compile(t, r, wasmNop)
	trap := compile(t, r, wasmUnreachable) // evicts nop
	r.mu.Lock()
	n, evicted := len(r.modules), nop.compiled == nil
	r.mu.Unlock()
	if n != 1 || !evicted {
		t.Fatalf("%d modules cached, nop evicted %v", n, evicted)
	}
	// An evicted module still runs (compiled again).
	if _, err := r.Run(ctx, nop, Unit{}, Limits{}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Run(ctx, trap, Unit{}, Limits{}); !errors.Is(err, ErrTrap) {
		t.Fatalf("err = %v, want ErrTrap", err)
	}
}

func TestSurvivesBadModules(t *testing.T) {
	r, prog := testRunner(t)
	ctx := testCtx(t)
	lim := Limits{MemoryBytes: 32 << 20, Timeout: 20 * time.Second, MaxOutput: 1 << 16}
	short := lim
	short.Timeout = 200 * time.Millisecond
	bad := []struct {
		m    *Module
		u    Unit
		lim  Limits
		want error
	}{
		{compile(t, r, wasmUnreachable), Unit{}, lim, ErrTrap},
		{compile(t, r, wasmLoop), Unit{}, short, ErrTimeout},
		{compile(t, r, wasmGrow), Unit{}, lim, ErrMemory},
		{prog, Unit{Args: []string{"alloc"}}, lim, ErrMemory},
		{prog, Unit{Args: []string{"spam"}}, lim, ErrOutputTooLarge},
	}
	goroutines := runtime.NumGoroutine()
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for round := range 2 {
		var wg sync.WaitGroup
		for _, b := range bad {
			wg.Go(func() {
				if _, err := r.Run(ctx, b.m, b.u, b.lim); !errors.Is(err, b.want) {
					t.Errorf("round %d: err = %v, want %v", round, err, b.want)
				}
			})
		}
		wg.Wait()
	}
	res, err := r.Run(ctx, prog, Unit{Stdin: []byte("still alive"), Args: []string{"echo"}}, Limits{})
	if err != nil || string(res.Stdout) != "still alive" {
		t.Fatalf("good module after bad ones: %v, %q", err, res.Stdout)
	}
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	// 10 runs touched up to 32 MiB each; none of it may stay reachable.
	if grew := int64(after.HeapAlloc) - int64(before.HeapAlloc); grew > 16<<20 {
		t.Fatalf("heap grew by %d bytes", grew)
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > goroutines && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > goroutines {
		t.Fatalf("%d goroutines after the runs, %d before", n, goroutines)
	}
}

func TestClose(t *testing.T) {
	r, err := NewRunner(context.Background(), RunnerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	loop := compile(t, r, wasmLoop)
	errc := make(chan error, 1)
	go func() {
		_, err := r.Run(ctx, loop, Unit{}, Limits{Timeout: 20 * time.Second})
		errc <- err
	}()
	time.Sleep(100 * time.Millisecond)
	if err := r.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; !errors.Is(err, ErrClosed) {
		t.Fatalf("running unit: err = %v, want ErrClosed", err)
	}
	if _, err := r.Compile(ctx, wasmNop); !errors.Is(err, ErrClosed) {
		t.Fatalf("Compile after Close: %v", err)
	}
	if _, err := r.Run(ctx, loop, Unit{}, Limits{}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Run after Close: %v", err)
	}
	if err := r.Close(ctx); !errors.Is(err, ErrClosed) {
		t.Fatalf("second Close: %v", err)
	}
}

func TestInvalidInput(t *testing.T) {
	r, _ := testRunner(t)
	nop := compile(t, r, wasmNop)
	ctx := testCtx(t)
	for _, u := range []Unit{
		{Env: map[string]string{"A=B": "c"}},
		{Env: map[string]string{"": "c"}},
		{Env: map[string]string{"A": "c\x00"}},
		{Args: []string{"a\x00b"}},
	} {
		if _, err := r.Run(ctx, nop, u, Limits{}); !errors.Is(err, ErrInvalidUnit) {
			t.Errorf("unit %+v: err = %v, want ErrInvalidUnit", u, err)
		}
	}
	small := newRunner(t, RunnerConfig{MaxMemoryBytes: 16 << 20})
	m := compile(t, small, wasmNop)
	if _, err := small.Run(ctx, m, Unit{}, Limits{}); err == nil {
		t.Fatal("default 256 MiB limit accepted by a runner with a 16 MiB ceiling")
	}
	if _, err := small.Run(ctx, m, Unit{}, Limits{MemoryBytes: 16 << 20}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Run(ctx, m, Unit{}, Limits{}); err == nil {
		t.Fatal("module of another runner accepted")
	}
	if _, err := small.Run(ctx, m, Unit{}, Limits{MemoryBytes: 1 << 20, Timeout: -1}); err == nil {
		t.Fatal("negative timeout accepted")
	}
}

func TestCacheDir(t *testing.T) {
	dir := t.TempDir()
	r := newRunner(t, RunnerConfig{CacheDir: dir})
	m := compile(t, r, wasmUnreachable)
	if _, err := r.Run(testCtx(t), m, Unit{}, Limits{}); !errors.Is(err, ErrTrap) {
		t.Fatalf("err = %v", err)
	}
	if err := r.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	// A new runner on the same directory loads the compiled code.
	r2 := newRunner(t, RunnerConfig{CacheDir: dir})
	m2 := compile(t, r2, wasmUnreachable)
	if _, err := r2.Run(testCtx(t), m2, Unit{}, Limits{}); !errors.Is(err, ErrTrap) {
		t.Fatalf("err = %v", err)
	}
}

// TestRuntimeBuiltOnFirstCompile checks that NewRunner leaves the wazero
// runtime unbuilt (an idle node never pays for it), that the first Compile
// builds it, and that a runner closed before any Compile closes cleanly
// and then refuses to build one.
func TestRuntimeBuiltOnFirstCompile(t *testing.T) {
	r := newRunner(t, RunnerConfig{})
	if r.rt != nil {
		t.Fatal("NewRunner built the runtime")
	}
	m := compile(t, r, wasiEcho)
	if r.rt == nil {
		t.Fatal("no runtime after Compile")
	}
	res, err := r.Run(testCtx(t), m, Unit{Stdin: []byte("x")}, Limits{})
	if err != nil || string(res.Stdout) != "x" {
		t.Fatalf("Run: %v, %q", err, res.Stdout)
	}

	idle, err := NewRunner(context.Background(), RunnerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if err := idle.Close(context.Background()); err != nil {
		t.Fatalf("Close of a runner that compiled nothing: %v", err)
	}
	if idle.rt != nil {
		t.Fatal("Close built a runtime")
	}
	if _, err := idle.runtime(); !errors.Is(err, ErrClosed) {
		t.Fatalf("runtime after Close: %v, want ErrClosed", err)
	}
}
