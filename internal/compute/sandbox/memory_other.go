//go:build !linux

package sandbox

// reserveMemory reserves nothing here: guest memory is a Go slice.
func reserveMemory(uint64) []byte { return nil }

func releaseMemory([]byte) {}
