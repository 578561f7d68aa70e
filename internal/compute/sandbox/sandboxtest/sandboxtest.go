// Package sandboxtest helps tests run Go programs in the sandbox: it builds
// a main package for GOOS=wasip1 GOARCH=wasm with the Go toolchain that runs
// the tests, once per package directory and test process.
package sandboxtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

var (
	mu     sync.Mutex
	builds = map[string]*build{}
)

type build struct {
	once sync.Once
	wasm []byte
	err  string
}

// goTool returns the go command of the toolchain running the tests.
func goTool() string {
	if root := runtime.GOROOT(); root != "" {
		p := filepath.Join(root, "bin", "go")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return "go"
}

// BuildWasm builds the main package in dir (a directory, relative to the
// test's working directory or absolute) as a WASI preview 1 module and
// returns its bytes. The result is cached for the rest of the test process,
// so every test may call it. A failed build fails tb.
func BuildWasm(tb testing.TB, dir string) []byte {
	tb.Helper()
	abs, err := filepath.Abs(dir)
	if err != nil {
		tb.Fatalf("sandboxtest: %v", err)
	}
	mu.Lock()
	b := builds[abs]
	if b == nil {
		b = &build{}
		builds[abs] = b
	}
	mu.Unlock()
	b.once.Do(func() {
		tmp, err := os.MkdirTemp("", "sandboxtest-*")
		if err != nil {
			b.err = err.Error()
			return
		}
		defer os.RemoveAll(tmp)
		out := filepath.Join(tmp, "module.wasm")
		cmd := exec.Command(goTool(), "build", "-trimpath", "-o", out, ".")
		cmd.Dir = abs
		cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
		if msg, err := cmd.CombinedOutput(); err != nil {
			b.err = "go build " + abs + ": " + err.Error() + "\n" + string(msg)
			return
		}
		b.wasm, err = os.ReadFile(out)
		if err != nil {
			b.err = err.Error()
		}
	})
	if b.err != "" {
		tb.Fatalf("sandboxtest: %s", b.err)
	}
	return b.wasm
}
