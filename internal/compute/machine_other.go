//go:build !linux

package compute

// machineMemory returns zero (unknown) here: the worker then refuses no
// job for its memory beyond the sandbox's own limit.
func machineMemory() uint64 { return 0 }
