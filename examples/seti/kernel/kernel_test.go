package kernel

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestFFTMatchesDFT(t *testing.T) {
	const n = 64
	rng := rand.New(rand.NewPCG(3, 4))
	re, im := make([]float64, n), make([]float64, n)
	for i := range re {
		re[i], im[i] = rng.NormFloat64(), rng.NormFloat64()
	}
	wantRe, wantIm := make([]float64, n), make([]float64, n)
	for k := range n {
		for t := range n {
			a := -2 * math.Pi * float64(k*t) / n
			wantRe[k] += re[t]*math.Cos(a) - im[t]*math.Sin(a)
			wantIm[k] += re[t]*math.Sin(a) + im[t]*math.Cos(a)
		}
	}
	fft(re, im, sineTable(n))
	for k := range n {
		if math.Abs(re[k]-wantRe[k]) > 1e-9 || math.Abs(im[k]-wantIm[k]) > 1e-9 {
			t.Fatalf("bin %d: fft (%g, %g), dft (%g, %g)", k, re[k], im[k], wantRe[k], wantIm[k])
		}
	}
}

func TestFFTPureTone(t *testing.T) {
	const n, bin = 256, 37
	sin := sineTable(n)
	re, im := make([]float64, n), make([]float64, n)
	for t := range n {
		re[t] = sin[bin*t%n]
	}
	fft(re, im, sin)
	for k := range n {
		power := re[k]*re[k] + im[k]*im[k]
		want := 0.0
		if k == bin || k == n-bin {
			want = n * n / 4
		}
		if math.Abs(power-want) > 1e-6 {
			t.Fatalf("bin %d: power %g, want %g", k, power, want)
		}
	}
}

func TestNoiseStatistics(t *testing.T) {
	p := Params{ChunkSize: 1024, Chunks: 64, Seed: 9}
	x := Samples(p, 2) // unit 2 of seed 9 carries no signal (checked below)
	if _, _, ok := Signal(p, 2); ok {
		t.Fatal("test assumes unit 2 has no signal")
	}
	var sum, sq float64
	for _, v := range x {
		sum += v
		sq += v * v
	}
	mean, variance := sum/float64(len(x)), sq/float64(len(x))
	if math.Abs(mean) > 0.02 || math.Abs(variance-1) > 0.03 {
		t.Fatalf("noise mean %g variance %g, want 0 and 1", mean, variance)
	}
}

// TestSearchFindsHiddenSignal checks, over many units, that every unit the
// generator gave a signal is reported with its chunk and bin, and that no
// noise-only unit is.
func TestSearchFindsHiddenSignal(t *testing.T) {
	p := DefaultParams()
	signals := 0
	minSignal, maxNoise := math.Inf(1), 0.0
	for u := range uint64(120) {
		hit, err := Search(p, Samples(p, u))
		if err != nil {
			t.Fatal(err)
		}
		chunk, bin, ok := Signal(p, u)
		if ok {
			signals++
			minSignal = min(minSignal, hit.Ratio)
			if !hit.Detected() || hit.Chunk != chunk || hit.Bin != bin {
				t.Errorf("unit %d: signal at chunk %d bin %d, search found %+v", u, chunk, bin, hit)
			}
		} else {
			maxNoise = max(maxNoise, hit.Ratio)
			if hit.Detected() {
				t.Errorf("unit %d: no signal, search reported %+v", u, hit)
			}
		}
	}
	if signals < 15 {
		t.Fatalf("only %d of 120 units carry a signal", signals)
	}
	t.Logf("%d signals, weakest ratio %.1f; strongest noise ratio %.1f (threshold %d)", signals, minSignal, maxNoise, Threshold)
}

func TestRun(t *testing.T) {
	p := DefaultParams()
	var withSignal, without uint64
	found := 0
	for u := uint64(0); found < 3; u++ {
		if _, _, ok := Signal(p, u); ok && found&1 == 0 {
			withSignal, found = u, found|1
		} else if !ok && found&2 == 0 {
			without, found = u, found|2
		}
	}
	chunk, bin, _ := Signal(p, withSignal)
	out, err := Run([]string{fmt.Sprint(withSignal)}, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("unit=%d chunk=%d bin=%d ratio=", withSignal, chunk, bin)
	if !strings.HasPrefix(string(out), want) || !strings.HasSuffix(string(out), " signal=yes\n") {
		t.Fatalf("output %q, want %q... signal=yes", out, want)
	}
	out, err = Run(nil, func(k string) string {
		if k == "PEERPATH_UNIT" {
			return fmt.Sprint(without)
		}
		return ""
	})
	if err != nil || !strings.HasSuffix(string(out), " signal=no\n") {
		t.Fatalf("noise unit: %q, %v", out, err)
	}
	for _, bad := range [][]string{{"-chunk", "1000", "1"}, {"-chunks", "0", "1"}, {"x"}} {
		if _, err := Run(bad, func(string) string { return "" }); err == nil {
			t.Errorf("Run(%v) succeeded", bad)
		}
	}
}
