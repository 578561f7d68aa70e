//go:build !linux

package sandbox

import "os/exec"

// setChildAttrs does nothing where the parent's death cannot be tied to
// the child's.
func setChildAttrs(*exec.Cmd) {}

// limitChild does nothing here: the child is bounded only by the guest's
// memory limit.
func limitChild(int, uint64, int) error { return nil }
