package main

import (
	"testing"

	"github.com/peerpath/peerpath/examples/internal/jobtest"
	"github.com/peerpath/peerpath/examples/primes/kernel"
)

func TestMain(m *testing.M) { jobtest.Main(m) }

// TestWasmMatchesNative runs units through the sandbox and natively and
// requires byte-identical output.
func TestWasmMatchesNative(t *testing.T) {
	job := jobtest.Load(t, ".")
	cases := []struct {
		unit  uint64
		flags []string
		env   map[string]string
		want  string
	}{
		{0, nil, nil, "78498\n"},                     // pi(10^6)
		{1, nil, nil, "70435\n"},                     // pi(2*10^6) - pi(10^6)
		{3, []string{"-span", "1000"}, nil, "120\n"}, // pi(4000) - pi(3000) = 550 - 430
		{1, nil, map[string]string{kernel.SpanEnv: "1000"}, "135\n"},
		{1_000_000, []string{"-span", "100000"}, nil, ""}, // [10^11, 10^11+10^5): native decides
	}
	for _, c := range cases {
		out := job.Compare(t, kernel.Run, jobtest.Unit(c.unit, c.flags, c.env))
		if c.want != "" && string(out) != c.want {
			t.Errorf("unit %d %v %v: %q, want %q", c.unit, c.flags, c.env, out, c.want)
		}
	}
}

// BenchmarkWasmVsNative reports the wasm/native time ratio of one unit of
// 10^7 integers near 10^10.
func BenchmarkWasmVsNative(b *testing.B) {
	job := jobtest.Load(b, ".")
	job.Ratio(b, kernel.Run, jobtest.Unit(1000, []string{"-span", "10000000"}, nil))
}

// BenchmarkIsolatedVsNative is BenchmarkWasmVsNative with each unit run in a
// child process (no loop checks, plus process start and module load).
func BenchmarkIsolatedVsNative(b *testing.B) {
	job := jobtest.LoadIsolated(b, ".")
	job.Ratio(b, kernel.Run, jobtest.Unit(1000, []string{"-span", "10000000"}, nil))
}
