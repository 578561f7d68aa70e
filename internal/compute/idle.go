package compute

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/peerpath/peerpath/internal/cputime"
)

// idleMonitor measures how many cores the machine's owner leaves idle: the
// CPU time spent by everything but this process, from /proc/stat and the
// process's own rusage, over the last sampling interval (at least
// idleInterval long).
type idleMonitor struct {
	mu       sync.Mutex
	ncpu     int
	last     cpuSample
	lastAt   time.Time
	free     int
	read     func() (cpuSample, error) // replaced in tests
	interval time.Duration
}

// cpuSample is cumulative CPU time: busy for the whole machine, self for
// this process.
type cpuSample struct {
	busy, total time.Duration // machine-wide, over all cores
	self        time.Duration
}

const idleInterval = time.Second

func newIdleMonitor() *idleMonitor {
	return &idleMonitor{ncpu: runtime.NumCPU(), free: runtime.NumCPU(), read: readCPU, interval: idleInterval}
}

// freeCores returns how many units may run now without taking CPU the
// machine's owner is using: the number of cores minus the cores busy with
// other processes, rounded down (a core counts as free when at most a
// quarter of it is busy).
func (m *idleMonitor) freeCores() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := time.Now()
	if !m.lastAt.IsZero() && now.Sub(m.lastAt) < m.interval {
		return m.free
	}
	cur, err := m.read()
	if err != nil {
		// Without /proc we cannot tell; stay cautious and run one unit.
		m.free = 1
		return m.free
	}
	if !m.lastAt.IsZero() {
		m.free = freeFrom(m.last, cur, m.ncpu)
	}
	m.last, m.lastAt = cur, now
	return m.free
}

// freeFrom computes free cores between two samples.
func freeFrom(a, b cpuSample, ncpu int) int {
	total := b.total - a.total
	if total <= 0 {
		return ncpu
	}
	others := (b.busy - a.busy) - (b.self - a.self)
	if others < 0 {
		others = 0
	}
	busyCores := float64(others) / float64(total) * float64(ncpu)
	free := int(float64(ncpu) - busyCores + 0.25)
	return max(0, min(free, ncpu))
}

// readCPU reads the machine's CPU time from /proc/stat and this process's
// from getrusage.
func readCPU() (cpuSample, error) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return cpuSample{}, err
	}
	s, err := parseProcStat(data)
	if err != nil {
		return cpuSample{}, err
	}
	s.self = cputime.Process()
	return s, nil
}

// clockTick is the kernel's USER_HZ, the unit of /proc/stat (100 on every
// Linux architecture Go supports).
const clockTick = 10 * time.Millisecond

// parseProcStat reads the aggregate "cpu" line of /proc/stat: busy is every
// field but idle and iowait (and guest time, already counted in user).
func parseProcStat(data []byte) (cpuSample, error) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 5 || f[0] != "cpu" {
			continue
		}
		var vals []int64
		for _, x := range f[1:] {
			v, err := strconv.ParseInt(x, 10, 64)
			if err != nil || v < 0 {
				return cpuSample{}, fmt.Errorf("compute: /proc/stat: bad field %q", x)
			}
			vals = append(vals, v)
		}
		var total, idle int64
		for i, v := range vals {
			if i >= 8 { // guest, guest_nice: included in user, nice
				break
			}
			total += v
			if i == 3 || i == 4 {
				idle += v
			}
		}
		return cpuSample{busy: time.Duration(total-idle) * clockTick, total: time.Duration(total) * clockTick}, nil
	}
	return cpuSample{}, fmt.Errorf("compute: /proc/stat: no cpu line")
}
