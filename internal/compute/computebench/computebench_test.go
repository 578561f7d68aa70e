package computebench

import (
	"context"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/peerpath/peerpath/internal/compute/sandbox/sandboxtest"
	"github.com/peerpath/peerpath/internal/testutil"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, testutil.LeakOptions()...)
}

// Bench runs end to end on a small scale and its figures hold together.
func TestBench(t *testing.T) {
	mod := sandboxtest.BuildWasm(t, "../testdata/job")
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	cfg := Config{
		Trivial: mod, TrivialArgs: []string{"work", "1"}, TrivialUnits: 10,
		CPU: mod, CPUArgs: []string{"work", "100000"}, CPUUnits: 6,
		Workers: []int{1, 2, 4},
	}
	if testutil.Race {
		cfg.TrivialUnits, cfg.CPUUnits, cfg.Workers = 4, 4, []int{1, 2}
	}
	res, err := Bench(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", res)
	if res.TrivialUnitsPerSec <= 0 || res.SandboxUnitsPerSec <= 0 || len(res.Speedup) != len(cfg.Workers) || res.Speedup[0].Speedup != 1 {
		t.Errorf("figures %+v", res)
	}
	if res.CheatWrongAccepted != 0 {
		t.Errorf("%d wrong results accepted", res.CheatWrongAccepted)
	}
	if res.Redundancy < 1 || res.RedundancyWarmup < 1 || res.Redundancy > 2 || res.CheatThroughputKept <= 0 {
		t.Errorf("redundancy %.2f, warm-up %.2f, throughput kept %.2f", res.Redundancy, res.RedundancyWarmup, res.CheatThroughputKept)
	}
}
