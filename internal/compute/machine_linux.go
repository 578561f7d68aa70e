package compute

import (
	"os"
	"strconv"
	"strings"
	"syscall"
)

// machineMemory returns the memory this process may use: the machine's
// RAM, or the memory limit of its cgroup (a container) when that is
// smaller. Zero means unknown.
func machineMemory() uint64 {
	var si syscall.Sysinfo_t
	if err := syscall.Sysinfo(&si); err != nil {
		return 0
	}
	total := uint64(si.Totalram) * uint64(si.Unit)
	for _, p := range []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"} {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		if v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64); err == nil && v > 0 && v < total {
			total = v // "max" (no limit) does not parse
		}
	}
	return total
}
