package sandbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"
	"github.com/zeebo/blake3"
)

// Defaults of [RunnerConfig].
const (
	DefaultMaxModules     = 32
	DefaultMaxModuleBytes = 64 << 20
)

// coreFeatures are the WebAssembly 2.0 features without reference types.
// Reference types bring table.grow, which wazero implements by growing a Go
// slice of up to 2^32 entries outside linear memory: one instruction could
// exhaust the host. Without the feature such modules fail to compile
// (ErrInvalidModule). Go and LLVM toolchains emit modules that do not need
// it (LLVM may mark it enabled, but a module that uses a single function
// table encodes the same either way).
const coreFeatures = api.CoreFeaturesV2 &^ api.CoreFeatureReferenceTypes

// maxTrapMessage bounds the trap description (message and stack trace)
// carried in an ErrTrap error.
const maxTrapMessage = 4 << 10

// RunnerConfig configures a [Runner]. The zero value is usable.
type RunnerConfig struct {
	// CacheDir, if set, keeps compiled machine code on disk so that a
	// restarted node does not compile the same module again. The directory
	// is created if needed and must not be writable by anyone else. Empty
	// means an in-memory cache only.
	CacheDir string
	// Logger receives debug records about compilation and runs. Nil
	// discards them.
	Logger *slog.Logger
	// MaxMemoryBytes is the ceiling of every unit's [Limits.MemoryBytes]
	// (rounded up to pages). Zero means 4 GiB, all a wasm32 module can
	// address.
	MaxMemoryBytes uint64
	// MaxModules is how many compiled modules the runner keeps; the least
	// recently used idle module is dropped beyond it (and compiled again,
	// from the CompilationCache when possible, if it is needed later). Zero
	// means DefaultMaxModules.
	MaxModules int
	// MaxModuleBytes bounds the size of a module given to Compile. Zero
	// means DefaultMaxModuleBytes (64 MiB).
	MaxModuleBytes int
	// Isolate runs every unit in a child process (this program, re-executed)
	// that is killed when the unit's time is up. Guests then run without
	// wazero's loop-header termination checks, several times faster, and a
	// guest that cannot be interrupted in-process (deep recursion without
	// loops) is still stopped. The program's main (and TestMain) must call
	// [ServeChild] first thing. Each unit pays for starting a process and
	// loading the compiled module from the cache (tens of milliseconds).
	Isolate bool
}

// Runner compiles and runs untrusted WASI modules. It is safe for
// concurrent use; each Run gets a fresh module instance with fresh memory.
type Runner struct {
	log      *slog.Logger
	ceiling  uint64
	maxMods  int
	maxBytes int

	cache wazero.CompilationCache
	// The runtime, with WASI instantiated, is built on first use (see
	// Runner.runtime); rtOnce guards rt, rtErr and wasiFns.
	rtCfg   wazero.RuntimeConfig
	rtOnce  sync.Once
	rt      wazero.Runtime
	rtErr   error
	wasiFns map[string]api.FunctionDefinition

	// Isolated mode (see RunnerConfig.Isolate).
	isolate   bool
	childPath string      // executable re-run as the child
	childDir  string      // compilation cache shared with the children
	tempDir   bool        // childDir was created by NewRunner and is removed by Close
	idle      []*child    // guarded by mu: children waiting for a unit
	reaper    *time.Timer // guarded by mu: stops children idle too long
	// onOverflow, in a child, reports an output overflow and exits: the
	// guest runs without termination checks, so it cannot be stopped
	// otherwise.
	onOverflow func(stdout, stderr []byte)

	closeCtx  context.Context // done once Close is called
	closeStop context.CancelFunc
	busy      sync.WaitGroup // compilations and runs in progress

	mu       sync.Mutex
	closed   bool
	modules  map[[32]byte]*Module
	inflight map[[32]byte]*compileCall
	tick     uint64 // logical clock for least-recently-used eviction
}

// compileCall is a compilation in progress, shared by concurrent callers
// compiling the same bytes.
type compileCall struct {
	done chan struct{}
	m    *Module
	err  error
}

// Module is a compiled WASI command, obtained from [Runner.Compile]. It is
// immutable and safe for concurrent use by many Runs of the runner that
// compiled it.
type Module struct {
	runner    *Runner
	hash      [32]byte
	wasm      []byte
	minMemory uint64 // initial size of the exported memory in bytes

	// Guarded by runner.mu.
	compiled wazero.CompiledModule // nil once evicted
	running  int
	lastUse  uint64
}

// Hash returns the BLAKE3-256 hash of the module's bytes, its identity in
// the compile cache.
func (m *Module) Hash() [32]byte { return m.hash }

// Size returns the size of the module's bytes.
func (m *Module) Size() int { return len(m.wasm) }

// NewRunner creates a Runner: one wazero runtime (compiler where supported)
// that closes guests when their context ends, with the WASI preview 1 host
// module instantiated once; the runtime is built by the first Compile.
// Call Close to release it.
func NewRunner(ctx context.Context, cfg RunnerConfig) (*Runner, error) {
	if !cfg.Isolate {
		return buildRunner(ctx, cfg, true)
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("sandbox: isolation needs the executable's path: %w", err)
	}
	return newIsolatedRunner(ctx, cfg, exe)
}

// newIsolatedRunner creates a runner whose units run in children started
// from exe.
func newIsolatedRunner(ctx context.Context, cfg RunnerConfig, exe string) (*Runner, error) {
	var err error
	// The parent compiles without termination checks, for the children to
	// load from the disk cache. wazero's cache key does not record whether
	// the checks were compiled in, so this cache must never be shared with
	// a runner that executes guests in-process.
	dir, temp := "", false
	if cfg.CacheDir != "" {
		dir = filepath.Join(cfg.CacheDir, "isolated")
	} else {
		if dir, err = os.MkdirTemp("", "peerpath-sandbox-*"); err != nil {
			return nil, fmt.Errorf("sandbox: %w", err)
		}
		temp = true
	}
	inner := cfg
	inner.CacheDir = dir
	r, err := buildRunner(ctx, inner, false)
	if err != nil {
		if temp {
			_ = os.RemoveAll(dir)
		}
		return nil, err
	}
	r.isolate, r.childPath, r.childDir, r.tempDir = true, exe, dir, temp
	if err := r.probeChild(); err != nil {
		_ = r.Close(ctx)
		return nil, err
	}
	return r, nil
}

// buildRunner creates a runner whose guests run in this process, with or
// without wazero's termination checks (without only in a child process).
func buildRunner(ctx context.Context, cfg RunnerConfig, terminate bool) (*Runner, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ceiling := cfg.MaxMemoryBytes
	if ceiling == 0 {
		ceiling = maxWasmMemory
	}
	ceiling = roundPages(ceiling)
	if ceiling == 0 {
		return nil, errors.New("sandbox: MaxMemoryBytes rounds to zero pages")
	}
	r := &Runner{
		log:      log,
		ceiling:  ceiling,
		maxMods:  orDefault(cfg.MaxModules, DefaultMaxModules),
		maxBytes: orDefault(cfg.MaxModuleBytes, DefaultMaxModuleBytes),
		modules:  make(map[[32]byte]*Module),
		inflight: make(map[[32]byte]*compileCall),
	}
	if cfg.CacheDir != "" {
		c, err := wazero.NewCompilationCacheWithDir(cfg.CacheDir)
		if err != nil {
			return nil, fmt.Errorf("sandbox: compilation cache: %w", err)
		}
		r.cache = c
	} else {
		r.cache = wazero.NewCompilationCache()
	}
	r.rtCfg = wazero.NewRuntimeConfig().
		WithCoreFeatures(coreFeatures).
		WithCloseOnContextDone(terminate).
		WithMemoryLimitPages(uint32(ceiling / pageSize)).
		WithCompilationCache(r.cache)
	r.closeCtx, r.closeStop = context.WithCancel(context.Background())
	return r, nil
}

// runtime returns the wazero runtime with WASI preview 1 instantiated,
// building it on first use: a node that compiles no module (its worker off,
// no job submitted) never runs wazero's compiler, which keeps about 2 MB of
// resident memory off an idle daemon (docs/performance.md).
func (r *Runner) runtime() (wazero.Runtime, error) {
	r.rtOnce.Do(func() {
		ctx := context.Background()
		rt := wazero.NewRuntimeWithConfig(ctx, r.rtCfg)
		if _, err := wasi_snapshot_preview1.Instantiate(ctx, rt); err != nil {
			_ = rt.Close(ctx)
			r.rtErr = fmt.Errorf("sandbox: instantiate WASI: %w", err)
			return
		}
		r.wasiFns = rt.Module(wasi_snapshot_preview1.ModuleName).ExportedFunctionDefinitions()
		r.rt = rt
	})
	return r.rt, r.rtErr
}

// orDefault returns v, or def when v is not positive.
func orDefault(v, def int) int {
	if v <= 0 {
		return def
	}
	return v
}

// enter registers an operation that Close must wait for. It fails once the
// runner is closed.
func (r *Runner) enter() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return fmt.Errorf("sandbox: %w", ErrClosed)
	}
	r.busy.Add(1)
	return nil
}

// Compile validates and compiles a WASI command module. Compiling the same
// bytes again returns the same *Module from the runner's cache without
// compiling; concurrent calls for the same bytes share one compilation.
// Errors wrap ErrInvalidModule, ErrClosed, or ctx's error while waiting for
// another caller's compilation.
func (r *Runner) Compile(ctx context.Context, wasm []byte) (*Module, error) {
	if len(wasm) > r.maxBytes {
		return nil, fmt.Errorf("sandbox: %w: %d bytes exceed the %d byte limit", ErrInvalidModule, len(wasm), r.maxBytes)
	}
	hash := blake3.Sum256(wasm)
	if err := r.enter(); err != nil {
		return nil, err
	}
	defer r.busy.Done()

	r.mu.Lock()
	if m := r.modules[hash]; m != nil {
		r.tick++
		m.lastUse = r.tick
		r.mu.Unlock()
		return m, nil
	}
	if call := r.inflight[hash]; call != nil {
		r.mu.Unlock()
		select {
		case <-call.done:
			return call.m, call.err
		case <-ctx.Done():
			return nil, fmt.Errorf("sandbox: compile: %w", ctx.Err())
		}
	}
	call := &compileCall{done: make(chan struct{})}
	r.inflight[hash] = call
	r.mu.Unlock()

	start := time.Now()
	call.m, call.err = r.compile(ctx, hash, wasm)

	r.mu.Lock()
	delete(r.inflight, hash)
	if call.err == nil {
		r.tick++
		call.m.lastUse = r.tick
		r.modules[hash] = call.m
		r.evictLocked(ctx)
	}
	r.mu.Unlock()
	close(call.done)
	if call.err != nil {
		r.log.Debug("sandbox: module rejected", "hash", fmt.Sprintf("%x", hash[:8]), "err", call.err)
	} else {
		r.log.Debug("sandbox: module compiled", "hash", fmt.Sprintf("%x", hash[:8]), "bytes", len(wasm), "took", time.Since(start))
	}
	return call.m, call.err
}

// compile compiles and validates wasm, whose hash is given.
func (r *Runner) compile(ctx context.Context, hash [32]byte, wasm []byte) (*Module, error) {
	if err := precheck(wasm); err != nil {
		return nil, fmt.Errorf("sandbox: %w: %w", ErrInvalidModule, err)
	}
	rt, err := r.runtime()
	if err != nil {
		return nil, err
	}
	cm, err := rt.CompileModule(ctx, wasm)
	if err != nil {
		return nil, fmt.Errorf("sandbox: %w: %w", ErrInvalidModule, err)
	}
	minMem, err := r.validate(cm)
	if err != nil {
		_ = cm.Close(ctx)
		return nil, fmt.Errorf("sandbox: %w: %w", ErrInvalidModule, err)
	}
	return &Module{
		runner:    r,
		hash:      hash,
		wasm:      slices.Clone(wasm),
		minMemory: minMem,
		compiled:  cm,
	}, nil
}

// validate checks that cm is a WASI preview 1 command the runner can
// instantiate, and returns its initial memory size in bytes.
func (r *Runner) validate(cm wazero.CompiledModule) (uint64, error) {
	start, ok := cm.ExportedFunctions()["_start"]
	if !ok {
		return 0, errors.New(`no exported "_start" function (not a WASI command)`)
	}
	if len(start.ParamTypes()) != 0 || len(start.ResultTypes()) != 0 {
		return 0, errors.New(`"_start" must take and return nothing`)
	}
	if mems := cm.ImportedMemories(); len(mems) != 0 {
		return 0, errors.New("imported memory is not supported")
	}
	for _, fn := range cm.ImportedFunctions() {
		mod, name, _ := fn.Import()
		if mod != wasi_snapshot_preview1.ModuleName {
			return 0, fmt.Errorf("import %s.%s: only %s may be imported", mod, name, wasi_snapshot_preview1.ModuleName)
		}
		host, ok := r.wasiFns[name]
		if !ok {
			return 0, fmt.Errorf("import %s.%s: no such function", mod, name)
		}
		if !slices.Equal(host.ParamTypes(), fn.ParamTypes()) || !slices.Equal(host.ResultTypes(), fn.ResultTypes()) {
			return 0, fmt.Errorf("import %s.%s: signature mismatch", mod, name)
		}
	}
	var minMem uint64
	for _, mem := range cm.ExportedMemories() {
		minMem = max(minMem, uint64(mem.Min())*pageSize)
	}
	if minMem > r.ceiling {
		return 0, fmt.Errorf("initial memory %d bytes exceeds the runner's ceiling %d", minMem, r.ceiling)
	}
	return minMem, nil
}

// evictLocked drops least recently used idle modules until at most maxMods
// remain. r.mu must be held.
func (r *Runner) evictLocked(ctx context.Context) {
	for len(r.modules) > r.maxMods {
		var victim *Module
		for _, m := range r.modules {
			if m.running == 0 && (victim == nil || m.lastUse < victim.lastUse) {
				victim = m
			}
		}
		if victim == nil {
			return // every module is running; try again next time
		}
		delete(r.modules, victim.hash)
		_ = victim.compiled.Close(ctx)
		victim.compiled = nil
		r.log.Debug("sandbox: module evicted", "hash", fmt.Sprintf("%x", victim.hash[:8]))
	}
}

// acquire marks m as running and returns the module to run: m itself, or
// the current cache entry for m's bytes if m was evicted (compiling them
// again if needed). The caller must call release with the returned module.
func (r *Runner) acquire(ctx context.Context, m *Module) (*Module, error) {
	if m == nil || m.runner != r {
		return nil, errors.New("sandbox: module was not compiled by this runner")
	}
	for {
		r.mu.Lock()
		if r.closed {
			r.mu.Unlock()
			return nil, fmt.Errorf("sandbox: %w", ErrClosed)
		}
		if m.compiled != nil {
			m.running++
			r.tick++
			m.lastUse = r.tick
			r.busy.Add(1)
			r.mu.Unlock()
			return m, nil
		}
		r.mu.Unlock()
		fresh, err := r.Compile(ctx, m.wasm)
		if err != nil {
			return nil, err
		}
		m = fresh
	}
}

// release undoes acquire.
func (r *Runner) release(m *Module) {
	r.mu.Lock()
	m.running--
	r.mu.Unlock()
	r.busy.Done()
}

// Run runs one unit of m in a fresh instance under the given limits and
// returns what it wrote. On failure the Result still holds the output
// captured so far, and the error wraps one of ErrTimeout, ErrMemory,
// ErrTrap, ErrExit, ErrOutputTooLarge, ErrInvalidUnit, ErrClosed, or the
// context's error when ctx ended first.
func (r *Runner) Run(ctx context.Context, m *Module, u Unit, lim Limits) (Result, error) {
	lim, err := lim.withDefaults(r.ceiling)
	if err != nil {
		return Result{}, err
	}
	if err := u.validate(); err != nil {
		return Result{}, err
	}
	m, err = r.acquire(ctx, m)
	if err != nil {
		return Result{}, err
	}
	defer r.release(m)
	if m.minMemory > lim.MemoryBytes {
		return Result{}, fmt.Errorf("sandbox: %w: initial memory %d bytes exceeds the limit %d", ErrMemory, m.minMemory, lim.MemoryBytes)
	}
	if r.isolate {
		return r.runChild(ctx, m, u, lim)
	}

	runCtx, cancel := context.WithTimeout(ctx, lim.Timeout)
	defer cancel()
	stopOnClose := context.AfterFunc(r.closeCtx, cancel)
	defer stopOnClose()

	guard := &memoryGuard{limit: lim.MemoryBytes}
	var stdout, stderr *cappedBuffer
	overflow := func() {
		cancel()
		if r.onOverflow != nil {
			out, _ := stdout.result()
			errOut, _ := stderr.result()
			r.onOverflow(out, errOut)
		}
	}
	stdout = &cappedBuffer{limit: lim.MaxOutput, onOverflow: overflow}
	stderr = &cappedBuffer{limit: lim.MaxStderr, onOverflow: overflow}
	cfg := wazero.NewModuleConfig().
		WithName("").
		WithStartFunctions(). // _start is called below, after the memory check
		WithArgs(append([]string{"unit"}, u.Args...)...).
		WithStdin(bytes.NewReader(u.Stdin)).
		WithStdout(stdout).
		WithStderr(stderr).
		WithRandSource(u.randSource(m.hash))
	for _, kv := range u.env() {
		cfg = cfg.WithEnv(kv[0], kv[1])
	}

	start := time.Now()
	runErr := r.execute(experimental.WithMemoryAllocator(runCtx, guard), m, cfg, guard)
	res := Result{Duration: time.Since(start)}
	var outOver, errOver bool
	res.Stdout, outOver = stdout.result()
	res.Stderr, errOver = stderr.result()
	res.PeakMemory, _, _ = guard.stats()

	err = r.classify(ctx, runCtx, runErr, outOver || errOver, guard, lim, &res)
	r.log.Debug("sandbox: unit ran", "hash", fmt.Sprintf("%x", m.hash[:8]), "took", res.Duration,
		"stdout", len(res.Stdout), "peak_memory", res.PeakMemory, "err", err)
	return res, err
}

// execute instantiates m and calls its _start function.
func (r *Runner) execute(ctx context.Context, m *Module, cfg wazero.ModuleConfig, guard *memoryGuard) error {
	rt, err := r.runtime()
	if err != nil {
		return err
	}
	mod, err := rt.InstantiateModule(ctx, m.compiled, cfg)
	if err != nil {
		return err
	}
	defer mod.Close(ctx)
	if _, _, initOver := guard.stats(); initOver {
		return errInitialMemory
	}
	_, err = mod.ExportedFunction("_start").Call(ctx)
	return err
}

// errInitialMemory reports a module whose initial memory exceeds the unit's
// limit; classify turns it into ErrMemory.
var errInitialMemory = errors.New("initial memory exceeds the limit")

// classify maps the outcome of a run to the package's failure reasons.
// ctx is the caller's context and runCtx the run's (with the timeout).
func (r *Runner) classify(ctx, runCtx context.Context, err error, overflow bool, guard *memoryGuard, lim Limits, res *Result) error {
	if overflow {
		return fmt.Errorf("sandbox: %w: stdout cap %d bytes, stderr cap %d bytes", ErrOutputTooLarge, lim.MaxOutput, lim.MaxStderr)
	}
	if err == nil {
		return nil
	}
	_, refused, _ := guard.stats()
	memErr := func(how string) error {
		return fmt.Errorf("sandbox: %w: memory.grow to %d bytes refused (limit %d), then %s", ErrMemory, refused, lim.MemoryBytes, how)
	}
	if errors.Is(err, errInitialMemory) {
		return fmt.Errorf("sandbox: %w: %w (%d bytes)", ErrMemory, err, lim.MemoryBytes)
	}
	var exit *sys.ExitError
	if errors.As(err, &exit) {
		code := exit.ExitCode()
		res.ExitCode = code
		contextual := code == sys.ExitCodeDeadlineExceeded || code == sys.ExitCodeContextCanceled
		switch {
		case code == 0:
			return nil
		case contextual && runCtx.Err() != nil:
			res.ExitCode = 0
			switch {
			case r.closeCtx.Err() != nil:
				return fmt.Errorf("sandbox: %w", ErrClosed)
			case ctx.Err() != nil:
				return fmt.Errorf("sandbox: run stopped: %w", context.Cause(ctx))
			default:
				return fmt.Errorf("sandbox: %w: %v", ErrTimeout, lim.Timeout)
			}
		case refused != 0:
			return memErr(fmt.Sprintf("exit code %d", code))
		default:
			return fmt.Errorf("sandbox: %w: %d", ErrExit, code)
		}
	}
	msg := err.Error()
	if len(msg) > maxTrapMessage {
		msg = msg[:maxTrapMessage] + "…"
	}
	if refused != 0 {
		return memErr(firstLine(msg))
	}
	return fmt.Errorf("sandbox: %w: %s", ErrTrap, msg)
}

// firstLine returns s up to its first newline.
func firstLine(s string) string {
	first, _, _ := strings.Cut(s, "\n")
	return first
}

// Close stops running units (they fail with ErrClosed), waits for them and
// for compilations in progress, and releases the runtime and its compiled
// code. Later calls return an error wrapping ErrClosed.
func (r *Runner) Close(ctx context.Context) error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return fmt.Errorf("sandbox: %w", ErrClosed)
	}
	r.closed = true
	r.mu.Unlock()
	r.closeStop()
	r.busy.Wait()
	r.stopIdleChildren()

	r.mu.Lock()
	for h, m := range r.modules {
		m.compiled = nil
		delete(r.modules, h)
	}
	r.mu.Unlock()
	// A runtime never built is not built now.
	r.rtOnce.Do(func() { r.rtErr = fmt.Errorf("sandbox: %w", ErrClosed) })
	var err error
	if r.rt != nil {
		err = r.rt.Close(ctx)
	}
	if cerr := r.cache.Close(ctx); err == nil {
		err = cerr
	}
	if r.tempDir {
		if rerr := os.RemoveAll(r.childDir); err == nil {
			err = rerr
		}
	}
	if err != nil {
		return fmt.Errorf("sandbox: close: %w", err)
	}
	return nil
}
