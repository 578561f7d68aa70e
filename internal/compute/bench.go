package compute

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"strconv"
	"time"

	"github.com/peerpath/peerpath/internal/compute/sandbox"
	"github.com/peerpath/peerpath/internal/cputime"
)

// BenchConfig configures Bench.
type BenchConfig struct {
	// Trivial is a module whose units do almost nothing, run with
	// TrivialArgs (count mode). Required.
	Trivial     []byte
	TrivialArgs []string
	// CPU is a CPU-bound module, run with CPUArgs (count mode). Required.
	CPU     []byte
	CPUArgs []string
	// TrivialUnits is the size of the trivial jobs. Zero means 200.
	TrivialUnits int
	// CPUUnits is the size of the CPU-bound jobs. Zero means 12.
	CPUUnits int
	// Workers are the worker counts of the speedup runs. Empty means 1,
	// 2 and 4. The first is the baseline.
	Workers []int
	// Logger receives the nodes' logs. Nil discards them.
	Logger *slog.Logger
}

// SpeedupPoint is one run of the CPU-bound job.
type SpeedupPoint struct {
	Workers int     `json:"workers"`
	Seconds float64 `json:"seconds"`
	Speedup float64 `json:"speedup"` // time with one worker / this time
}

// BenchResult is what Bench measured.
type BenchResult struct {
	// TrivialUnitsPerSec is trivial units validated per second with one
	// remote worker and no replication: the scheduling overhead per unit.
	TrivialUnitsPerSec float64 `json:"trivial_units_per_s"`
	// SandboxUnitsPerSec is the same units run one after the other
	// straight in the sandbox: the limit TrivialUnitsPerSec approaches.
	SandboxUnitsPerSec float64 `json:"sandbox_units_per_s"`
	// Speedup of the CPU-bound job (no replication) with each of
	// BenchConfig.Workers; the ideal is the worker count, capped by Cores.
	Speedup []SpeedupPoint `json:"speedup"`
	Cores   int            `json:"cores"`
	// RedundancyWarmup and Redundancy are executions per unit under
	// adaptive replication (replication 2, quorum 2) with four workers:
	// for a first job of fresh workers, and for a job after it.
	RedundancyWarmup float64 `json:"redundancy_warmup"`
	Redundancy       float64 `json:"redundancy"`
	// With one worker in five returning wrong results: wrong results
	// accepted (goal 0) and throughput as a share of the same run with
	// five honest workers (goal >= 0.85).
	CheatWrongAccepted  int     `json:"cheat_wrong_accepted"`
	CheatThroughputKept float64 `json:"cheat_throughput_kept"`
	HonestSeconds       float64 `json:"honest_s"`
	CheatSeconds        float64 `json:"cheat_s"`
	// CheatCPUKept is the same share measured in this process's CPU time
	// (user and system) rather than wall time: on a machine shared with
	// other work it is the steadier figure.
	CheatCPUKept     float64 `json:"cheat_cpu_kept"`
	HonestCPUSeconds float64 `json:"honest_cpu_s"`
	CheatCPUSeconds  float64 `json:"cheat_cpu_s"`
}

// Bench measures the compute service with in-process nodes on loopback
// (each with its own host, GossipSub and database, sharing one sandbox
// runner), as described by BenchResult.
func Bench(ctx context.Context, cfg BenchConfig) (BenchResult, error) {
	if len(cfg.Trivial) == 0 || len(cfg.CPU) == 0 {
		return BenchResult{}, errors.New("compute: Bench needs a trivial and a CPU-bound module")
	}
	if cfg.TrivialUnits <= 0 {
		cfg.TrivialUnits = 200
	}
	if cfg.CPUUnits <= 0 {
		cfg.CPUUnits = 12
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	runner, err := sandbox.NewRunner(ctx, sandbox.RunnerConfig{Logger: cfg.Logger})
	if err != nil {
		return BenchResult{}, err
	}
	defer runner.Close(context.Background())
	for _, m := range [][]byte{cfg.Trivial, cfg.CPU} {
		if _, err := runner.Compile(ctx, m); err != nil {
			return BenchResult{}, err
		}
	}
	b := &bencher{cfg: cfg, runner: runner}
	res := BenchResult{Cores: runtime.NumCPU()}

	trivial := JobSpec{Module: cfg.Trivial, Args: cfg.TrivialArgs, Count: cfg.TrivialUnits, Replication: 1, Quorum: 1}
	run, err := b.run(ctx, 1, 0, defaultTunables.trustAfter, trivial)
	if err != nil {
		return res, fmt.Errorf("compute: trivial units: %w", err)
	}
	res.TrivialUnitsPerSec = float64(cfg.TrivialUnits) / run.elapsed.Seconds()
	if res.SandboxUnitsPerSec, err = b.direct(ctx, trivial); err != nil {
		return res, err
	}

	cpu := JobSpec{Module: cfg.CPU, Args: cfg.CPUArgs, Count: cfg.CPUUnits, Replication: 1, Quorum: 1}
	var reference map[int][]byte
	if len(cfg.Workers) == 0 {
		cfg.Workers = []int{1, 2, 4}
	}
	for _, n := range cfg.Workers {
		run, err := b.run(ctx, n, 0, defaultTunables.trustAfter, cpu)
		if err != nil {
			return res, fmt.Errorf("compute: speedup with %d workers: %w", n, err)
		}
		p := SpeedupPoint{Workers: n, Seconds: run.elapsed.Seconds()}
		if len(res.Speedup) > 0 {
			p.Speedup = res.Speedup[0].Seconds / p.Seconds
		} else {
			p.Speedup = 1
			reference = run.results
		}
		res.Speedup = append(res.Speedup, p)
	}

	adaptive := JobSpec{Module: cfg.Trivial, Args: cfg.TrivialArgs, Count: cfg.TrivialUnits}
	run, err = b.run(ctx, 4, 0, defaultTunables.trustAfter, adaptive, adaptive)
	if err != nil {
		return res, fmt.Errorf("compute: adaptive replication: %w", err)
	}
	res.RedundancyWarmup = float64(run.statuses[0].Results) / float64(run.statuses[0].Units)
	res.Redundancy = float64(run.statuses[1].Results) / float64(run.statuses[1].Units)

	replicated := JobSpec{Module: cfg.CPU, Args: cfg.CPUArgs, Count: cfg.CPUUnits}
	honest, err := b.run(ctx, 5, 0, defaultTunables.trustAfter, replicated)
	if err != nil {
		return res, fmt.Errorf("compute: honest run: %w", err)
	}
	cheat, err := b.run(ctx, 5, 1, defaultTunables.trustAfter, replicated)
	if err != nil {
		return res, fmt.Errorf("compute: run with a cheater: %w", err)
	}
	for i, want := range reference {
		if got, ok := cheat.results[i]; !ok || !bytes.Equal(got, want) {
			res.CheatWrongAccepted++
		}
	}
	res.HonestSeconds, res.CheatSeconds = honest.elapsed.Seconds(), cheat.elapsed.Seconds()
	res.CheatThroughputKept = res.HonestSeconds / res.CheatSeconds
	res.HonestCPUSeconds, res.CheatCPUSeconds = honest.cpu.Seconds(), cheat.cpu.Seconds()
	res.CheatCPUKept = res.HonestCPUSeconds / res.CheatCPUSeconds
	return res, nil
}

type bencher struct {
	cfg    BenchConfig
	runner *sandbox.Runner
}

// direct runs spec's units straight in the sandbox, one at a time, and
// returns units per second.
func (b *bencher) direct(ctx context.Context, spec JobSpec) (float64, error) {
	m, err := b.runner.Compile(ctx, spec.Module)
	if err != nil {
		return 0, err
	}
	start := time.Now()
	for i := range spec.Count {
		idx := strconv.Itoa(i)
		u := sandbox.Unit{Args: append(append([]string(nil), spec.Args...), idx), Env: map[string]string{UnitEnv: idx}}
		if _, err := b.runner.Run(ctx, m, u, sandbox.Limits{}); err != nil {
			return 0, fmt.Errorf("compute: direct run: %w", err)
		}
	}
	return float64(spec.Count) / time.Since(start).Seconds(), nil
}

type benchRun struct {
	elapsed  time.Duration // submit of the first job to done of the last
	cpu      time.Duration // this process's CPU time over the same span
	statuses []JobStatus
	results  map[int][]byte // of the last job
}

// run starts a submitter and n workers (the first cheaters of them
// returning wrong outputs), runs the jobs one after the other and stops
// everything.
func (b *bencher) run(ctx context.Context, n, cheaters, trustAfter int, jobs ...JobSpec) (_ benchRun, err error) {
	dir, err := os.MkdirTemp("", "peerpath-compute-bench-")
	if err != nil {
		return benchRun{}, err
	}
	defer os.RemoveAll(dir)
	var nodes []*loopNode
	defer func() {
		for _, nd := range nodes {
			err = errors.Join(err, nd.close())
		}
	}()
	cn := newMemNet()
	for range n + 1 {
		nd, err := newLoopNode(dir, cn)
		if err != nil {
			return benchRun{}, err
		}
		nodes = append(nodes, nd)
	}
	if err := connectAll(ctx, nodes); err != nil {
		return benchRun{}, err
	}
	tune := defaultTunables
	tune.advertEvery, tune.retry, tune.trustAfter = 200*time.Millisecond, 20*time.Millisecond, trustAfter
	for i, nd := range nodes {
		var tweak func(*Service)
		if i >= 1 && i <= cheaters {
			tag := fmt.Appendf(nil, "forged by %d:", i)
			tweak = func(s *Service) { s.w.tamper = func(out []byte) []byte { return append(tag, out...) } }
		}
		if err := nd.start(b.runner, WorkerConfig{Enabled: i > 0, CPUs: 1}, nil, b.cfg.Logger.With("node", i), tune, tweak); err != nil {
			return benchRun{}, err
		}
	}
	// Wait until the submitter sees every worker on the jobs topic, so
	// discovery is not timed.
	for len(nodes[0].ps.ListPeers(Topic)) < n {
		select {
		case <-ctx.Done():
			return benchRun{}, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	sub := nodes[0].svc
	var r benchRun
	start, cpu0 := time.Now(), cputime.Process()
	var last string
	for _, spec := range jobs {
		id, err := sub.Submit(ctx, spec)
		if err != nil {
			return r, err
		}
		st, err := waitJob(ctx, sub, id)
		if err != nil {
			return r, err
		}
		if st.State != StateDone {
			return r, fmt.Errorf("job %s: %s %v", id, st.State, st.Reasons)
		}
		r.statuses = append(r.statuses, st)
		last = id
	}
	r.elapsed, r.cpu = time.Since(start), cputime.Process()-cpu0
	r.results, err = sub.Results(ctx, last)
	return r, err
}
