// Package ctest_test checks the C example jobs: the checked-in modules give
// the same output as the Go kernels for the same units, and, where Debian's
// clang for wasm32-wasi is installed, rebuilding them gives the same bytes.
package ctest_test

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"

	mandelbrot "github.com/peerpath/peerpath/examples/mandelbrot/kernel"
	primes "github.com/peerpath/peerpath/examples/primes/kernel"
	seti "github.com/peerpath/peerpath/examples/seti/kernel"
	"github.com/peerpath/peerpath/internal/compute/sandbox"
	"github.com/peerpath/peerpath/internal/testutil"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, testutil.LeakOptions()...)
}

var kernels = []string{"primes", "mandelbrot", "seti"}

// TestSameAsGo runs units of each checked-in C module in the sandbox and
// compares them with the Go kernel's output for the same unit.
func TestSameAsGo(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r, err := sandbox.NewRunner(ctx, sandbox.RunnerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close(context.Background())
	getenv := func(string) string { return "" }
	for _, k := range kernels {
		mod, err := os.ReadFile(filepath.Join("..", k+".wasm"))
		if err != nil {
			t.Fatal(err)
		}
		m, err := r.Compile(ctx, mod)
		if err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		for _, args := range map[string][][]string{
			"primes":     {{"-span", "200000", "0"}, {"-span", "100000", "123"}},
			"mandelbrot": {{"-width", "256", "-height", "128", "-tiles", "4", "-iter", "200", "2"}},
			"seti":       {{"9"}, {"4"}, {"-chunk", "256", "-chunks", "3", "-seed", "7", "11"}},
		}[k] {
			res, err := r.Run(ctx, m, sandbox.Unit{Args: args}, sandbox.Limits{Timeout: time.Minute})
			if err != nil {
				t.Fatalf("%s %v: %v", k, args, err)
			}
			var want []byte
			switch k {
			case "mandelbrot":
				fs := newFlags()
				p := mandelbrot.Flags(fs)
				if err := fs.Parse(args[:len(args)-1]); err != nil {
					t.Fatal(err)
				}
				img, err := mandelbrot.Render(*p, 2)
				if err != nil {
					t.Fatal(err)
				}
				want = append(fmt.Appendf(nil, "P5\n%d %d\n255\n", img.Rect.Dx(), img.Rect.Dy()), img.Pix...)
			case "primes":
				want, err = primes.Run(args, getenv)
			case "seti":
				want, err = seti.Run(args, getenv)
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(res.Stdout, want) {
				t.Fatalf("%s %v: C gave %q, Go %q", k, args, trim(res.Stdout), trim(want))
			}
		}
	}
}

// TestRebuild rebuilds the modules with examples/c/build.sh and requires
// the checked-in bytes, where clang can target wasm32-wasi.
func TestRebuild(t *testing.T) {
	if _, err := exec.LookPath("clang"); err != nil {
		t.Skip("no clang: apt-get install clang lld wasi-libc libclang-rt-dev-wasm32")
	}
	if _, err := os.Stat("/usr/lib/wasm32-wasi/crt1-command.o"); err != nil {
		t.Skip("no wasi-libc: apt-get install wasi-libc libclang-rt-dev-wasm32")
	}
	out := t.TempDir()
	cmd := exec.Command("sh", "../build.sh")
	cmd.Env = append(os.Environ(), "OUT="+out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build.sh: %v\n%s", err, b)
	}
	for _, k := range kernels {
		got, err := os.ReadFile(filepath.Join(out, k+".wasm"))
		if err != nil {
			t.Fatal(err)
		}
		have, err := os.ReadFile(filepath.Join("..", k+".wasm"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, have) {
			t.Errorf("%s.wasm: rebuilt module differs from the checked-in one (run examples/c/build.sh and commit)", k)
		}
	}
}

func trim(b []byte) []byte {
	if len(b) > 80 {
		return append(b[:80:80], "..."...)
	}
	return b
}

func newFlags() *flag.FlagSet { return flag.NewFlagSet("mandelbrot", flag.ContinueOnError) }
