package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	mandelbrot "github.com/peerpath/peerpath/examples/mandelbrot/kernel"
	primes "github.com/peerpath/peerpath/examples/primes/kernel"
	seti "github.com/peerpath/peerpath/examples/seti/kernel"
	"github.com/peerpath/peerpath/internal/compute"
	"github.com/peerpath/peerpath/internal/compute/sandbox"
)

// ratioKernel is one example kernel, as Go and as C.
type ratioKernel struct {
	name string
	args []string
	run  func([]string, func(string) string) ([]byte, error)
}

// bestOf returns the shortest of n runs of fn.
func bestOf(n int, fn func() error) (time.Duration, error) {
	var best time.Duration
	for i := range n {
		t := time.Now()
		if err := fn(); err != nil {
			return 0, err
		}
		d := time.Since(t)
		if os.Getenv("PEERPATH_BENCH_VERBOSE") != "" {
			fmt.Fprintf(os.Stderr, " %v", d.Round(time.Millisecond))
		}
		if i == 0 || d < best {
			best = d
		}
	}
	return best, nil
}

// bareWazero runs modules in a wazero runtime with no termination checks
// and no limits: the runtime's own speed, the reference for what the
// sandbox's ways of stopping a runaway guest cost.
type bareWazero struct {
	rt wazero.Runtime
}

func newBareWazero(ctx context.Context) (*bareWazero, error) {
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigCompiler())
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, rt); err != nil {
		rt.Close(ctx)
		return nil, err
	}
	return &bareWazero{rt: rt}, nil
}

func (b *bareWazero) run(ctx context.Context, cm wazero.CompiledModule, args []string, env map[string]string) ([]byte, error) {
	var out bytes.Buffer
	cfg := wazero.NewModuleConfig().WithStdout(&out).WithArgs(append([]string{"unit"}, args...)...).WithName("")
	for k, v := range env {
		cfg = cfg.WithEnv(k, v)
	}
	m, err := b.rt.InstantiateModule(ctx, cm, cfg)
	if m != nil {
		m.Close(ctx)
	}
	return out.Bytes(), err
}

// wasmOpt runs binaryen's wasm-opt -O3 on a Go module, with the features
// Go's wasm output uses.
func wasmOpt(dir, name string, mod []byte) ([]byte, error) {
	in := filepath.Join(dir, name+".in.wasm")
	out := filepath.Join(dir, name+".O3.wasm")
	if err := os.WriteFile(in, mod, 0o644); err != nil {
		return nil, err
	}
	cmd := exec.Command("wasm-opt", "-O3", "--enable-sign-ext", "--enable-nontrapping-float-to-int",
		"--enable-bulk-memory", "--enable-mutable-globals", in, "-o", out)
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return nil, err
	}
	return os.ReadFile(out)
}

// printRatios times one unit of each example kernel natively and as wasm
// (instantiation included; the best of three runs each), for the Go
// guests and the C ones (examples/c), and what stopping a runaway guest
// costs: in-process (wazero's loop-header checks) and isolated (a child
// process without checks, killed on time), each against the same module
// in a bare wazero runtime without checks.
func printRatios(ctx context.Context, dir string, mods map[string][]byte, span int) error {
	inproc, err := sandbox.NewRunner(ctx, sandbox.RunnerConfig{})
	if err != nil {
		return err
	}
	defer inproc.Close(context.Background())
	iso, err := sandbox.NewRunner(ctx, sandbox.RunnerConfig{Isolate: true})
	if err != nil {
		return err
	}
	defer iso.Close(context.Background())
	bare, err := newBareWazero(ctx)
	if err != nil {
		return err
	}
	defer bare.rt.Close(context.Background())

	_, optErr := exec.LookPath("wasm-opt")
	_, clangErr := exec.LookPath("clang")
	cDir := filepath.Join(dir, "c")
	if clangErr == nil {
		if err := os.MkdirAll(cDir, 0o755); err != nil {
			return err
		}
		cmd := exec.Command("sh", "examples/c/build.sh")
		cmd.Env = append(os.Environ(), "OUT="+cDir, "NATIVE="+cDir)
		cmd.Stderr = os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("building the C kernels: %w", err)
		}
	}
	fmt.Printf("wasm/native, one unit each with instantiation, best of 3; units of 0.1-1 s natively (primes -span %d unit 1000, mandelbrot -iter 2048 tile 7, seti -chunks 512),\n", span)
	fmt.Println("isolated = the daemon's default runner (a child process per unit, no checks), bare = wazero in-process without checks:")
	for _, k := range []ratioKernel{
		{"primes", []string{"-span", strconv.Itoa(span), "1000"}, primes.Run},
		{"mandelbrot", []string{"-iter", "2048", "7"}, mandelbrot.Run},
		{"seti", []string{"-chunks", "512", "9"}, seti.Run},
	} {
		env := map[string]string{compute.UnitEnv: k.args[len(k.args)-1]}
		getenv := func(key string) string { return env[key] }
		unit := sandbox.Unit{Args: k.args, Env: env}
		want, err := k.run(k.args, getenv)
		if err != nil {
			return fmt.Errorf("%s natively: %w", k.name, err)
		}
		native, err := bestOf(3, func() error { _, err := k.run(k.args, getenv); return err })
		if err != nil {
			return err
		}
		// timeRunner times a module in a sandbox runner, checking its output.
		timeRunner := func(r *sandbox.Runner, mod []byte, want []byte) (time.Duration, error) {
			m, err := r.Compile(ctx, mod)
			if err != nil {
				return 0, err
			}
			return bestOf(3, func() error {
				res, err := r.Run(ctx, m, unit, sandbox.Limits{Timeout: 10 * time.Minute})
				if err == nil && want != nil && !bytes.Equal(res.Stdout, want) {
					err = fmt.Errorf("%s: output differs from native", k.name)
				}
				return err
			})
		}
		timeBare := func(mod []byte) (time.Duration, error) {
			cm, err := bare.rt.CompileModule(ctx, mod)
			if err != nil {
				return 0, err
			}
			defer cm.Close(ctx)
			return bestOf(3, func() error { _, err := bare.run(ctx, cm, k.args, env); return err })
		}
		goBare, err := timeBare(mods[k.name])
		if err != nil {
			return err
		}
		goIn, err := timeRunner(inproc, mods[k.name], want)
		if err != nil {
			return err
		}
		goIso, err := timeRunner(iso, mods[k.name], want)
		if err != nil {
			return err
		}
		fmt.Printf("(f) Go %-10s isolated %5.2fx   bare %5.2fx   in-process with checks %5.2fx   (native %v)\n",
			k.name, ratio(goIso, native), ratio(goBare, native), ratio(goIn, native), native.Round(time.Millisecond))
		fmt.Printf("    stopping a runaway, Go %-10s  in-process checks %5.2fx bare   isolation %5.2fx bare   (goal <= 1.20)\n",
			k.name, ratio(goIn, goBare), ratio(goIso, goBare))
		if optErr == nil {
			opt, err := wasmOpt(dir, k.name, mods[k.name])
			if err != nil {
				return fmt.Errorf("wasm-opt %s: %w", k.name, err)
			}
			optIso, err := timeRunner(iso, opt, want)
			if err != nil {
				return err
			}
			fmt.Printf("    Go %-10s after wasm-opt -O3: isolated %5.2fx native (goal <= 4)\n", k.name, ratio(optIso, native))
		}
		if clangErr != nil {
			fmt.Printf("    C %-10s skipped: no clang (apt-get install clang lld wasi-libc libclang-rt-dev-wasm32)\n", k.name)
			continue
		}
		cmod, err := os.ReadFile(filepath.Join(cDir, k.name+".wasm"))
		if err != nil {
			return err
		}
		var cwant []byte
		cNative, err := bestOf(3, func() error {
			out, err := exec.Command(filepath.Join(cDir, k.name), k.args...).Output()
			cwant = out
			return err
		})
		if err != nil {
			return fmt.Errorf("%s in C natively: %w", k.name, err)
		}
		cBare, err := timeBare(cmod)
		if err != nil {
			return err
		}
		cIn, err := timeRunner(inproc, cmod, cwant)
		if err != nil {
			return err
		}
		cIso, err := timeRunner(iso, cmod, cwant)
		if err != nil {
			return err
		}
		fmt.Printf("(g) C  %-10s isolated %5.2fx   bare %5.2fx   in-process with checks %5.2fx   (native %v, a process; goal isolated <= 2, stretch 1.5)\n",
			k.name, ratio(cIso, cNative), ratio(cBare, cNative), ratio(cIn, cNative), cNative.Round(time.Millisecond))
		fmt.Printf("    stopping a runaway, C  %-10s  in-process checks %5.2fx bare   isolation %5.2fx bare   (goal <= 1.20)\n",
			k.name, ratio(cIn, cBare), ratio(cIso, cBare))
	}
	return nil
}

func ratio(a, b time.Duration) float64 { return a.Seconds() / b.Seconds() }
