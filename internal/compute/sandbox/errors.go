package sandbox

import "errors"

// Failure reasons returned (wrapped) by [Runner.Compile] and [Runner.Run].
// Test for them with errors.Is; the wrapping error's message carries the
// details (trap message, exit code, sizes).
var (
	// ErrInvalidModule is returned by [Runner.Compile] when the bytes are not
	// a valid WebAssembly module, are too large, or are not a WASI preview 1
	// command (it must export "_start", may import only from
	// "wasi_snapshot_preview1", and must fit its initial memory in the
	// runner's ceiling).
	ErrInvalidModule = errors.New("invalid module")

	// ErrInvalidUnit is returned by [Runner.Run] when the unit cannot be
	// passed to a guest: an argument or environment entry contains NUL, or
	// an environment key is empty or contains '='.
	ErrInvalidUnit = errors.New("invalid unit")

	// ErrTimeout is returned by [Runner.Run] when the unit ran longer than
	// [Limits.Timeout].
	ErrTimeout = errors.New("time limit exceeded")

	// ErrMemory is returned by [Runner.Run] when the unit failed after the
	// sandbox refused to grow its memory past [Limits.MemoryBytes], or when
	// the module's initial memory alone exceeds the limit.
	ErrMemory = errors.New("memory limit exceeded")

	// ErrTrap is returned by [Runner.Run] when the guest trapped
	// (unreachable, out-of-bounds access, integer divide by zero, stack
	// overflow...). The message includes wazero's description and the wasm
	// stack trace.
	ErrTrap = errors.New("trap")

	// ErrExit is returned by [Runner.Run] when the guest exited with a
	// non-zero exit code; [Result.ExitCode] holds it.
	ErrExit = errors.New("non-zero exit code")

	// ErrOutputTooLarge is returned by [Runner.Run] when the guest wrote more
	// than [Limits.MaxOutput] bytes to stdout or more than
	// [Limits.MaxStderr] bytes to stderr. The guest is stopped at the first
	// write past the cap; the captured output is truncated at the cap.
	ErrOutputTooLarge = errors.New("output too large")

	// ErrClosed is returned by [Runner.Compile] and [Runner.Run] after
	// [Runner.Close] was called, including by units that were running when
	// the runner closed.
	ErrClosed = errors.New("runner closed")
)
