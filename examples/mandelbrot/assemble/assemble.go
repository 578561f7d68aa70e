// Package assemble builds the full Mandelbrot image from the tiles that the
// mandelbrot job's units return. Tiles come from other peers, so each is
// checked (size, format) before it is decoded and used.
package assemble

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/png"

	"github.com/peerpath/peerpath/examples/mandelbrot/kernel"
)

// ErrBadTile is returned (wrapped) when a tile is missing, extra, malformed
// or of the wrong size.
var ErrBadTile = errors.New("assemble: bad tile")

// Assemble decodes the tiles, keyed by unit index, and draws them into one
// image described by p. Every tile 0..p.Tiles-1 must be present, be a
// paletted PNG of p.Width × its band's height; pixel indices are taken as
// indexes into kernel.Palette (the tile's own palette is ignored).
func Assemble(tiles map[int][]byte, p kernel.Params) (*image.Paletted, error) {
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("assemble: %w", err)
	}
	if len(tiles) != p.Tiles {
		return nil, fmt.Errorf("%w: got %d tiles, want %d", ErrBadTile, len(tiles), p.Tiles)
	}
	out := image.NewPaletted(image.Rect(0, 0, p.Width, p.Height), kernel.Palette)
	for i := range p.Tiles {
		data, ok := tiles[i]
		if !ok {
			return nil, fmt.Errorf("%w: tile %d missing", ErrBadTile, i)
		}
		y0, y1 := p.Rows(i)
		// Check the header before decoding, so that a tile cannot make us
		// allocate more than its band.
		cfg, err := png.DecodeConfig(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("%w: tile %d: %w", ErrBadTile, i, err)
		}
		if cfg.Width != p.Width || cfg.Height != y1-y0 {
			return nil, fmt.Errorf("%w: tile %d is %d×%d, want %d×%d", ErrBadTile, i, cfg.Width, cfg.Height, p.Width, y1-y0)
		}
		img, err := png.Decode(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("%w: tile %d: %w", ErrBadTile, i, err)
		}
		pal, ok := img.(*image.Paletted)
		if !ok || pal.Bounds() != image.Rect(0, 0, p.Width, y1-y0) {
			return nil, fmt.Errorf("%w: tile %d is not a paletted image of its band", ErrBadTile, i)
		}
		for y := range y1 - y0 {
			copy(out.Pix[out.PixOffset(0, y0+y):][:p.Width], pal.Pix[pal.PixOffset(0, y):][:p.Width])
		}
	}
	return out, nil
}

// AssemblePNG is Assemble followed by PNG encoding.
func AssemblePNG(tiles map[int][]byte, p kernel.Params) ([]byte, error) {
	img, err := Assemble(tiles, p)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("assemble: %w", err)
	}
	return buf.Bytes(), nil
}
