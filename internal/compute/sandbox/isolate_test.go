//go:build linux

package sandbox

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestIsolated runs units in child processes: same results as in-process,
// and a guest that never reaches a loop header is still stopped on time.
// It uses hand-assembled modules: a child compiles (loads) its module on
// every run, which for a Go program is slow under the race detector.
func TestIsolated(t *testing.T) {
	r := newRunner(t, RunnerConfig{Isolate: true})
	inproc := newRunner(t, RunnerConfig{})

	t.Run("echo", func(t *testing.T) {
		in := bytes.Repeat([]byte("through a child "), 1000)
		res, err := r.Run(testCtx(t), compile(t, r, wasiEcho), Unit{Stdin: in}, Limits{})
		if err != nil || !bytes.Equal(res.Stdout, in) || res.PeakMemory != pageSize {
			t.Fatalf("err %v, %d bytes out, peak %d", err, len(res.Stdout), res.PeakMemory)
		}
	})
	t.Run("same output as in-process", func(t *testing.T) {
		u := Unit{Args: []string{"5"}, Env: map[string]string{"A": "b"}}
		a, err := r.Run(testCtx(t), compile(t, r, wasiRandom), u, Limits{})
		if err != nil || len(a.Stdout) != 16 {
			t.Fatalf("isolated: %v, %q", err, a.Stdout)
		}
		b, err := inproc.Run(testCtx(t), compile(t, inproc, wasiRandom), u, Limits{})
		if err != nil || !bytes.Equal(a.Stdout, b.Stdout) {
			t.Fatalf("isolated %x, in-process %x (%v)", a.Stdout, b.Stdout, err)
		}
	})
	t.Run("empty seed", func(t *testing.T) {
		u := Unit{Seed: []byte{}}
		a, err := r.Run(testCtx(t), compile(t, r, wasiRandom), u, Limits{})
		if err != nil {
			t.Fatal(err)
		}
		b, err := inproc.Run(testCtx(t), compile(t, inproc, wasiRandom), u, Limits{})
		if err != nil || !bytes.Equal(a.Stdout, b.Stdout) {
			t.Fatalf("isolated %x, in-process %x (%v)", a.Stdout, b.Stdout, err)
		}
	})
	t.Run("exit", func(t *testing.T) {
		res, err := r.Run(testCtx(t), compile(t, r, wasiExit7), Unit{}, Limits{})
		if !errors.Is(err, ErrExit) || res.ExitCode != 7 {
			t.Fatalf("err %v, exit %d", err, res.ExitCode)
		}
	})
	t.Run("trap", func(t *testing.T) {
		_, err := r.Run(testCtx(t), compile(t, r, wasmUnreachable), Unit{}, Limits{})
		if !errors.Is(err, ErrTrap) || !strings.Contains(err.Error(), "unreachable") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("memory", func(t *testing.T) {
		_, err := r.Run(testCtx(t), compile(t, r, wasmGrow), Unit{}, Limits{MemoryBytes: 32 << 20})
		if !errors.Is(err, ErrMemory) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("output", func(t *testing.T) {
		res, err := r.Run(testCtx(t), compile(t, r, wasiSpam), Unit{}, Limits{MaxOutput: 1 << 16, Timeout: 20 * time.Second})
		if !errors.Is(err, ErrOutputTooLarge) || len(res.Stdout) != 1<<16 {
			t.Fatalf("err %v, kept %d bytes", err, len(res.Stdout))
		}
	})
	for name, wasm := range map[string][]byte{"loop": wasmLoop, "recursion": wasmExpRecursion} {
		t.Run("timeout "+name, func(t *testing.T) {
			m := compile(t, r, wasm)
			const limit = 300 * time.Millisecond
			start := time.Now()
			_, err := r.Run(testCtx(t), m, Unit{}, Limits{Timeout: limit})
			if took := time.Since(start); !errors.Is(err, ErrTimeout) || took > limit+2*time.Second {
				t.Fatalf("err %v after %v", err, took)
			}
		})
	}
	t.Run("cancel", func(t *testing.T) {
		c, cancel := context.WithCancel(testCtx(t))
		time.AfterFunc(200*time.Millisecond, cancel)
		_, err := r.Run(c, compile(t, r, wasmExpRecursion), Unit{}, Limits{Timeout: 20 * time.Second})
		if !errors.Is(err, context.Canceled) || errors.Is(err, ErrTimeout) {
			t.Fatalf("err = %v", err)
		}
	})
}

// TestIsolatedProbeChildStopped checks that the child NewRunner starts to
// probe the executable is not kept: a runner that has run nothing holds no
// child process (an idle node would hold it for ever).
func TestIsolatedProbeChildStopped(t *testing.T) {
	r := newRunner(t, RunnerConfig{Isolate: true})
	r.mu.Lock()
	n := len(r.idle)
	r.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d idle children after NewRunner, want 0", n)
	}
}

// TestIsolatedIdleChildStopped checks that a child left without a unit for
// idleChildTTL is stopped, so a worker whose jobs ended gives its memory
// back.
func TestIsolatedIdleChildStopped(t *testing.T) {
	old := idleChildTTL
	idleChildTTL = 200 * time.Millisecond
	t.Cleanup(func() { idleChildTTL = old })
	r := newRunner(t, RunnerConfig{Isolate: true})
	echo := compile(t, r, wasiEcho)
	if _, err := r.Run(testCtx(t), echo, Unit{Stdin: []byte("x")}, Limits{}); err != nil {
		t.Fatal(err)
	}
	r.mu.Lock()
	if len(r.idle) != 1 {
		r.mu.Unlock()
		t.Fatalf("%d idle children after a unit, want 1", len(r.idle))
	}
	pid := r.idle[0].cmd.Process.Pid
	r.mu.Unlock()
	// Stopped and waited for: the pid is gone.
	deadline := time.Now().Add(10 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			t.Fatal("idle child still running 10 s after its idle time")
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.mu.Lock()
	n, reaper := len(r.idle), r.reaper
	r.mu.Unlock()
	if n != 0 || reaper != nil {
		t.Fatalf("%d idle children, reaper %v, want none", n, reaper)
	}
	// The runner still works: a new child serves the next unit.
	if res, err := r.Run(testCtx(t), echo, Unit{Stdin: []byte("y")}, Limits{}); err != nil || string(res.Stdout) != "y" {
		t.Fatalf("after reaping: %v %q", err, res.Stdout)
	}
}

// TestIsolatedReuse checks that a child serves successive units of its
// module, and that a killed child is not reused.
func TestIsolatedReuse(t *testing.T) {
	r := newRunner(t, RunnerConfig{Isolate: true})
	echo := compile(t, r, wasiEcho)
	idlePids := func() []int {
		r.mu.Lock()
		defer r.mu.Unlock()
		var pids []int
		for _, c := range r.idle {
			pids = append(pids, c.cmd.Process.Pid)
		}
		return pids
	}
	var first []int
	for i := range 3 {
		in := []byte{byte('a' + i)}
		res, err := r.Run(testCtx(t), echo, Unit{Stdin: in}, Limits{})
		if err != nil || !bytes.Equal(res.Stdout, in) {
			t.Fatalf("run %d: %v, %q", i, err, res.Stdout)
		}
		pids := idlePids()
		if len(pids) != 1 || (first != nil && pids[0] != first[0]) {
			t.Fatalf("run %d: idle children %v, first %v", i, pids, first)
		}
		first = pids
	}
	// Another module gets its own child.
	if _, err := r.Run(testCtx(t), compile(t, r, wasiRandom), Unit{}, Limits{}); err != nil {
		t.Fatal(err)
	}
	if n := len(idlePids()); n != 2 {
		t.Fatalf("%d idle children, want 2", n)
	}
	// A child killed for its timeout is gone.
	if _, err := r.Run(testCtx(t), compile(t, r, wasmLoop), Unit{}, Limits{Timeout: 100 * time.Millisecond}); !errors.Is(err, ErrTimeout) {
		t.Fatalf("err = %v", err)
	}
	if n := len(idlePids()); n != 2 {
		t.Fatalf("%d idle children after a timeout, want 2", n)
	}
}

// TestIsolatedClose checks that closing the runner kills running children.
func TestIsolatedClose(t *testing.T) {
	r, err := NewRunner(context.Background(), RunnerConfig{Isolate: true})
	if err != nil {
		t.Fatal(err)
	}
	m := compile(t, r, wasmExpRecursion)
	errc := make(chan error, 1)
	go func() {
		_, err := r.Run(testCtx(t), m, Unit{}, Limits{Timeout: 20 * time.Second})
		errc <- err
	}()
	time.Sleep(300 * time.Millisecond)
	start := time.Now()
	if err := r.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; !errors.Is(err, ErrClosed) || time.Since(start) > 5*time.Second {
		t.Fatalf("err = %v after %v", err, time.Since(start))
	}
}

// TestIsolatedNeedsServeChild checks that NewRunner refuses an executable
// that does not serve as a child.
func TestIsolatedNeedsServeChild(t *testing.T) {
	for _, exe := range []string{"/bin/true", "/nonexistent/peerpath"} {
		r, err := newIsolatedRunner(context.Background(), RunnerConfig{Isolate: true}, exe)
		if err == nil {
			_ = r.Close(context.Background())
			t.Fatalf("%s accepted as a sandbox child", exe)
		}
	}
}
