package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/peerpath/peerpath/examples/internal/jobtest"
	"github.com/peerpath/peerpath/examples/seti/kernel"
)

func TestMain(m *testing.M) { jobtest.Main(m) }

// TestWasmMatchesNative runs a unit with a hidden signal and one without in
// the sandbox and natively: byte-identical output, and the signal reported
// where the generator put it.
func TestWasmMatchesNative(t *testing.T) {
	job := jobtest.Load(t, ".")
	p := kernel.DefaultParams()
	checked := map[bool]bool{}
	for u := uint64(0); len(checked) < 2; u++ {
		chunk, bin, ok := kernel.Signal(p, u)
		if checked[ok] {
			continue
		}
		checked[ok] = true
		out := string(job.Compare(t, kernel.Run, jobtest.Unit(u, nil, nil)))
		if ok {
			want := fmt.Sprintf("unit=%d chunk=%d bin=%d ", u, chunk, bin)
			if !strings.HasPrefix(out, want) || !strings.HasSuffix(out, "signal=yes\n") {
				t.Fatalf("signal unit %d: %q, want %q... signal=yes", u, out, want)
			}
		} else if !strings.HasSuffix(out, "signal=no\n") {
			t.Fatalf("noise unit %d: %q", u, out)
		}
	}
	// Another seed and chunking, through flags.
	job.Compare(t, kernel.Run, jobtest.Unit(3, []string{"-seed", "7", "-chunk", "1024", "-chunks", "8"}, nil))
}

// BenchmarkWasmVsNative reports the wasm/native time ratio of one default
// unit (16 FFTs of 4096 samples, plus generating the samples).
func BenchmarkWasmVsNative(b *testing.B) {
	job := jobtest.Load(b, ".")
	job.Ratio(b, kernel.Run, jobtest.Unit(9, nil, nil))
}

// BenchmarkIsolatedVsNative is BenchmarkWasmVsNative with each unit run in a
// child process (no loop checks, plus process start and module load).
func BenchmarkIsolatedVsNative(b *testing.B) {
	job := jobtest.LoadIsolated(b, ".")
	job.Ratio(b, kernel.Run, jobtest.Unit(9, nil, nil))
}
