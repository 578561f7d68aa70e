package compute

import (
	"runtime"
	"testing"
)

// Without --max-memory a worker refuses units that want more than half the
// machine's RAM shared by its cpus.
func TestDefaultMaxMemory(t *testing.T) {
	total := machineMemory()
	if runtime.GOOS == "linux" && total < 64<<20 {
		t.Fatalf("machine memory %d bytes", total)
	}
	if got := DefaultMaxMemory(1); got != total/2 {
		t.Errorf("DefaultMaxMemory(1) = %d, want %d", got, total/2)
	}
	if got := DefaultMaxMemory(0); got != total/2 {
		t.Errorf("DefaultMaxMemory(0) = %d, want %d", got, total/2)
	}
	if got := DefaultMaxMemory(4); got != total/2/4 {
		t.Errorf("DefaultMaxMemory(4) = %d, want %d", got, total/2/4)
	}
	if got := (WorkerConfig{CPUs: 2}).maxMemory(); got != total/4 {
		t.Errorf("default of 2 cpus: %d", got)
	}
	if got := (WorkerConfig{CPUs: 2, MaxMemory: 123 << 20}).maxMemory(); got != 123<<20 {
		t.Errorf("set limit: %d", got)
	}
}
