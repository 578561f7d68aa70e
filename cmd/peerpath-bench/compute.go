package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/peerpath/peerpath/internal/compute/computebench"
)

func computeCmd() *cobra.Command {
	var (
		trivialUnits, cpuUnits int
		span                   int
		noRatios, ratiosOnly   bool
	)
	c := &cobra.Command{
		Use:   "compute",
		Short: "Volunteer compute: scheduling overhead, speedup, adaptive replication, cheaters, wasm/native ratios",
		Long: `Runs in-process nodes on loopback (each with its own libp2p host, GossipSub
and database) and the example jobs, built with the Go toolchain from
./examples (run it from the repository root).`,
		RunE: func(c *cobra.Command, _ []string) error {
			return runCompute(c.Context(), trivialUnits, cpuUnits, span, !noRatios, ratiosOnly)
		},
	}
	c.Flags().IntVar(&trivialUnits, "trivial-units", 200, "units of the trivial jobs")
	c.Flags().IntVar(&cpuUnits, "cpu-units", 40, "units of the CPU-bound job (primes)")
	c.Flags().IntVar(&span, "span", 5_000_000, "numbers per unit of the CPU-bound primes job (and of the primes ratio unit, times 20)")
	c.Flags().BoolVar(&noRatios, "no-ratios", false, "skip the wasm/native ratios of the example kernels")
	c.Flags().BoolVar(&ratiosOnly, "ratios-only", false, "print only the wasm/native ratios of the example kernels")
	return c
}

// buildWasm builds an example as a WASI module into dir.
func buildWasm(dir, pkg string) ([]byte, error) {
	out := filepath.Join(dir, filepath.Base(pkg)+".wasm")
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("building %s (run from the repository root): %w", pkg, err)
	}
	return os.ReadFile(out)
}

func runCompute(ctx context.Context, trivialUnits, cpuUnits, span int, ratios, ratiosOnly bool) error {
	if ctx == nil {
		ctx = context.Background()
	}
	dir, err := os.MkdirTemp("", "peerpath-bench-compute-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	mods := map[string][]byte{}
	for _, name := range []string{"primes", "mandelbrot", "seti"} {
		if mods[name], err = buildWasm(dir, "./examples/"+name); err != nil {
			return err
		}
	}
	if ratiosOnly {
		return printRatios(ctx, dir, mods, 20*span)
	}
	cpuArgs := []string{"-span", strconv.Itoa(span)}
	t0 := time.Now()
	res, err := computebench.Bench(ctx, computebench.Config{
		Trivial: mods["primes"], TrivialArgs: []string{"-span", "1"}, TrivialUnits: trivialUnits,
		CPU: mods["primes"], CPUArgs: cpuArgs, CPUUnits: cpuUnits,
	})
	if err != nil {
		return err
	}
	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Printf("compute benchmark (%d cores, %.0f s; in-process loopback nodes, one shared sandbox runner; load average now %s)\n",
		res.Cores, time.Since(t0).Seconds(), strings.Join(strings.Fields(string(load))[:min(3, len(strings.Fields(string(load))))], " "))
	fmt.Printf("(a) scheduling overhead   %7.1f trivial units/s on one remote worker   sandbox alone %.1f units/s   ratio %.2f (primes -span 1, replication 1)\n",
		res.TrivialUnitsPerSec, res.SandboxUnitsPerSec, res.TrivialUnitsPerSec/res.SandboxUnitsPerSec)
	for _, p := range res.Speedup {
		ideal := float64(min(p.Workers, res.Cores))
		fmt.Printf("(b) speedup, %d worker(s)  %7.2fx  (%.1f s for %d units)   ideal %.0fx (%d workers, capped by %d cores)\n",
			p.Workers, p.Speedup, p.Seconds, cpuUnits, ideal, p.Workers, res.Cores)
	}
	fmt.Printf("(c) redundancy, adaptive  %7.2fx executions per unit after a warm-up job (first job %.2fx)   goal -> 1.1x\n",
		res.Redundancy, res.RedundancyWarmup)
	fmt.Printf("(d) 20%% cheaters          %7d wrong results accepted                                     goal 0\n", res.CheatWrongAccepted)
	fmt.Printf("(e) 20%% cheaters          %7.2f throughput kept (%.1f s honest, %.1f s with 1 cheater of 5)   goal >= 0.85\n",
		res.CheatThroughputKept, res.HonestSeconds, res.CheatSeconds)
	fmt.Printf("    same, in CPU time     %7.2f kept (%.1f CPU-s honest, %.1f CPU-s with the cheater; steadier on a shared machine)   goal >= 0.85\n",
		res.CheatCPUKept, res.HonestCPUSeconds, res.CheatCPUSeconds)
	if ratios {
		if err := printRatios(ctx, dir, mods, 20*span); err != nil {
			return err
		}
	}
	return nil
}
