//go:build !linux

package sandbox

import "os/exec"

// setChildAttrs does nothing where the parent's death cannot be tied to
// the child's.
func setChildAttrs(*exec.Cmd) {}
