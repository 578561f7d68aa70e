// Package kernel is the core of the seti example, a SETI@home-style search.
// Each unit is a stretch of simulated radio samples: Gaussian-like noise
// generated deterministically from the unit index, in which some units hide
// a weak narrow-band sine in one chunk. The search splits the unit into
// chunks, runs a radix-2 FFT over each, and reports the strongest frequency
// bin and its power-to-noise ratio.
//
// Where the signal is, and whether there is one, is known only to the
// generator ([Signal]); the search ([Search]) finds it from the samples.
//
// As in the mandelbrot kernel, explicit float64 conversions keep multiply
// and add separate, so native and WebAssembly runs produce the same bits.
package kernel

import (
	"errors"
	"flag"
	"fmt"
	"math"
	"math/bits"

	"github.com/peerpath/peerpath/examples/internal/unitarg"
)

// Defaults of Params.
const (
	DefaultChunkSize = 4096
	DefaultChunks    = 16
	DefaultSeed      = 1
)

// Amplitude is the hidden sine's amplitude against noise of unit variance:
// invisible sample by sample (its power is 4.5% of the noise's), but with
// the default chunk its FFT bin stands about Amplitude²·ChunkSize/4 = 92
// times above the mean noise power.
const Amplitude = 0.3

// Threshold is the power-to-noise ratio above which a bin is reported as a
// signal. Pure noise makes the strongest of 2047 bins about 8 times the mean
// and exceeds 30 with probability below 1e-9 per chunk.
const Threshold = 30

// Params describes the search.
type Params struct {
	ChunkSize int    // samples per FFT, a power of two
	Chunks    int    // chunks per unit
	Seed      uint64 // job-wide seed of the generator
}

// DefaultParams returns 16 chunks of 4096 samples per unit, seed 1.
func DefaultParams() Params {
	return Params{ChunkSize: DefaultChunkSize, Chunks: DefaultChunks, Seed: DefaultSeed}
}

// Validate checks the parameters.
func (p Params) Validate() error {
	if p.ChunkSize < 16 || p.ChunkSize > 1<<20 || bits.OnesCount(uint(p.ChunkSize)) != 1 {
		return fmt.Errorf("seti: chunk size %d is not a power of two in [16, 2^20]", p.ChunkSize)
	}
	if p.Chunks < 1 || p.Chunks > 1<<12 {
		return fmt.Errorf("seti: %d chunks per unit", p.Chunks)
	}
	return nil
}

// splitmix64 is a small, well-mixed deterministic generator.
type splitmix64 uint64

func (s *splitmix64) next() uint64 {
	*s += 0x9e3779b97f4a7c15
	z := uint64(*s)
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// mix derives a well-mixed value from the seed, the unit and a stream tag.
func mix(seed, unit, tag uint64) uint64 {
	s := splitmix64(seed ^ unit*0xd1342543de82ef95 ^ tag<<56)
	s.next()
	return s.next()
}

// Signal reports whether unit carries the hidden signal and, if so, in which
// chunk and FFT bin. About one unit in four does.
func Signal(p Params, unit uint64) (chunk, bin int, ok bool) {
	h := mix(p.Seed, unit, 1)
	if h%4 != 0 {
		return 0, 0, false
	}
	chunk = int(h >> 8 % uint64(p.Chunks))
	bin = 1 + int(h>>32%uint64(p.ChunkSize/2-2)) // neither DC nor Nyquist
	return chunk, bin, true
}

// sineTable returns sin(2πk/n) for k in [0, n).
func sineTable(n int) []float64 {
	t := make([]float64, n)
	for k := range t {
		t[k] = math.Sin(2 * math.Pi * float64(k) / float64(n))
	}
	return t
}

// Samples generates the unit's samples: noise with mean 0 and variance 1
// (the sum of 12 uniform variates minus 6), plus the hidden sine, if any,
// over one chunk.
func Samples(p Params, unit uint64) []float64 {
	n := p.ChunkSize
	out := make([]float64, n*p.Chunks)
	rng := splitmix64(mix(p.Seed, unit, 2))
	for i := range out {
		var s float64
		for range 12 {
			s += float64(rng.next()>>11) * (1.0 / (1 << 53))
		}
		out[i] = s - 6
	}
	if chunk, bin, ok := Signal(p, unit); ok {
		sin := sineTable(n)
		base := chunk * n
		for t := range n {
			out[base+t] += float64(Amplitude * sin[bin*t%n])
		}
	}
	return out
}

// fft transforms re, im (length n, a power of two) in place: iterative
// radix-2 decimation in time. sin is sineTable(n).
func fft(re, im, sin []float64) {
	n := len(re)
	shift := bits.UintSize - bits.TrailingZeros(uint(n))
	for i := range n {
		if j := int(bits.Reverse(uint(i)) >> shift); j > i {
			re[i], re[j] = re[j], re[i]
			im[i], im[j] = im[j], im[i]
		}
	}
	for size := 2; size <= n; size <<= 1 {
		half, step := size/2, n/size
		for start := 0; start < n; start += size {
			for k := range half {
				// w = exp(-2πi·k/size) = cos - i·sin of angle index k·step.
				a := k * step
				wr, wi := sin[(a+n/4)%n], -sin[a]
				i, j := start+k, start+k+half
				tr := float64(wr*re[j]) - float64(wi*im[j])
				ti := float64(wr*im[j]) + float64(wi*re[j])
				re[j], im[j] = re[i]-tr, im[i]-ti
				re[i], im[i] = re[i]+tr, im[i]+ti
			}
		}
	}
}

// Hit is the strongest bin found in a unit.
type Hit struct {
	Chunk, Bin int
	Ratio      float64 // the bin's power over the mean power of the chunk's other bins
}

// Detected reports whether the hit clears Threshold.
func (h Hit) Detected() bool { return h.Ratio >= Threshold }

// Search runs the FFT over each chunk of samples and returns the bin with
// the highest power-to-noise ratio (bins 1 to n/2-1: DC and Nyquist carry
// no narrow-band signal).
func Search(p Params, samples []float64) (Hit, error) {
	if err := p.Validate(); err != nil {
		return Hit{}, err
	}
	n := p.ChunkSize
	if len(samples) != n*p.Chunks {
		return Hit{}, errors.New("seti: sample count does not match the parameters")
	}
	sin := sineTable(n)
	re, im := make([]float64, n), make([]float64, n)
	best := Hit{Ratio: -1}
	for c := range p.Chunks {
		copy(re, samples[c*n:(c+1)*n])
		clear(im)
		fft(re, im, sin)
		var total, peak float64
		peakBin := 0
		for k := 1; k < n/2; k++ {
			pw := float64(re[k]*re[k]) + float64(im[k]*im[k])
			total += pw
			if pw > peak {
				peak, peakBin = pw, k
			}
		}
		noise := (total - peak) / float64(n/2-2)
		if ratio := peak / noise; ratio > best.Ratio {
			best = Hit{Chunk: c, Bin: peakBin, Ratio: ratio}
		}
	}
	return best, nil
}

// Flags defines the search flags on fs and returns the Params they fill.
func Flags(fs *flag.FlagSet) *Params {
	p := DefaultParams()
	fs.IntVar(&p.ChunkSize, "chunk", p.ChunkSize, "samples per FFT (power of two)")
	fs.IntVar(&p.Chunks, "chunks", p.Chunks, "chunks per unit")
	fs.Uint64Var(&p.Seed, "seed", p.Seed, "job-wide generator seed")
	return &p
}

// Run is the whole program: it parses the arguments (without the program
// name) and environment like the wasm module does, and returns its stdout,
// one line:
//
//	unit=U chunk=C bin=K ratio=R signal=yes|no
//
// Usage: seti [-chunk N] [-chunks M] [-seed S] UNIT
func Run(args []string, getenv func(string) string) ([]byte, error) {
	fs := flag.NewFlagSet("seti", flag.ContinueOnError)
	p := Flags(fs)
	unit, _, err := unitarg.Parse(fs, args, getenv)
	if err != nil {
		return nil, fmt.Errorf("seti: %w", err)
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	hit, err := Search(*p, Samples(*p, unit))
	if err != nil {
		return nil, err
	}
	verdict := "no"
	if hit.Detected() {
		verdict = "yes"
	}
	return fmt.Appendf(nil, "unit=%d chunk=%d bin=%d ratio=%.2f signal=%s\n", unit, hit.Chunk, hit.Bin, hit.Ratio, verdict), nil
}
