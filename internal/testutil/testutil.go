package testutil

import (
	"crypto/rand"
	"encoding/binary"
	mrand "math/rand/v2"
	"testing"
	"time"
)

// Eventually polls cond every 20 ms until it holds, and fails the test
// (naming what it waited for) if it does not within d.
func Eventually(tb testing.TB, d time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// RandBytes returns n random bytes (crypto/rand): different on every call.
func RandBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// SeededBytes returns n pseudo-random bytes that depend only on seed, for
// tests that need the same data on every run.
func SeededBytes(seed uint64, n int) []byte {
	r := mrand.New(mrand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := 0; i+8 <= n; i += 8 {
		binary.LittleEndian.PutUint64(b[i:], r.Uint64())
	}
	for i := n &^ 7; i < n; i++ {
		b[i] = byte(r.Uint32())
	}
	return b
}
