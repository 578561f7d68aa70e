package main

import (
	"bytes"
	"testing"

	"github.com/peerpath/peerpath/examples/internal/jobtest"
	"github.com/peerpath/peerpath/examples/mandelbrot/assemble"
	"github.com/peerpath/peerpath/examples/mandelbrot/kernel"
)

func TestMain(m *testing.M) { jobtest.Main(m) }

// TestWasmMatchesNative renders every tile of a small image in the sandbox
// and natively (byte-identical PNGs), assembles the wasm tiles, and checks a
// few tiles of the default image too.
func TestWasmMatchesNative(t *testing.T) {
	job := jobtest.Load(t, ".")
	p := kernel.Params{Width: 256, Height: 256, Tiles: 8, MaxIter: 128}
	flags := []string{"-width", "256", "-height", "256", "-tiles", "8", "-iter", "128"}
	tiles := map[int][]byte{}
	for i := range p.Tiles {
		tiles[i] = job.Compare(t, kernel.Run, jobtest.Unit(uint64(i), flags, nil))
	}
	img, err := assemble.Assemble(tiles, p)
	if err != nil {
		t.Fatal(err)
	}
	whole := p
	whole.Tiles = 1
	want, err := kernel.Render(whole, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(img.Pix, want.Pix) {
		t.Fatal("image assembled from wasm tiles differs from the native render")
	}
	for _, i := range []uint64{0, 7} { // default 1024×1024 in 16 tiles
		out := job.Compare(t, kernel.Run, jobtest.Unit(i, nil, nil))
		if !bytes.HasPrefix(out, []byte("\x89PNG")) {
			t.Fatalf("default tile %d is not a PNG", i)
		}
	}
}

// BenchmarkWasmVsNative reports the wasm/native time ratio of a default
// tile crossing the set (tile 7 of 16).
func BenchmarkWasmVsNative(b *testing.B) {
	job := jobtest.Load(b, ".")
	job.Ratio(b, kernel.Run, jobtest.Unit(7, nil, nil))
}

// BenchmarkIsolatedVsNative is BenchmarkWasmVsNative with each unit run in a
// child process (no loop checks, plus process start and module load).
func BenchmarkIsolatedVsNative(b *testing.B) {
	job := jobtest.LoadIsolated(b, ".")
	job.Ratio(b, kernel.Run, jobtest.Unit(7, nil, nil))
}
