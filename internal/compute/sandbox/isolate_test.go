package sandbox

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/peerpath/peerpath/internal/compute/sandbox/sandboxtest"
)

// TestIsolated runs units in child processes: same results as in-process,
// and a guest that never reaches a loop header is still stopped on time.
func TestIsolated(t *testing.T) {
	r := newRunner(t, RunnerConfig{Isolate: true, CacheDir: cacheDir})
	prog := compile(t, r, sandboxtest.BuildWasm(t, "testdata/testprog"))
	ctx := testCtx(t)

	t.Run("echo", func(t *testing.T) {
		res, err := r.Run(ctx, prog, Unit{Stdin: []byte("through a child"), Args: []string{"echo"}}, Limits{})
		if err != nil || string(res.Stdout) != "through a child" || res.PeakMemory == 0 {
			t.Fatalf("err %v, stdout %q, peak %d", err, res.Stdout, res.PeakMemory)
		}
	})
	t.Run("same output as in-process", func(t *testing.T) {
		inproc, iprog := testRunner(t)
		u := Unit{Args: []string{"entropy", "5"}, Env: map[string]string{"A": "b"}}
		a, err := r.Run(ctx, prog, u, Limits{})
		if err != nil {
			t.Fatal(err)
		}
		b, err := inproc.Run(ctx, iprog, u, Limits{})
		if err != nil || !bytes.Equal(a.Stdout, b.Stdout) {
			t.Fatalf("isolated %q, in-process %q (%v)", a.Stdout, b.Stdout, err)
		}
	})
	t.Run("exit", func(t *testing.T) {
		res, err := r.Run(ctx, prog, Unit{Args: []string{"exit", "7"}}, Limits{})
		if !errors.Is(err, ErrExit) || res.ExitCode != 7 || !strings.Contains(string(res.Stderr), "exiting with 7") {
			t.Fatalf("err %v, exit %d, stderr %q", err, res.ExitCode, res.Stderr)
		}
	})
	t.Run("trap", func(t *testing.T) {
		_, err := r.Run(ctx, compile(t, r, wasmUnreachable), Unit{}, Limits{})
		if !errors.Is(err, ErrTrap) || !strings.Contains(err.Error(), "unreachable") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("memory", func(t *testing.T) {
		_, err := r.Run(ctx, prog, Unit{Args: []string{"alloc"}}, Limits{MemoryBytes: 32 << 20})
		if !errors.Is(err, ErrMemory) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("output", func(t *testing.T) {
		res, err := r.Run(ctx, prog, Unit{Args: []string{"spam"}}, Limits{MaxOutput: 1 << 16, Timeout: 20 * time.Second})
		if !errors.Is(err, ErrOutputTooLarge) || len(res.Stdout) != 1<<16 {
			t.Fatalf("err %v, kept %d bytes", err, len(res.Stdout))
		}
	})
	for name, wasm := range map[string][]byte{"loop": wasmLoop, "recursion": wasmExpRecursion} {
		t.Run("timeout "+name, func(t *testing.T) {
			m := compile(t, r, wasm)
			const limit = 300 * time.Millisecond
			start := time.Now()
			_, err := r.Run(ctx, m, Unit{}, Limits{Timeout: limit})
			if took := time.Since(start); !errors.Is(err, ErrTimeout) || took > limit+2*time.Second {
				t.Fatalf("err %v after %v", err, took)
			}
		})
	}
	t.Run("cancel", func(t *testing.T) {
		c, cancel := context.WithCancel(ctx)
		time.AfterFunc(200*time.Millisecond, cancel)
		_, err := r.Run(c, compile(t, r, wasmExpRecursion), Unit{}, Limits{Timeout: 20 * time.Second})
		if !errors.Is(err, context.Canceled) || errors.Is(err, ErrTimeout) {
			t.Fatalf("err = %v", err)
		}
	})
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
