package sandbox

import "syscall"

// reserveMemory maps n bytes of zeroed, private memory without reserving
// swap for it: only the pages written become resident. It returns nil when
// n is zero or the mapping fails (the caller then falls back to a Go
// slice).
func reserveMemory(n uint64) []byte {
	if n == 0 || n > maxWasmMemory {
		return nil
	}
	b, err := syscall.Mmap(-1, 0, int(n), syscall.PROT_READ|syscall.PROT_WRITE,
		syscall.MAP_PRIVATE|syscall.MAP_ANONYMOUS|syscall.MAP_NORESERVE)
	if err != nil {
		return nil
	}
	return b
}

// releaseMemory unmaps what reserveMemory mapped.
func releaseMemory(b []byte) { _ = syscall.Munmap(b) }
