package compute

import (
	"errors"
	"testing"
	"time"
)

func TestParseProcStat(t *testing.T) {
	data := []byte("cpu  100 5 50 800 20 1 2 3 40 0\ncpu0 50 2 25 400 10 0 1 1 20 0\nintr 1\n")
	s, err := parseProcStat(data)
	if err != nil {
		t.Fatal(err)
	}
	// total: user..steal = 100+5+50+800+20+1+2+3 = 981; idle+iowait = 820.
	if s.total != 981*clockTick || s.busy != 161*clockTick {
		t.Errorf("parsed %+v", s)
	}
	for _, bad := range []string{"", "intr 1\n", "cpu 1 2 x 4 5\n", "cpu 1 -2 3 4 5\n"} {
		if _, err := parseProcStat([]byte(bad)); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestFreeCores(t *testing.T) {
	sec := time.Second
	for _, tc := range []struct {
		name string
		a, b cpuSample
		ncpu int
		want int
	}{
		{"idle machine", cpuSample{}, cpuSample{busy: 0, total: 4 * sec}, 4, 4},
		{"our own units do not count", cpuSample{}, cpuSample{busy: 2 * sec, total: 4 * sec, self: 2 * sec}, 4, 4},
		{"owner busy on two cores", cpuSample{}, cpuSample{busy: 2 * sec, total: 4 * sec}, 4, 2},
		{"owner busy everywhere", cpuSample{}, cpuSample{busy: 4 * sec, total: 4 * sec}, 4, 0},
		{"owner at 1.8 of 2 cores", cpuSample{}, cpuSample{busy: 1800 * time.Millisecond, total: 2 * sec}, 2, 0},
		{"no time passed", cpuSample{total: sec}, cpuSample{total: sec}, 2, 2},
	} {
		if got := freeFrom(tc.a, tc.b, tc.ncpu); got != tc.want {
			t.Errorf("%s: %d free cores, want %d", tc.name, got, tc.want)
		}
	}
}

// With idle-only on, the worker pauses while the owner's load fills the
// machine, and resumes when it drops.
func TestIdleOnlyPauses(t *testing.T) {
	var cur cpuSample
	busy := true
	m := newIdleMonitor()
	m.ncpu, m.interval = 2, 0
	m.read = func() (cpuSample, error) {
		cur.total += 2 * time.Second
		if busy {
			cur.busy += 2 * time.Second
		}
		return cur, nil
	}
	m.freeCores() // first sample
	if n := m.freeCores(); n != 0 {
		t.Fatalf("busy machine: %d free cores", n)
	}
	busy = false
	if n := m.freeCores(); n != 2 {
		t.Fatalf("idle machine: %d free cores", n)
	}
	m.read = func() (cpuSample, error) { return cpuSample{}, errors.New("no /proc") }
	if n := m.freeCores(); n != 1 {
		t.Fatalf("without /proc: %d free cores, want a cautious 1", n)
	}

	// The worker's limit follows the monitor.
	svc := &Service{cfg: Config{Runner: testRunner(t)}}
	w := newWorker(svc, WorkerConfig{Enabled: true, CPUs: 2, IdleOnly: true})
	svc.w = w
	w.idle = m
	busy = true
	cur = cpuSample{}
	m.read = func() (cpuSample, error) {
		cur.total += 2 * time.Second
		if busy {
			cur.busy += 2 * time.Second
		}
		return cur, nil
	}
	m.lastAt = time.Time{}
	m.freeCores()
	w.mu.Lock()
	if n := w.limitLocked(); n != 0 || !w.paused {
		t.Errorf("busy machine: limit %d, paused %v", n, w.paused)
	}
	w.mu.Unlock()
	if st := svc.WorkerStatus(); !st.Paused {
		t.Errorf("status %+v not paused", st)
	}
	busy = false
	w.mu.Lock()
	if n := w.limitLocked(); n != 2 || w.paused {
		t.Errorf("idle machine: limit %d, paused %v", n, w.paused)
	}
	w.mu.Unlock()
}

// The live readers work on this machine.
func TestReadCPU(t *testing.T) {
	a, err := readCPU()
	if err != nil {
		t.Fatal(err)
	}
	if a.total <= 0 || a.busy > a.total || a.self <= 0 {
		t.Errorf("sample %+v", a)
	}
}
