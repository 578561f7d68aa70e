/* primes: counts the primes in [unit*span, (unit+1)*span) with a segmented
 * sieve of odd numbers, as examples/primes/kernel does; prints the count. */
#include <math.h>
#include "unit.h"

#define MAX_HI (1ULL << 48)
#define BLOCK_ODDS (1 << 16)

static uint64_t isqrt64(uint64_t n) {
	uint64_t r = (uint64_t)sqrt((double)n);
	while (r * r > n) r--;
	while ((r + 1) * (r + 1) <= n) r++;
	return r;
}

static uint64_t count(uint64_t lo, uint64_t hi) {
	if (hi > MAX_HI) hi = MAX_HI;
	if (hi <= 2 || lo >= hi) return 0;
	uint64_t c = 0;
	if (lo <= 2) c++;
	uint64_t start = lo > 3 ? lo : 3;
	if (start % 2 == 0) start++;
	if (start >= hi) return c;
	uint64_t limit = isqrt64(hi - 1);
	unsigned char *composite = calloc(limit + 1, 1);
	uint64_t *primes = malloc(sizeof(uint64_t) * (limit / 2 + 1));
	size_t np = 0;
	for (uint64_t p = 3; p <= limit; p += 2) {
		if (composite[p]) continue;
		primes[np++] = p;
		for (uint64_t m = p * p; m <= limit; m += 2 * p) composite[m] = 1;
	}
	static unsigned char block[BLOCK_ODDS];
	for (uint64_t s = start; s < hi; s += 2 * BLOCK_ODDS) {
		uint64_t n = (hi - s + 1) / 2;
		if (n > BLOCK_ODDS) n = BLOCK_ODDS;
		memset(block, 0, n);
		uint64_t last = s + 2 * (n - 1);
		for (size_t k = 0; k < np; k++) {
			uint64_t p = primes[k];
			if (p * p > last) break;
			uint64_t m = (s + p - 1) / p * p;
			if (m < p * p) m = p * p;
			if (m % 2 == 0) m += p;
			for (uint64_t j = (m - s) / 2; j < n; j += p) block[j] = 1;
		}
		for (uint64_t j = 0; j < n; j++) c += !block[j];
	}
	free(primes);
	free(composite);
	return c;
}

int main(int argc, char **argv) {
	uint64_t unit, span = flag_u64(argc, argv, "span", 0);
	if (unit_arg(argc, argv, &unit)) return 2;
	if (span == 0) {
		const char *e = getenv("PRIMES_SPAN");
		span = e && *e ? strtoull(e, NULL, 10) : 1000000;
	}
	if (span == 0 || unit >= MAX_HI / span || (unit + 1) * span > MAX_HI) {
		fprintf(stderr, "primes: unit out of range\n");
		return 2;
	}
	printf("%llu\n", (unsigned long long)count(unit * span, (unit + 1) * span));
	return 0;
}
