// Package cputime reads the CPU time this process has used, for benchmarks
// that report CPU per byte or per unit and for the compute worker's
// idle-only mode, which tells its own load from the machine owner's.
package cputime
