package cputime

import (
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Busy work shows up as CPU time; sleeping does not.
func TestProcess(t *testing.T) {
	// Busy work adds up to 20 ms of CPU within 5 s however loaded the
	// machine is.
	start := Process()
	deadline := time.Now().Add(5 * time.Second)
	x := 0
	for Process()-start < 20*time.Millisecond {
		if time.Now().After(deadline) {
			t.Fatalf("5 s of busy work measured as %v of CPU (x=%d)", Process()-start, x)
		}
		for range 100000 {
			x++
		}
	}
	before := Process()
	time.Sleep(100 * time.Millisecond)
	if slept := Process() - before; slept > 50*time.Millisecond {
		t.Fatalf("100 ms of sleep measured as %v of CPU", slept)
	}
}
