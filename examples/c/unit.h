/* Shared by the C example jobs: the unit index is the last argument, or
 * PEERPATH_UNIT when there is none (see ../README.md). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int unit_arg(int argc, char **argv, uint64_t *unit) {
	const char *s = argc > 1 ? argv[argc - 1] : getenv("PEERPATH_UNIT");
	char *end;
	if (s == NULL || *s == '\0') {
		fprintf(stderr, "missing unit index\n");
		return -1;
	}
	*unit = strtoull(s, &end, 10);
	if (*end != '\0') {
		fprintf(stderr, "bad unit index %s\n", s);
		return -1;
	}
	return 0;
}

/* flag_u64 returns the value of "-name N" in argv, or def. */
static uint64_t flag_u64(int argc, char **argv, const char *name, uint64_t def) {
	for (int i = 1; i + 1 < argc; i++) {
		if (argv[i][0] == '-' && strcmp(argv[i] + 1 + (argv[i][1] == '-'), name) == 0) {
			return strtoull(argv[i + 1], NULL, 10);
		}
	}
	return def;
}
