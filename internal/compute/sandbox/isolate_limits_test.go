//go:build linux

package sandbox

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
)

// softLimit reads the soft limit named name ("Max data size") of pid.
func softLimit(t *testing.T, pid int, name string) uint64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, name); ok {
			f := strings.Fields(rest)
			v, err := strconv.ParseUint(f[0], 10, 64)
			if err != nil {
				t.Fatalf("%s: %q", name, line)
			}
			return v
		}
	}
	t.Fatalf("no %q in /proc/%d/limits", name, pid)
	return 0
}

// TestIsolatedChildLimited checks that a child is bounded as a whole before
// it runs a unit, and that a child that runs out of memory under that
// bound is reported as ErrMemory.
func TestIsolatedChildLimited(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector's shadow memory does not fit the limits; run without -race")
	}
	r := newRunner(t, RunnerConfig{Isolate: true})
	const mem = 32 << 20
	if _, err := r.Run(testCtx(t), compile(t, r, wasiEcho), Unit{Stdin: []byte("x")}, Limits{MemoryBytes: mem}); err != nil {
		t.Fatal(err)
	}
	r.mu.Lock()
	pid := r.idle[0].cmd.Process.Pid
	r.mu.Unlock()
	data, vsize, err := childUsage(pid)
	if err != nil {
		t.Fatal(err)
	}
	// The limits were set from the child's usage before the unit (which
	// loading the module raised), so they lie between the unit's memory
	// plus the headroom and that plus what the child holds now.
	echoSize := int64(len(wasiEcho))
	for _, c := range []struct {
		name     string
		held     uint64
		headroom int64
	}{{"Max data size", data, childDataHeadroom + childModuleFactor*echoSize}, {"Max address space", vsize, childAddressHeadroom}} {
		got := softLimit(t, pid, c.name)
		if lo, hi := uint64(mem+c.headroom), c.held+mem+uint64(c.headroom); got < lo || got > hi {
			t.Errorf("%s: %d MiB, want %d to %d MiB", c.name, got>>20, lo>>20, hi>>20)
		}
	}

	// With no headroom left, the child dies for want of memory: ErrMemory.
	old := childDataHeadroom
	childDataHeadroom = -int64(data)
	t.Cleanup(func() { childDataHeadroom = old })
	_, err = r.Run(testCtx(t), compile(t, r, wasmGrow), Unit{}, Limits{MemoryBytes: mem})
	if !errors.Is(err, ErrMemory) {
		t.Fatalf("a child over its data limit: %v, want ErrMemory", err)
	}
}
