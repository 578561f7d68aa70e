package sandbox

import (
	"encoding/binary"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/zeebo/blake3"
)

// Default limits applied by [Limits] fields left at zero.
const (
	DefaultMemoryBytes = 256 << 20
	DefaultTimeout     = 60 * time.Second
	DefaultMaxOutput   = 64 << 20
	DefaultMaxStderr   = 1 << 20
)

// pageSize is the size of a WebAssembly memory page.
const pageSize = 64 << 10

// Limits bounds the resources of one unit run. The zero value of each field
// selects its default.
type Limits struct {
	// MemoryBytes caps the guest's linear memory. It is rounded up to a whole
	// number of 64 KiB pages. Zero means DefaultMemoryBytes (256 MiB). It may
	// not exceed the runner's [RunnerConfig.MaxMemoryBytes].
	MemoryBytes uint64
	// Timeout is the wall-clock budget of the run, instantiation included.
	// Zero means DefaultTimeout (60 s).
	Timeout time.Duration
	// MaxOutput caps stdout in bytes. Zero means DefaultMaxOutput (64 MiB).
	MaxOutput int64
	// MaxStderr caps stderr in bytes. Zero means DefaultMaxStderr (1 MiB).
	MaxStderr int64
}

// withDefaults fills zero fields and checks the others against ceiling.
func (l Limits) withDefaults(ceiling uint64) (Limits, error) {
	if l.MemoryBytes == 0 {
		l.MemoryBytes = DefaultMemoryBytes
	}
	if l.Timeout == 0 {
		l.Timeout = DefaultTimeout
	}
	if l.MaxOutput == 0 {
		l.MaxOutput = DefaultMaxOutput
	}
	if l.MaxStderr == 0 {
		l.MaxStderr = DefaultMaxStderr
	}
	switch {
	case l.Timeout < 0:
		return l, fmt.Errorf("sandbox: negative timeout %v", l.Timeout)
	case l.MaxOutput < 0 || l.MaxStderr < 0:
		return l, fmt.Errorf("sandbox: negative output cap (stdout %d, stderr %d)", l.MaxOutput, l.MaxStderr)
	}
	l.MemoryBytes = roundPages(l.MemoryBytes)
	if l.MemoryBytes > ceiling {
		return l, fmt.Errorf("sandbox: memory limit %d bytes exceeds the runner's ceiling %d", l.MemoryBytes, ceiling)
	}
	return l, nil
}

// roundPages rounds n up to a multiple of the wasm page size.
func roundPages(n uint64) uint64 {
	if n > maxWasmMemory {
		return maxWasmMemory
	}
	return (n + pageSize - 1) / pageSize * pageSize
}

// Unit is one run's input.
type Unit struct {
	// Stdin is the guest's standard input; nil means empty.
	Stdin []byte
	// Args follow argv[0], which is always "unit".
	Args []string
	// Env is the guest's whole environment. Keys must be non-empty and
	// contain neither '=' nor NUL.
	Env map[string]string
	// Seed keys the guest's random source (WASI random_get). When nil, the
	// seed is derived from the module's hash, Args, Env and Stdin, so the same
	// unit of the same module sees the same "random" bytes on every worker:
	// results stay reproducible and replicas can be compared. A job that
	// wants different randomness per unit should vary the unit's arguments
	// (or set Seed). The random source is not secret from the job's author.
	Seed []byte
}

// env returns the environment as sorted key/value pairs so that the guest's
// environ order does not depend on map iteration.
func (u Unit) env() [][2]string {
	keys := make([]string, 0, len(u.Env))
	for k := range u.Env {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([][2]string, len(keys))
	for i, k := range keys {
		out[i] = [2]string{k, u.Env[k]}
	}
	return out
}

// randSource returns the deterministic random byte stream of this unit of
// the module with the given hash: the BLAKE3 extendable output of a
// domain-separated, length-prefixed encoding of the seed material.
func (u Unit) randSource(moduleHash [32]byte) io.Reader {
	h := blake3.NewDeriveKey("peerpath sandbox random source v1")
	var n [8]byte
	field := func(b []byte) {
		binary.LittleEndian.PutUint64(n[:], uint64(len(b)))
		_, _ = h.Write(n[:])
		_, _ = h.Write(b)
	}
	if u.Seed != nil {
		field([]byte("seed"))
		field(u.Seed)
		return h.Digest()
	}
	field([]byte("unit"))
	field(moduleHash[:])
	field([]byte(fmt.Sprint(len(u.Args))))
	for _, a := range u.Args {
		field([]byte(a))
	}
	env := u.env()
	field([]byte(fmt.Sprint(len(env))))
	for _, kv := range env {
		field([]byte(kv[0]))
		field([]byte(kv[1]))
	}
	field(u.Stdin)
	return h.Digest()
}

// Result is what a run produced. [Runner.Run] returns it with an error too,
// holding whatever the guest wrote before it failed.
type Result struct {
	// Stdout is the guest's standard output (the unit's result).
	Stdout []byte
	// Stderr is the guest's standard error, for diagnostics.
	Stderr []byte
	// ExitCode is the guest's exit code. It is meaningful when Run returned
	// no error (then it is 0) or an error wrapping ErrExit.
	ExitCode uint32
	// Duration is the wall-clock time of instantiation and execution.
	Duration time.Duration
	// PeakMemory is the largest size the guest's linear memory reached, in
	// bytes.
	PeakMemory uint64
}

// validate checks that the unit can be passed to a guest.
func (u Unit) validate() error {
	for i, a := range u.Args {
		if strings.IndexByte(a, 0) >= 0 {
			return fmt.Errorf("sandbox: %w: argument %d contains NUL", ErrInvalidUnit, i)
		}
	}
	for k, v := range u.Env {
		if k == "" || strings.ContainsAny(k, "=\x00") || strings.IndexByte(v, 0) >= 0 {
			return fmt.Errorf("sandbox: %w: environment entry %q", ErrInvalidUnit, k)
		}
	}
	return nil
}
