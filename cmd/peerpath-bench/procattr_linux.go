package main

import (
	"os/exec"
	"syscall"
)

// dieWithParent has the kernel kill cmd if this benchmark dies first, so a
// failed run leaves no daemons behind.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
