//go:build !linux

package main

import "os/exec"

// dieWithParent does nothing where the kernel offers no parent-death
// signal: stopDaemons stops the daemons of a run that ends normally.
func dieWithParent(*exec.Cmd) {}
