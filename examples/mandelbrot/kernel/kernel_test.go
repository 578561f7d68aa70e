package kernel

import (
	"bytes"
	"image"
	"image/png"
	"testing"
)

func TestEscape(t *testing.T) {
	const maxIter = 100
	for _, c := range []struct {
		x, y   float64
		inside bool
	}{
		{0, 0, true}, {-1, 0, true}, {-0.12, 0.74, true}, {0.25, 0, true},
		{2, 2, false}, {0.5, 0.5, false}, {-2.1, 0, false}, {0.26, 0, false},
	} {
		if got := escape(c.x, c.y, maxIter) == maxIter; got != c.inside {
			t.Errorf("escape(%v, %v): inside %v, want %v", c.x, c.y, got, c.inside)
		}
	}
	if n := escape(2, 2, maxIter); n != 1 {
		t.Errorf("escape(2, 2) = %d, want 1", n)
	}
}

func TestRowsPartition(t *testing.T) {
	for _, p := range []Params{DefaultParams(), {Width: 10, Height: 100, Tiles: 7, MaxIter: 10}, {Width: 1, Height: 5, Tiles: 5, MaxIter: 1}} {
		next := 0
		for i := range p.Tiles {
			y0, y1 := p.Rows(i)
			if y0 != next || y1 <= y0 {
				t.Fatalf("%+v tile %d: rows [%d, %d), expected to start at %d", p, i, y0, y1, next)
			}
			next = y1
		}
		if next != p.Height {
			t.Fatalf("%+v: tiles cover %d rows", p, next)
		}
	}
}

func TestRender(t *testing.T) {
	p := Params{Width: 64, Height: 64, Tiles: 4, MaxIter: 64}
	// Tile 2 holds row 32, the real axis (rows 32..47). Its centre pixel
	// column for cx = -0.5 is inside the set, its left edge (cx near -2,
	// cy near 0 but below the axis) is near the tip of the needle.
	img, err := Render(p, 2)
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != 64 || b.Dy() != 16 {
		t.Fatalf("bounds %v", b)
	}
	if got := img.ColorIndexAt(32, 0); got != 0 { // cx ≈ -0.48, cy ≈ -0.02
		t.Fatalf("centre pixel index %d, want 0 (inside)", got)
	}
	top, err := Render(p, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := top.ColorIndexAt(63, 0); got == 0 { // cx ≈ 0.98, cy ≈ 1.48: outside
		t.Fatal("top-right corner rendered as inside the set")
	}
	// The PNG decodes to the same pixels.
	data, err := EncodeTile(p, 2)
	if err != nil {
		t.Fatal(err)
	}
	dec, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	pal, ok := dec.(*image.Paletted)
	if !ok || !bytes.Equal(pal.Pix, img.Pix) {
		t.Fatal("decoded PNG differs from the rendered tile")
	}
}

func TestRunArgs(t *testing.T) {
	env := func(string) string { return "" }
	if _, err := Run([]string{"16"}, env); err == nil {
		t.Fatal("tile 16 of 16 accepted")
	}
	if _, err := Run([]string{"-width", "0", "1"}, env); err == nil {
		t.Fatal("zero width accepted")
	}
	if _, err := Run([]string{"-tiles", "2000", "1"}, env); err == nil {
		t.Fatal("more tiles than rows accepted")
	}
	a, err := Run([]string{"-width", "32", "-height", "32", "-tiles", "2", "1"}, env)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Run([]string{"-width", "32", "-height", "32", "-tiles", "2"}, func(k string) string {
		if k == "PEERPATH_UNIT" {
			return "1"
		}
		return ""
	})
	if err != nil || !bytes.Equal(a, b) {
		t.Fatalf("unit from the environment gives another tile (err %v)", err)
	}
}
