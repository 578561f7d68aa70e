package compute

import (
	"context"
	"testing"
	"time"
)

// Bench runs end to end on a small scale and its figures hold together.
func TestBench(t *testing.T) {
	t.Parallel()
	mod := testModule(t)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	cfg := BenchConfig{
		Trivial: mod, TrivialArgs: []string{"work", "1"}, TrivialUnits: 10,
		CPU: mod, CPUArgs: []string{"work", "100000"}, CPUUnits: 6,
		Workers: []int{1, 2, 4},
	}
	if raceEnabled {
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
