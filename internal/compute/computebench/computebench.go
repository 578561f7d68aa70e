// Package computebench measures the compute service (peerpath-bench
// compute): in-process nodes on loopback, each with its own libp2p host,
// GossipSub and database, sharing one sandbox runner and an in-memory
// content network (memcontent). It uses compute's exported API only, with
// its test hooks (Config.Tuning, Config.TestTamper). It is a harness: the
// daemon does not link it (internal/deptest).
package computebench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/peerpath/peerpath/internal/compute"
	"github.com/peerpath/peerpath/internal/compute/memcontent"
	"github.com/peerpath/peerpath/internal/compute/sandbox"
	"github.com/peerpath/peerpath/internal/cputime"
	"github.com/peerpath/peerpath/internal/p2p"
	"github.com/peerpath/peerpath/internal/store"
)

// Config configures Bench.
type Config struct {
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

// Result is what Bench measured.
type Result struct {
	// TrivialUnitsPerSec is trivial units validated per second with one
	// remote worker and no replication: the scheduling overhead per unit.
	TrivialUnitsPerSec float64 `json:"trivial_units_per_s"`
	// SandboxUnitsPerSec is the same units run one after the other
	// straight in the sandbox: the limit TrivialUnitsPerSec approaches.
	SandboxUnitsPerSec float64 `json:"sandbox_units_per_s"`
	// Speedup of the CPU-bound job (no replication) with each of
	// Config.Workers; the ideal is the worker count, capped by Cores.
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
// runner), as described by Result.
func Bench(ctx context.Context, cfg Config) (Result, error) {
	if len(cfg.Trivial) == 0 || len(cfg.CPU) == 0 {
		return Result{}, errors.New("computebench: Bench needs a trivial and a CPU-bound module")
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
		return Result{}, err
	}
	defer runner.Close(context.Background())
	for _, m := range [][]byte{cfg.Trivial, cfg.CPU} {
		if _, err := runner.Compile(ctx, m); err != nil {
			return Result{}, err
		}
	}
	b := &bencher{cfg: cfg, runner: runner}
	res := Result{Cores: runtime.NumCPU()}

	trivial := compute.JobSpec{Module: cfg.Trivial, Args: cfg.TrivialArgs, Count: cfg.TrivialUnits, Replication: 1, Quorum: 1}
	run, err := b.run(ctx, 1, 0, trivial)
	if err != nil {
		return res, fmt.Errorf("computebench: trivial units: %w", err)
	}
	res.TrivialUnitsPerSec = float64(cfg.TrivialUnits) / run.elapsed.Seconds()
	if res.SandboxUnitsPerSec, err = b.direct(ctx, trivial); err != nil {
		return res, err
	}

	cpu := compute.JobSpec{Module: cfg.CPU, Args: cfg.CPUArgs, Count: cfg.CPUUnits, Replication: 1, Quorum: 1}
	var reference map[int][]byte
	if len(cfg.Workers) == 0 {
		cfg.Workers = []int{1, 2, 4}
	}
	for _, n := range cfg.Workers {
		run, err := b.run(ctx, n, 0, cpu)
		if err != nil {
			return res, fmt.Errorf("computebench: speedup with %d workers: %w", n, err)
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

	adaptive := compute.JobSpec{Module: cfg.Trivial, Args: cfg.TrivialArgs, Count: cfg.TrivialUnits}
	run, err = b.run(ctx, 4, 0, adaptive, adaptive)
	if err != nil {
		return res, fmt.Errorf("computebench: adaptive replication: %w", err)
	}
	res.RedundancyWarmup = float64(run.statuses[0].Results) / float64(run.statuses[0].Units)
	res.Redundancy = float64(run.statuses[1].Results) / float64(run.statuses[1].Units)

	replicated := compute.JobSpec{Module: cfg.CPU, Args: cfg.CPUArgs, Count: cfg.CPUUnits}
	honest, err := b.run(ctx, 5, 0, replicated)
	if err != nil {
		return res, fmt.Errorf("computebench: honest run: %w", err)
	}
	cheat, err := b.run(ctx, 5, 1, replicated)
	if err != nil {
		return res, fmt.Errorf("computebench: run with a cheater: %w", err)
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
	cfg    Config
	runner *sandbox.Runner
}

// direct runs spec's units straight in the sandbox, one at a time, and
// returns units per second.
func (b *bencher) direct(ctx context.Context, spec compute.JobSpec) (float64, error) {
	m, err := b.runner.Compile(ctx, spec.Module)
	if err != nil {
		return 0, err
	}
	start := time.Now()
	for i := range spec.Count {
		idx := strconv.Itoa(i)
		u := sandbox.Unit{Args: append(append([]string(nil), spec.Args...), idx), Env: map[string]string{compute.UnitEnv: idx}}
		if _, err := b.runner.Run(ctx, m, u, sandbox.Limits{}); err != nil {
			return 0, fmt.Errorf("computebench: direct run: %w", err)
		}
	}
	return float64(spec.Count) / time.Since(start).Seconds(), nil
}

type benchRun struct {
	elapsed  time.Duration // submit of the first job to done of the last
	cpu      time.Duration // this process's CPU time over the same span
	statuses []compute.JobStatus
	results  map[int][]byte // of the last job
}

// run starts a submitter and n workers (the first cheaters of them
// returning wrong outputs), runs the jobs one after the other and stops
// everything.
func (b *bencher) run(ctx context.Context, n, cheaters int, jobs ...compute.JobSpec) (_ benchRun, err error) {
	dir, err := os.MkdirTemp("", "peerpath-compute-bench-")
	if err != nil {
		return benchRun{}, err
	}
	defer os.RemoveAll(dir)
	var nodes []*node
	defer func() {
		for _, nd := range nodes {
			err = errors.Join(err, nd.close())
		}
	}()
	cn := memcontent.NewNet(compute.ValidContentKey)
	tuning := &compute.Tuning{AdvertEvery: 200 * time.Millisecond, Retry: 20 * time.Millisecond}
	for i := range n + 1 {
		cfg := compute.Config{Runner: b.runner, Logger: b.cfg.Logger.With("node", i), Tuning: tuning,
			Worker: compute.WorkerConfig{Enabled: i > 0, CPUs: 1}}
		if i >= 1 && i <= cheaters {
			tag := fmt.Appendf(nil, "forged by %d:", i)
			cfg.TestTamper = func(out []byte) []byte { return append(tag, out...) }
		}
		nd, err := startNode(dir, cn, cfg)
		if err != nil {
			return benchRun{}, err
		}
		nodes = append(nodes, nd)
	}
	for i, a := range nodes {
		for _, c := range nodes[i+1:] {
			if err := a.h.Connect(ctx, peer.AddrInfo{ID: c.h.ID(), Addrs: c.h.Addrs()}); err != nil {
				return benchRun{}, fmt.Errorf("computebench: connecting nodes: %w", err)
			}
		}
	}
	// Wait until the submitter sees every worker on the jobs topic, so
	// discovery is not timed.
	for len(nodes[0].ps.ListPeers(compute.Topic)) < n {
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
		if st.State != compute.StateDone {
			return r, fmt.Errorf("job %s: %s %v", id, st.State, st.Reasons)
		}
		r.statuses = append(r.statuses, st)
		last = id
	}
	r.elapsed, r.cpu = time.Since(start), cputime.Process()-cpu0
	r.results, err = sub.Results(ctx, last)
	return r, err
}

// node is one in-process node on loopback: a libp2p host with GossipSub,
// a database and a store in an in-memory content network, running a
// compute Service.
type node struct {
	h      host.Host
	ps     *pubsub.PubSub
	psStop context.CancelFunc
	db     *store.DB
	svc    *compute.Service
	stop   context.CancelFunc
	done   chan error
}

// startNode starts a node with its database in dir, in the content
// network cn, serving a compute Service configured by cfg (whose Host,
// PubSub, DB and Content it sets).
func startNode(dir string, cn *memcontent.Net, cfg compute.Config) (*node, error) {
	h, err := p2p.NewLoopbackHost(nil)
	if err != nil {
		return nil, fmt.Errorf("computebench: loopback host: %w", err)
	}
	n := &node{h: h}
	psCtx, psStop := context.WithCancel(context.Background())
	n.psStop = psStop
	if n.ps, err = pubsub.NewGossipSub(psCtx, h); err != nil {
		return nil, errors.Join(fmt.Errorf("computebench: gossipsub: %w", err), n.close())
	}
	if n.db, err = store.Open(filepath.Join(dir, h.ID().String()+".db")); err != nil {
		return nil, errors.Join(err, n.close())
	}
	cfg.Host, cfg.PubSub, cfg.DB, cfg.Content = h, n.ps, n.db, cn.Node(h.ID())
	ctx, cancel := context.WithCancel(context.Background())
	if n.svc, err = compute.New(ctx, cfg); err != nil {
		cancel()
		return nil, errors.Join(err, n.close())
	}
	n.stop, n.done = cancel, make(chan error, 1)
	go func() { n.done <- n.svc.Serve(ctx) }()
	return n, nil
}

// close stops the service, then closes the database and the host.
func (n *node) close() error {
	var err error
	if n.stop != nil {
		n.stop()
		err = <-n.done
	}
	if n.db != nil {
		err = errors.Join(err, n.db.Close())
	}
	n.psStop()
	return errors.Join(err, n.h.Close())
}

// waitJob polls svc until job id is finished or ctx ends.
func waitJob(ctx context.Context, svc *compute.Service, id string) (compute.JobStatus, error) {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		st, err := svc.Status(ctx, id)
		if err != nil {
			return st, err
		}
		if st.State == compute.StateDone || st.State == compute.StateFailed || st.State == compute.StateCancelled {
			return st, nil
		}
		select {
		case <-ctx.Done():
			return st, fmt.Errorf("computebench: job %s still %s (%d/%d validated): %w", id, st.State, st.Validated, st.Units, ctx.Err())
		case <-t.C:
		}
	}
}
