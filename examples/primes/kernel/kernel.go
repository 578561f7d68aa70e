// Package kernel is the core of the primes example: unit i counts the primes
// in [i*span, (i+1)*span). The same code runs natively and, through
// examples/primes, as a WebAssembly job.
package kernel

import (
	"errors"
	"flag"
	"fmt"
	"math"
	"strconv"

	"github.com/peerpath/peerpath/examples/internal/unitarg"
)

// DefaultSpan is how many integers one unit covers.
const DefaultSpan = 1_000_000

// SpanEnv overrides the span when the -span flag is absent.
const SpanEnv = "PRIMES_SPAN"

// MaxHi bounds the ranges a unit may cover, which bounds the table of base
// primes (up to sqrt(MaxHi) = 2^24, 16 MiB).
const MaxHi = 1 << 48

// Range returns the half-open range [lo, hi) of unit i.
func Range(unit, span uint64) (lo, hi uint64, err error) {
	if span == 0 {
		return 0, 0, errors.New("primes: span must be positive")
	}
	if unit >= MaxHi/span || (unit+1)*span > MaxHi {
		return 0, 0, fmt.Errorf("primes: unit %d of span %d goes beyond %d", unit, span, uint64(MaxHi))
	}
	return unit * span, (unit + 1) * span, nil
}

// isqrt returns the largest r with r*r <= n, for n <= MaxHi.
func isqrt(n uint64) uint64 {
	r := uint64(math.Sqrt(float64(n)))
	for r*r > n {
		r--
	}
	for (r+1)*(r+1) <= n {
		r++
	}
	return r
}

// basePrimes returns the odd primes up to limit.
func basePrimes(limit uint64) []uint64 {
	composite := make([]bool, limit+1)
	var out []uint64
	for p := uint64(3); p <= limit; p += 2 {
		if composite[p] {
			continue
		}
		out = append(out, p)
		for m := p * p; m <= limit; m += 2 * p {
			composite[m] = true
		}
	}
	return out
}

// blockOdds is how many odd numbers one sieve block holds.
const blockOdds = 1 << 16

// Count returns the number of primes in [lo, hi), hi <= MaxHi, with a
// segmented sieve of the odd numbers.
func Count(lo, hi uint64) uint64 {
	if hi > MaxHi {
		hi = MaxHi
	}
	if hi <= 2 || lo >= hi {
		return 0
	}
	var count uint64
	if lo <= 2 {
		count++ // 2, the only even prime
	}
	start := max(lo, 3)
	if start%2 == 0 {
		start++
	}
	if start >= hi {
		return count
	}
	primes := basePrimes(isqrt(hi - 1))
	marks := make([]bool, blockOdds)
	for s := start; s < hi; s += 2 * blockOdds {
		n := min(uint64(blockOdds), (hi-s+1)/2) // odd numbers s, s+2, ... below hi
		block := marks[:n]
		clear(block)
		last := s + 2*(n-1)
		for _, p := range primes {
			if p*p > last {
				break
			}
			m := max(p*p, (s+p-1)/p*p)
			if m%2 == 0 {
				m += p
			}
			for j := (m - s) / 2; j < n; j += p {
				block[j] = true
			}
		}
		for _, c := range block {
			if !c {
				count++
			}
		}
	}
	return count
}

// Run is the whole program: it parses the arguments (without the program
// name) and environment like the wasm module does, and returns its stdout.
//
// Usage: primes [-span N] UNIT   (or PEERPATH_UNIT=UNIT, PRIMES_SPAN=N)
func Run(args []string, getenv func(string) string) ([]byte, error) {
	fs := flag.NewFlagSet("primes", flag.ContinueOnError)
	span := fs.Uint64("span", 0, "integers per unit (default PRIMES_SPAN or 1000000)")
	unit, _, err := unitarg.Parse(fs, args, getenv)
	if err != nil {
		return nil, fmt.Errorf("primes: %w", err)
	}
	if *span == 0 {
		*span = DefaultSpan
		if v := getenv(SpanEnv); v != "" {
			if *span, err = strconv.ParseUint(v, 10, 64); err != nil {
				return nil, fmt.Errorf("primes: %s: %w", SpanEnv, err)
			}
		}
	}
	lo, hi, err := Range(unit, *span)
	if err != nil {
		return nil, err
	}
	return fmt.Appendf(nil, "%d\n", Count(lo, hi)), nil
}
