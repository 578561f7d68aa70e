package sandbox

import (
	"sync"

	"github.com/tetratelabs/wazero/experimental"
)

// maxWasmMemory is the largest memory a wasm32 module can address (65536
// pages of 64 KiB).
const maxWasmMemory = 1 << 32

// memoryGuard is the per-run memory allocator: it backs the guest's linear
// memory and refuses to grow it past limit, remembering that it did.
//
// wazero calls Allocate once per memory instance during instantiation, then
// Reallocate from the guest's goroutine on memory.grow. Reads by the runner
// after the call returns are ordered by mu.
type memoryGuard struct {
	limit uint64

	mu       sync.Mutex
	peak     uint64
	refused  uint64 // first refused size in bytes, 0 if none
	initOver bool   // the initial (minimum) size already exceeded limit
}

// Allocate implements experimental.MemoryAllocator.
func (g *memoryGuard) Allocate(capacity, maxBytes uint64) experimental.LinearMemory {
	return &linearMemory{guard: g, max: maxBytes}
}

// stats reports the peak size, the first refused size and whether the
// initial memory was already over the limit.
func (g *memoryGuard) stats() (peak, refused uint64, initOver bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.peak, g.refused, g.initOver
}

// linearMemory is one guest memory, never grown beyond the guard's limit or
// the memory's declared maximum.
//
// Where the OS can reserve address space (see reserveMemory), the memory
// is one mapping of its largest allowed size, made at the first
// allocation: growing it only lengthens the slice, so nothing is copied,
// and the process's resident memory grows only by the pages the guest
// touches. Elsewhere it is a Go slice that grows by doubling its capacity;
// growing it then holds the old and the new copy at once, and the old one
// stays resident until the garbage collector frees it, which let a unit
// given 1 GiB drive a process to 2 GiB.
type linearMemory struct {
	guard  *memoryGuard
	max    uint64
	buf    []byte
	mapped []byte // the whole reservation, nil when not reserved by the OS
}

// Reallocate implements experimental.LinearMemory. Returning nil makes
// wazero fail the memory.grow (the guest sees -1).
func (m *linearMemory) Reallocate(size uint64) []byte {
	g := m.guard
	g.mu.Lock()
	defer g.mu.Unlock()
	if size > g.limit {
		if g.refused == 0 {
			g.refused = size
		}
		if m.buf != nil {
			return nil
		}
		// The initial allocation must succeed (wazero does not expect a
		// failure here). Its size is bounded by the runtime's ceiling; the
		// runner fails the unit right after instantiation.
		g.initOver = true
	}
	if m.buf == nil && m.mapped == nil {
		if r := reserveMemory(max(size, min(g.limit, m.max))); r != nil {
			m.mapped = r
		}
	}
	if m.mapped != nil {
		if size > uint64(len(m.mapped)) {
			return nil // past the reservation, which is the most allowed
		}
		// Bytes past the old length were never written: still zero.
		m.buf = m.mapped[:size]
	} else if size <= uint64(cap(m.buf)) {
		// Memory never shrinks, so bytes past the old length were never
		// written and are still zero.
		m.buf = m.buf[:size]
	} else {
		newCap := max(size, 2*uint64(cap(m.buf)))
		newCap = min(newCap, max(size, min(g.limit, m.max)))
		nb := make([]byte, size, newCap)
		copy(nb, m.buf)
		m.buf = nb
	}
	g.peak = max(g.peak, size)
	return m.buf
}

// Free implements experimental.LinearMemory.
func (m *linearMemory) Free() {
	m.guard.mu.Lock()
	defer m.guard.mu.Unlock()
	if m.mapped != nil {
		releaseMemory(m.mapped)
		m.mapped = nil
	}
	m.buf = nil
}
