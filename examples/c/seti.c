/* seti: searches 16 chunks of 4096 simulated radio samples for a
 * narrow-band signal with a radix-2 FFT, as examples/seti/kernel does (the
 * same generator, signal and output line). */
#include <math.h>
#include "unit.h"

#define AMPLITUDE 0.3
#define THRESHOLD 30

static uint64_t sm_next(uint64_t *s) {
	*s += 0x9e3779b97f4a7c15ULL;
	uint64_t z = *s;
	z = (z ^ z >> 30) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ z >> 27) * 0x94d049bb133111ebULL;
	return z ^ z >> 31;
}

static uint64_t mix(uint64_t seed, uint64_t unit, uint64_t tag) {
	uint64_t s = seed ^ unit * 0xd1342543de82ef95ULL ^ tag << 56;
	sm_next(&s);
	return sm_next(&s);
}

static void fft(double *re, double *im, const double *sn, int n) {
	int lg = __builtin_ctz((unsigned)n);
	for (int i = 0; i < n; i++) {
		unsigned j = 0;
		for (int b = 0; b < lg; b++) j |= (((unsigned)i >> b) & 1u) << (lg - 1 - b);
		if ((int)j > i) {
			double t = re[i]; re[i] = re[j]; re[j] = t;
			t = im[i]; im[i] = im[j]; im[j] = t;
		}
	}
	for (int size = 2; size <= n; size <<= 1) {
		int half = size / 2, step = n / size;
		for (int start = 0; start < n; start += size) {
			for (int k = 0; k < half; k++) {
				int a = k * step;
				double wr = sn[(a + n / 4) % n], wi = -sn[a];
				int i = start + k, j = start + k + half;
				double tr = (wr * re[j]) - (wi * im[j]);
				double ti = (wr * im[j]) + (wi * re[j]);
				re[j] = re[i] - tr; im[j] = im[i] - ti;
				re[i] = re[i] + tr; im[i] = im[i] + ti;
			}
		}
	}
}

int main(int argc, char **argv) {
	uint64_t unit;
	int n = (int)flag_u64(argc, argv, "chunk", 4096), chunks = (int)flag_u64(argc, argv, "chunks", 16);
	uint64_t seed = flag_u64(argc, argv, "seed", 1);
	if (unit_arg(argc, argv, &unit)) return 2;
	if (n < 16 || n > (1 << 20) || (n & (n - 1)) || chunks < 1 || chunks > (1 << 12)) {
		fprintf(stderr, "seti: bad parameters\n");
		return 2;
	}
	double *sn = malloc(sizeof(double) * n);
	for (int k = 0; k < n; k++) sn[k] = sin(2 * M_PI * k / n);
	double *x = malloc(sizeof(double) * (size_t)n * chunks);
	uint64_t rng = mix(seed, unit, 2);
	for (size_t i = 0; i < (size_t)n * chunks; i++) {
		double s = 0;
		for (int k = 0; k < 12; k++) s += (double)(sm_next(&rng) >> 11) * (1.0 / (double)(1ULL << 53));
		x[i] = s - 6;
	}
	uint64_t hsig = mix(seed, unit, 1);
	if (hsig % 4 == 0) {
		int chunk = (int)((hsig >> 8) % (uint64_t)chunks);
		int bin = 1 + (int)((hsig >> 32) % (uint64_t)(n / 2 - 2));
		for (int t = 0; t < n; t++) x[chunk * n + t] += AMPLITUDE * sn[(int)((int64_t)bin * t % n)];
	}
	double *re = malloc(sizeof(double) * n), *im = malloc(sizeof(double) * n);
	int best_chunk = 0, best_bin = 0;
	double best = -1;
	for (int c = 0; c < chunks; c++) {
		memcpy(re, x + (size_t)c * n, sizeof(double) * n);
		memset(im, 0, sizeof(double) * n);
		fft(re, im, sn, n);
		double total = 0, peak = 0;
		int peak_bin = 0;
		for (int k = 1; k < n / 2; k++) {
			double pw = (re[k] * re[k]) + (im[k] * im[k]);
			total += pw;
			if (pw > peak) { peak = pw; peak_bin = k; }
		}
		double noise = (total - peak) / (n / 2 - 2);
		double ratio = peak / noise;
		if (ratio > best) { best = ratio; best_chunk = c; best_bin = peak_bin; }
	}
	printf("unit=%llu chunk=%d bin=%d ratio=%.2f signal=%s\n", (unsigned long long)unit, best_chunk, best_bin, best,
	       best >= THRESHOLD ? "yes" : "no");
	return 0;
}
