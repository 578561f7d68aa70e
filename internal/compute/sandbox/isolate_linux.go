package sandbox

import (
	"os/exec"
	"syscall"
)

// setChildAttrs makes the kernel kill the child if the parent dies first.
func setChildAttrs(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
