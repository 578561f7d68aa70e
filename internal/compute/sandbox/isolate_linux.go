package sandbox

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// setChildAttrs makes the kernel kill the child if the parent dies first.
func setChildAttrs(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// Headroom of a child's limits beyond what it holds before a unit and the
// unit's own memory: for loading the module (its compiled code and the
// runtime's structures, plus childModuleFactor bytes per byte of module)
// and the unit's output buffers. Go reserves address space well beyond
// what it uses (a child running a Go-built module reaches about 1.7 GiB),
// so the address-space headroom is larger. Variables for tests.
var (
	childDataHeadroom    int64 = 256 << 20
	childAddressHeadroom int64 = 4 << 30
)

const childModuleFactor = 8

// limitChild bounds the child process as a whole before it runs a unit
// whose guest memory may reach memory bytes, so that no path outside the
// guest's linear memory (the runtime's own structures, a deep call stack)
// can grow it without bound:
//
//   - RLIMIT_DATA, the private writable memory (Go's heap and the guest's
//     memory mapping are both counted), to what the child holds now plus
//     memory plus childDataHeadroom plus childModuleFactor times the
//     module's size moduleSize;
//   - RLIMIT_AS, the address space, likewise with childAddressHeadroom (Go
//     reserves address space it does not use, so this bound is looser).
//
// A child that hits either fails an allocation; the Go runtime then dies
// with "out of memory", which the parent reports as ErrMemory. Only the
// soft limits are set: the guest can make no system call to raise them, and
// the parent may raise them again for the child's next unit.
func limitChild(pid int, memory uint64, moduleSize int) error {
	if raceEnabled {
		return nil
	}
	data, vsize, err := childUsage(pid)
	if err != nil {
		return err
	}
	set := func(res int, held uint64, headroom int64) error {
		var old unix.Rlimit
		if err := unix.Prlimit(pid, res, nil, &old); err != nil {
			return err
		}
		v := uint64(max(int64(held+memory)+headroom, 0))
		v = min(v, old.Max)
		return unix.Prlimit(pid, res, &unix.Rlimit{Cur: v, Max: old.Max}, nil)
	}
	if err := set(unix.RLIMIT_DATA, data, childDataHeadroom+childModuleFactor*int64(moduleSize)); err != nil {
		return fmt.Errorf("sandbox: limit child data: %w", err)
	}
	if err := set(unix.RLIMIT_AS, vsize, childAddressHeadroom); err != nil {
		return fmt.Errorf("sandbox: limit child address space: %w", err)
	}
	return nil
}

// childUsage reads a process's private writable memory (VmData) and its
// address space (VmSize), in bytes.
func childUsage(pid int) (data, vsize uint64, err error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, 0, fmt.Errorf("sandbox: child memory: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		name, rest, ok := strings.Cut(line, ":")
		if !ok || (name != "VmData" && name != "VmSize") {
			continue
		}
		kib, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("sandbox: child memory: %q: %w", line, err)
		}
		if name == "VmData" {
			data = kib << 10
		} else {
			vsize = kib << 10
		}
	}
	if data == 0 || vsize == 0 {
		return 0, 0, fmt.Errorf("sandbox: child memory: no VmData or VmSize in /proc/%d/status", pid)
	}
	return data, vsize, nil
}
