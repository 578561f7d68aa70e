// Package kernel is the core of the mandelbrot example: unit i renders tile
// i of a Width×Height image of the Mandelbrot set, split into Tiles bands of
// rows, as a paletted PNG. The same code runs natively and, through
// examples/mandelbrot, as a WebAssembly job.
//
// The arithmetic is written so that every platform computes the same bits:
// explicit float64 conversions stop the compiler from fusing a multiply and
// an add (which some native targets do and WebAssembly does not), so tiles
// rendered by different workers can be compared byte for byte.
package kernel

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/png"

	"github.com/peerpath/peerpath/examples/internal/unitarg"
)

// Defaults of Params.
const (
	DefaultWidth   = 1024
	DefaultHeight  = 1024
	DefaultTiles   = 16
	DefaultMaxIter = 256
)

// MaxPixels bounds Width×Height.
const MaxPixels = 1 << 26

// Params describes the whole image. The view is the rectangle of the complex
// plane centred on (-0.5, 0) that is 3 units wide, with square pixels.
type Params struct {
	Width, Height int
	Tiles         int // horizontal bands, one per unit
	MaxIter       int
}

// DefaultParams returns the default image: 1024×1024 in 16 tiles of 64 rows.
func DefaultParams() Params {
	return Params{Width: DefaultWidth, Height: DefaultHeight, Tiles: DefaultTiles, MaxIter: DefaultMaxIter}
}

// Validate checks the parameters.
func (p Params) Validate() error {
	switch {
	case p.Width < 1 || p.Height < 1 || p.Width > MaxPixels/p.Height:
		return fmt.Errorf("mandelbrot: bad size %d×%d (at most %d pixels)", p.Width, p.Height, MaxPixels)
	case p.Tiles < 1 || p.Tiles > p.Height:
		return fmt.Errorf("mandelbrot: %d tiles for %d rows", p.Tiles, p.Height)
	case p.MaxIter < 1 || p.MaxIter > 1<<20:
		return fmt.Errorf("mandelbrot: bad iteration limit %d", p.MaxIter)
	}
	return nil
}

// Rows returns the rows [y0, y1) of tile i.
func (p Params) Rows(tile int) (y0, y1 int) {
	return tile * p.Height / p.Tiles, (tile + 1) * p.Height / p.Tiles
}

// Palette is the palette of every tile: index 0 (black) for points inside
// the set, then a gradient for escape times.
var Palette = func() color.Palette {
	pal := make(color.Palette, 256)
	pal[0] = color.RGBA{0, 0, 0, 255}
	const d = 255 * 255 * 255
	for k := 1; k < 256; k++ {
		t, u := uint64(k), uint64(255-k)
		pal[k] = color.RGBA{
			R: uint8(9 * u * t * t * t / d),
			G: uint8(15 * u * u * t * t / d),
			B: uint8(17 * u * u * u * t / (2 * d)),
			A: 255,
		}
	}
	return pal
}()

// escape returns how many iterations z -> z²+c takes to leave the radius-2
// disc, or maxIter.
func escape(cx, cy float64, maxIter int) int {
	x, y := 0.0, 0.0
	for n := range maxIter {
		x2, y2 := float64(x*x), float64(y*y)
		if x2+y2 > 4 {
			return n
		}
		y = float64(2*float64(x*y)) + cy
		x = float64(x2-y2) + cx
	}
	return maxIter
}

// Render draws tile i. Its bounds start at (0, 0); its rows are rows
// p.Rows(i) of the image.
func Render(p Params, tile int) (*image.Paletted, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if tile < 0 || tile >= p.Tiles {
		return nil, fmt.Errorf("mandelbrot: tile %d of %d", tile, p.Tiles)
	}
	y0, y1 := p.Rows(tile)
	img := image.NewPaletted(image.Rect(0, 0, p.Width, y1-y0), Palette)
	step := 3.0 / float64(p.Width)
	left := -2.0
	top := float64(float64(p.Height)*step) / 2
	for y := y0; y < y1; y++ {
		cy := top - float64((float64(y)+0.5)*step)
		row := img.Pix[(y-y0)*img.Stride:]
		for x := range p.Width {
			cx := left + float64((float64(x)+0.5)*step)
			n := escape(cx, cy, p.MaxIter)
			if n == p.MaxIter {
				row[x] = 0
			} else {
				row[x] = uint8(1 + n*8%255)
			}
		}
	}
	return img, nil
}

// EncodeTile renders tile i as PNG bytes.
func EncodeTile(p Params, tile int) ([]byte, error) {
	img, err := Render(p, tile)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("mandelbrot: %w", err)
	}
	return buf.Bytes(), nil
}

// Flags defines the image flags on fs and returns the Params they fill.
func Flags(fs *flag.FlagSet) *Params {
	p := DefaultParams()
	fs.IntVar(&p.Width, "width", p.Width, "image width in pixels")
	fs.IntVar(&p.Height, "height", p.Height, "image height in pixels")
	fs.IntVar(&p.Tiles, "tiles", p.Tiles, "number of tiles (units), bands of rows")
	fs.IntVar(&p.MaxIter, "iter", p.MaxIter, "iteration limit")
	return &p
}

// Run is the whole program: it parses the arguments (without the program
// name) and environment like the wasm module does, and returns its stdout,
// the tile's PNG.
//
// Usage: mandelbrot [-width W] [-height H] [-tiles N] [-iter K] UNIT
func Run(args []string, getenv func(string) string) ([]byte, error) {
	fs := flag.NewFlagSet("mandelbrot", flag.ContinueOnError)
	p := Flags(fs)
	unit, _, err := unitarg.Parse(fs, args, getenv)
	if err != nil {
		return nil, fmt.Errorf("mandelbrot: %w", err)
	}
	if unit >= uint64(p.Tiles) {
		return nil, errors.New("mandelbrot: unit index beyond the last tile")
	}
	return EncodeTile(*p, int(unit))
}
