package assemble

import (
	"bytes"
	"errors"
	"image"
	"image/png"
	"testing"

	"github.com/peerpath/peerpath/examples/mandelbrot/kernel"
)

func tiles(t testing.TB, p kernel.Params) map[int][]byte {
	t.Helper()
	out := map[int][]byte{}
	for i := range p.Tiles {
		data, err := kernel.EncodeTile(p, i)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = data
	}
	return out
}

// TestAssembleMatchesWholeRender checks that tiles put together give the
// image rendered as a single tile.
func TestAssembleMatchesWholeRender(t *testing.T) {
	p := kernel.Params{Width: 96, Height: 70, Tiles: 8, MaxIter: 80}
	img, err := Assemble(tiles(t, p), p)
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
		t.Fatal("assembled image differs from the single-tile render")
	}
	data, err := AssemblePNG(tiles(t, p), p)
	if err != nil {
		t.Fatal(err)
	}
	dec, err := png.Decode(bytes.NewReader(data))
	if err != nil || dec.Bounds() != image.Rect(0, 0, 96, 70) {
		t.Fatalf("assembled PNG: %v, bounds %v", err, dec.Bounds())
	}
}

func TestAssembleRejectsBadTiles(t *testing.T) {
	p := kernel.Params{Width: 32, Height: 32, Tiles: 4, MaxIter: 20}
	good := tiles(t, p)
	other := tiles(t, kernel.Params{Width: 33, Height: 32, Tiles: 4, MaxIter: 20})
	var gray bytes.Buffer
	if err := png.Encode(&gray, image.NewGray(image.Rect(0, 0, 32, 8))); err != nil {
		t.Fatal(err)
	}
	mutate := func(f func(map[int][]byte)) map[int][]byte {
		m := map[int][]byte{}
		for k, v := range good {
			m[k] = v
		}
		f(m)
		return m
	}
	cases := map[string]map[int][]byte{
		"missing":   mutate(func(m map[int][]byte) { delete(m, 2) }),
		"extra":     mutate(func(m map[int][]byte) { m[4] = good[0] }),
		"renumber":  mutate(func(m map[int][]byte) { m[7] = m[3]; delete(m, 3) }),
		"garbage":   mutate(func(m map[int][]byte) { m[1] = []byte("not a png") }),
		"truncated": mutate(func(m map[int][]byte) { m[1] = m[1][:len(m[1])/2] }),
		"width":     mutate(func(m map[int][]byte) { m[0] = other[0] }),
		"gray":      mutate(func(m map[int][]byte) { m[0] = gray.Bytes() }),
	}
	for name, ts := range cases {
		if _, err := Assemble(ts, p); !errors.Is(err, ErrBadTile) {
			t.Errorf("%s: err = %v, want ErrBadTile", name, err)
		}
	}
	if _, err := Assemble(good, kernel.Params{Width: 1 << 14, Height: 1 << 14, Tiles: 4, MaxIter: 1}); err == nil {
		t.Error("oversized image accepted")
	}
}

// FuzzAssemble feeds arbitrary bytes as one tile (tiles arrive from other
// peers): Assemble must not panic, and must return an image of the right
// size or ErrBadTile.
func FuzzAssemble(f *testing.F) {
	p := kernel.Params{Width: 16, Height: 8, Tiles: 2, MaxIter: 16}
	good := tiles(f, p)
	f.Add(good[1])
	f.Add(good[0][:40])
	f.Add([]byte("\x89PNG\r\n\x1a\n"))
	f.Fuzz(func(t *testing.T, tile []byte) {
		img, err := Assemble(map[int][]byte{0: good[0], 1: tile}, p)
		if err != nil {
			if !errors.Is(err, ErrBadTile) {
				t.Fatalf("error not ErrBadTile: %v", err)
			}
			return
		}
		if img.Bounds() != image.Rect(0, 0, 16, 8) {
			t.Fatalf("bounds %v", img.Bounds())
		}
	})
}
