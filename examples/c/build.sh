#!/bin/sh
# Builds the C example jobs as WASI modules (the checked-in *.wasm) with
# Debian's clang, and natively into $NATIVE (default: nothing native).
# Needs: apt-get install clang lld wasi-libc libclang-rt-dev-wasm32
set -eu
cd "$(dirname "$0")"
CFLAGS="-O2 -ffp-contract=off"
for k in primes mandelbrot seti; do
	clang --target=wasm32-wasi $CFLAGS -Wl,--strip-all -o "${OUT:-.}/$k.wasm" "$k.c" -lm
	if [ -n "${NATIVE:-}" ]; then
		clang $CFLAGS -o "$NATIVE/$k" "$k.c" -lm
	fi
done
