package kernel

import (
	"math/rand/v2"
	"testing"
)

// trialCount counts primes in [lo, hi) by trial division.
func trialCount(lo, hi uint64) uint64 {
	var n uint64
	for x := lo; x < hi; x++ {
		if x < 2 {
			continue
		}
		prime := true
		for d := uint64(2); d*d <= x; d++ {
			if x%d == 0 {
				prime = false
				break
			}
		}
		if prime {
			n++
		}
	}
	return n
}

func TestCountKnown(t *testing.T) {
	// pi(10^6) = 78498, pi(2*10^6) = 148933, pi(10^7) = 664579.
	cases := []struct{ lo, hi, want uint64 }{
		{0, 0, 0}, {0, 2, 0}, {0, 3, 1}, {2, 3, 1}, {3, 4, 1}, {0, 10, 4}, {0, 100, 25},
		{0, 1_000_000, 78498}, {1_000_000, 2_000_000, 148933 - 78498}, {0, 10_000_000, 664579},
	}
	for _, c := range cases {
		if got := Count(c.lo, c.hi); got != c.want {
			t.Errorf("Count(%d, %d) = %d, want %d", c.lo, c.hi, got, c.want)
		}
	}
}

func TestCountMatchesTrialDivision(t *testing.T) {
	// Small ranges: compare with prefix counts of a plain sieve.
	const limit = 1 << 22
	composite := make([]bool, limit)
	prefix := make([]uint64, limit+1) // prefix[x] = primes below x
	for x := uint64(2); x < limit; x++ {
		prefix[x+1] = prefix[x]
		if composite[x] {
			continue
		}
		prefix[x+1]++
		for m := x * x; m < limit; m += x {
			composite[m] = true
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 300 {
		lo := rng.Uint64N(limit)
		hi := min(limit, lo+rng.Uint64N(3*blockOdds))
		if got, want := Count(lo, hi), prefix[hi]-prefix[lo]; got != want {
			t.Fatalf("Count(%d, %d) = %d, sieve %d", lo, hi, got, want)
		}
	}
	// Large starting points: short ranges by trial division.
	for range 10 {
		lo := rng.Uint64N(1 << 40)
		hi := lo + 300
		if got, want := Count(lo, hi), trialCount(lo, hi); got != want {
			t.Fatalf("Count(%d, %d) = %d, trial division %d", lo, hi, got, want)
		}
	}
	// Units tile the integers: their counts add up.
	var sum uint64
	for u := range uint64(10) {
		lo, hi, err := Range(u, 100_000)
		if err != nil {
			t.Fatal(err)
		}
		sum += Count(lo, hi)
	}
	if sum != 78498 {
		t.Fatalf("ten units of 100000 count %d primes, want 78498", sum)
	}
}

func TestRun(t *testing.T) {
	env := map[string]string{"PEERPATH_UNIT": "1", SpanEnv: "1000"}
	getenv := func(k string) string { return env[k] }
	cases := []struct {
		args []string
		want string
	}{
		{nil, "135\n"},           // pi(2000) - pi(1000) = 303 - 168
		{[]string{"0"}, "168\n"}, // argument beats the environment
		{[]string{"-span", "100", "0"}, "25\n"},
	}
	for _, c := range cases {
		out, err := Run(c.args, getenv)
		if err != nil || string(out) != c.want {
			t.Errorf("Run(%v) = %q, %v; want %q", c.args, out, err, c.want)
		}
	}
	for _, bad := range [][]string{{"x"}, {"-span", "-1", "1"}, {"-span", "1", "281474976710656"}} {
		if _, err := Run(bad, func(string) string { return "" }); err == nil {
			t.Errorf("Run(%v) succeeded", bad)
		}
	}
}

func BenchmarkCount(b *testing.B) {
	for b.Loop() {
		Count(1_000_000_000, 1_001_000_000)
	}
}
