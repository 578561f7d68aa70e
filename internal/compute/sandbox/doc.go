// Package sandbox runs untrusted WebAssembly jobs from other peers.
//
// A job is a WASI preview 1 command module (for example a Go program built
// with GOOS=wasip1 GOARCH=wasm). A unit of work runs the module once: the
// unit's input bytes are its stdin, its Args follow argv[0] = "unit", its Env
// is the whole environment, and its result is what it writes to stdout.
//
// # Deny by default
//
// The guest gets nothing the unit does not give it:
//
//   - no file system (no preopened directories, so opening "/etc/passwd"
//     fails with ENOENT/EBADF inside the guest);
//   - no network (no sockets are configured);
//   - no real clock: wall time and monotonic time are wazero's deterministic
//     fakes and sleeping returns at once, so a guest cannot measure the host;
//   - a deterministic random source (see [Unit.Seed]);
//   - linear memory capped per unit ([Limits.MemoryBytes]);
//   - a wall-clock budget ([Limits.Timeout]) enforced by closing the module
//     when its context ends (wazero's WithCloseOnContextDone), so even a
//     guest spinning in a loop without calling the host is stopped;
//   - stdout and stderr capped ([Limits.MaxOutput], [Limits.MaxStderr]); a
//     guest that writes past a cap is stopped at once.
//
// # Reproducible results
//
// Because the clock, the random source, the arguments and the input are the
// same everywhere, the same module run on the same [Unit] produces the same
// stdout on every worker (provided the module itself is deterministic, which
// WebAssembly guarantees apart from NaN bit patterns). The compute layer
// relies on this to compare replicated results byte for byte.
//
// # Memory limits
//
// wazero's memory limit (RuntimeConfig.WithMemoryLimitPages) is fixed per
// runtime, and a compiled module belongs to one runtime. Rather than keep one
// runtime (and one compiled copy of every module) per distinct limit, the
// Runner keeps one runtime whose limit is the ceiling
// [RunnerConfig.MaxMemoryBytes], and enforces each unit's own limit through
// wazero's memory allocator hook (experimental.WithMemoryAllocator): a
// memory.grow past the unit's limit is refused, as wazero would refuse it, and
// the refusal is recorded. When a unit then fails (Go's runtime exits with
// "out of memory", Rust aborts, C traps), Run reports [ErrMemory] instead of
// a generic exit or trap. A guest that copes with the refusal and succeeds is
// not failed.
//
// # Stopping runaway guests: in-process or isolated
//
// wazero cannot preempt machine code. With WithCloseOnContextDone it checks
// for termination at loop headers only, and each check leaves the machine
// code for a Go trampoline. So, in the default in-process mode:
//
//   - loop-heavy guests run much slower: the examples' units ran 12 to 80
//     times slower than native Go, against 3 to 9 times for wazero without
//     the checks (a loaded 2-core machine; see BenchmarkWasmVsNative in
//     examples/);
//   - a guest that never loops, such as an exponentially recursive
//     function, is never interrupted: its goroutine spins past the timeout.
//
// With [RunnerConfig.Isolate] each unit runs in a child process (this
// program re-executed, see [ServeChild]) compiled without the checks and
// killed when its time is up, the caller's context ends or the runner
// closes. That stops every guest, and a crash or a runaway in the child
// cannot touch the daemon. Children that finish a unit are kept (up to
// four) for the next unit of the same module, so the module is loaded once
// per child, not per unit; the examples then ran 3 to 13 times slower than
// native. NewRunner checks that the program answers as a child, so a main
// that forgot to call ServeChild fails early. Isolation is off by default
// only because it needs that call in main.
//
// wazero's on-disk cache key does not record whether the checks were
// compiled in: never point another wazero runtime at [RunnerConfig.CacheDir]
// (the runner keeps isolated code in its own subdirectory).
//
// Compile time is not bounded by ctx (wazero compiles without checking it);
// it is bounded by [RunnerConfig.MaxModuleBytes] and structural limits
// checked before wazero decodes the module (precheck.go).
//
// # Failures
//
// Run distinguishes why a unit failed with the sentinel errors [ErrTimeout],
// [ErrMemory], [ErrTrap], [ErrExit], [ErrOutputTooLarge] and
// [ErrInvalidModule] (use errors.Is). A unit stopped because the caller's
// context ended returns an error that wraps the context's error instead, and
// one stopped by [Runner.Close] wraps [ErrClosed]: neither is the module's
// fault.
package sandbox
