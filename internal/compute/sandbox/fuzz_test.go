package sandbox

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// FuzzCompile feeds arbitrary bytes to Compile: it must never panic, must
// reject what is not a valid WASI command with ErrInvalidModule, and what it
// accepts must run (briefly, under tight limits) without harming the runner.
func FuzzCompile(f *testing.F) {
	for _, seed := range [][]byte{
		nil, []byte("\x00asm"), wasmNop[:8], wasmNop, wasmUnreachable, wasmLoop,
		wasmGrow, wasmNoStart, wasmEnvImport, wasmBigMemory,
	} {
		f.Add(seed)
	}
	var (
		once sync.Once
		r    *Runner
		err  error
	)
	f.Cleanup(func() {
		if r != nil {
			_ = r.Close(context.Background())
		}
	})
	f.Fuzz(func(t *testing.T, wasm []byte) {
		once.Do(func() {
			r, err = NewRunner(context.Background(), RunnerConfig{MaxMemoryBytes: 64 << 20, MaxModules: 4})
		})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		m, err := r.Compile(ctx, wasm)
		if err != nil {
			if !errors.Is(err, ErrInvalidModule) {
				t.Fatalf("compile error not ErrInvalidModule: %v", err)
			}
			return
		}
		if m.Size() != len(wasm) {
			t.Fatalf("module size %d, input %d", m.Size(), len(wasm))
		}
		_, err = r.Run(ctx, m, Unit{}, Limits{MemoryBytes: 16 << 20, Timeout: 50 * time.Millisecond, MaxOutput: 1 << 10, MaxStderr: 1 << 10})
		switch {
		case err == nil, errors.Is(err, ErrTimeout), errors.Is(err, ErrMemory), errors.Is(err, ErrTrap),
			errors.Is(err, ErrExit), errors.Is(err, ErrOutputTooLarge):
		default:
			t.Fatalf("run: unexpected error %v", err)
		}
	})
}
