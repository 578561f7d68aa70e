/* mandelbrot: renders tile unit of a 1024x1024 image in 16 bands, 256
 * iterations, as examples/mandelbrot/kernel does, and writes the tile's
 * palette indices as a binary PGM (the Go job writes a paletted PNG of the
 * same indices). */
#include "unit.h"

static int escape(double cx, double cy, int max_iter) {
	double x = 0, y = 0;
	for (int n = 0; n < max_iter; n++) {
		double x2 = x * x, y2 = y * y;
		if (x2 + y2 > 4) return n;
		y = 2 * (x * y) + cy;
		x = (x2 - y2) + cx;
	}
	return max_iter;
}

int main(int argc, char **argv) {
	uint64_t unit;
	int w = (int)flag_u64(argc, argv, "width", 1024), h = (int)flag_u64(argc, argv, "height", 1024);
	int tiles = (int)flag_u64(argc, argv, "tiles", 16), max_iter = (int)flag_u64(argc, argv, "iter", 256);
	if (unit_arg(argc, argv, &unit)) return 2;
	if (w < 1 || h < 1 || (int64_t)w * h > (1 << 26) || tiles < 1 || tiles > h || max_iter < 1 || unit >= (uint64_t)tiles) {
		fprintf(stderr, "mandelbrot: bad parameters\n");
		return 2;
	}
	int y0 = (int)unit * h / tiles, y1 = ((int)unit + 1) * h / tiles;
	unsigned char *pix = malloc((size_t)w * (y1 - y0));
	double step = 3.0 / w, left = -2.0, top = (h * step) / 2;
	for (int y = y0; y < y1; y++) {
		double cy = top - (y + 0.5) * step;
		unsigned char *row = pix + (size_t)(y - y0) * w;
		for (int x = 0; x < w; x++) {
			double cx = left + (x + 0.5) * step;
			int n = escape(cx, cy, max_iter);
			row[x] = n == max_iter ? 0 : (unsigned char)(1 + n * 8 % 255);
		}
	}
	printf("P5\n%d %d\n255\n", w, y1 - y0);
	fwrite(pix, 1, (size_t)w * (y1 - y0), stdout);
	free(pix);
	return 0;
}
