package compute

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

type unitMeter struct {
	mu   sync.Mutex
	run  map[peer.ID]int
	used map[peer.ID]int
}

func newUnitMeter() *unitMeter {
	return &unitMeter{run: map[peer.ID]int{}, used: map[peer.ID]int{}}
}

func (m *unitMeter) UnitRun(p peer.ID)  { m.mu.Lock(); m.run[p]++; m.mu.Unlock() }
func (m *unitMeter) UnitUsed(p peer.ID) { m.mu.Lock(); m.used[p]++; m.mu.Unlock() }

func (m *unitMeter) counts(p peer.ID) (run, used int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.run[p], m.used[p]
}

// Each node's meter counts the units it ran for a submitter and the units
// each worker ran, accepted, for it.
func TestUnitsMetered(t *testing.T) {
	t.Parallel()
	mod := testModule(t)
	c := newCluster(t, 3)
	meters := []*unitMeter{newUnitMeter(), newUnitMeter(), newUnitMeter()}
	set := func(i int) func(*Service) { return func(s *Service) { s.cfg.Meter = meters[i] } }
	sub := c.start(0, false, nil, set(0))
	c.start(1, true, nil, set(1))
	c.start(2, true, nil, set(2))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	id, err := sub.Submit(ctx, JobSpec{Module: mod, Count: 4, Args: []string{"work", "10"}})
	if err != nil {
		t.Fatal(err)
	}
	if st := waitFor(t, sub, id, 50*time.Second); st.State != StateDone {
		t.Fatalf("status %+v", st)
	}
	self := c.nodes[0].h.ID()
	for _, w := range []int{1, 2} {
		wid := c.nodes[w].h.ID()
		if _, used := meters[0].counts(wid); used != 4 {
			t.Errorf("submitter metered %d units used from worker %d, want 4", used, w)
		}
		if run, _ := meters[w].counts(self); run != 4 {
			t.Errorf("worker %d metered %d units run for the submitter, want 4", w, run)
		}
	}
}
