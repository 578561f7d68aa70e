package sandbox

import (
	"testing"
	"unsafe"
)

// Guest memory is one mapping of its largest allowed size: growing it
// never copies (so never holds two copies at once), and it stops at the
// guard's limit.
func TestLinearMemoryGrowsInPlace(t *testing.T) {
	g := &memoryGuard{limit: 1 << 20}
	m := g.Allocate(0, maxWasmMemory).(*linearMemory)
	defer m.Free()
	a := m.Reallocate(64 << 10)
	if len(a) != 64<<10 || m.mapped == nil || len(m.mapped) != 1<<20 {
		t.Fatalf("first allocation: %d bytes, reservation %d", len(a), len(m.mapped))
	}
	a[100] = 7
	b := m.Reallocate(512 << 10)
	if len(b) != 512<<10 || unsafe.SliceData(a) != unsafe.SliceData(b) || b[100] != 7 || b[len(b)-1] != 0 {
		t.Fatal("growing moved or lost the memory")
	}
	if c := m.Reallocate(2 << 20); c != nil {
		t.Fatal("grew past the limit")
	}
	if peak, refused, _ := g.stats(); peak != 512<<10 || refused != 2<<20 {
		t.Fatalf("peak %d, refused %d", peak, refused)
	}
}
