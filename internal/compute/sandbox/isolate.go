package sandbox

import (
	"bytes"
	"context"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"time"
)

// childEnv marks a process started by an isolating Runner as its child.
const childEnv = "PEERPATH_SANDBOX_CHILD"

// childRequest is what the parent sends a child on its stdin.
type childRequest struct {
	CacheDir string
	Ceiling  uint64
	Wasm     []byte
	Unit     Unit
	SeedSet  bool // gob sends an empty Unit.Seed as nil; this keeps it apart
	Limits   Limits
	Ping     bool // only answer, to show the program serves as a child
}

// childResponse is what a child writes on its stdout before exiting.
type childResponse struct {
	Result Result
	Reason int    // index into childReasons; 0 means success
	Msg    string // the error's message
}

// childReasons are the failures a child can report, by index.
var childReasons = []error{nil, ErrMemory, ErrTrap, ErrExit, ErrOutputTooLarge, ErrInvalidModule, ErrInvalidUnit, ErrTimeout}

// childError is a failure reported by a child: its message, wrapping the
// reason.
type childError struct {
	reason error
	msg    string
}

func (e *childError) Error() string { return e.msg }
func (e *childError) Unwrap() error { return e.reason }

// encodeResponse turns a run's outcome into a response.
func encodeResponse(res Result, err error) childResponse {
	resp := childResponse{Result: res}
	if err == nil {
		return resp
	}
	resp.Msg, resp.Reason = err.Error(), 2 // unknown failures count as traps
	for i, reason := range childReasons[1:] {
		if errors.Is(err, reason) {
			resp.Reason = i + 1
			break
		}
	}
	return resp
}

// ServeChild turns this process into a sandbox child when an isolating
// Runner started it: it runs the one unit it is sent and exits. Otherwise it
// returns at once. Programs that use [RunnerConfig.Isolate] must call it at
// the start of main, and test binaries at the start of TestMain, before
// doing anything else.
func ServeChild() {
	if os.Getenv(childEnv) != "1" {
		return
	}
	os.Exit(serveChild(os.Stdin, os.Stdout))
}

// serveChild runs the units read from in, writing one response each to
// out, until in ends. A request carries the module's bytes only when the
// module changes.
func serveChild(in io.Reader, out io.Writer) int {
	dec, enc := gob.NewDecoder(in), gob.NewEncoder(out)
	respond := func(res Result, err error) {
		if werr := enc.Encode(encodeResponse(res, err)); werr != nil {
			fmt.Fprintln(os.Stderr, "sandbox child: write response:", werr)
			os.Exit(4)
		}
	}
	ctx := context.Background()
	var (
		r *Runner
		m *Module
	)
	for {
		var req childRequest
		if err := dec.Decode(&req); err != nil {
			if errors.Is(err, io.EOF) {
				return 0
			}
			fmt.Fprintln(os.Stderr, "sandbox child: bad request:", err)
			return 3
		}
		if req.Ping {
			respond(Result{}, nil)
			continue
		}
		if r == nil {
			var err error
			r, err = buildRunner(ctx, RunnerConfig{CacheDir: req.CacheDir, MaxMemoryBytes: req.Ceiling, MaxModules: 1}, false)
			if err != nil {
				respond(Result{}, err)
				return 0
			}
		}
		if req.Wasm != nil {
			var err error
			if m, err = r.Compile(ctx, req.Wasm); err != nil {
				respond(Result{}, err)
				return 0
			}
		}
		if m == nil {
			fmt.Fprintln(os.Stderr, "sandbox child: no module")
			return 3
		}
		if req.SeedSet && req.Unit.Seed == nil {
			req.Unit.Seed = []byte{}
		}
		start := time.Now()
		r.onOverflow = func(stdout, stderr []byte) {
			// The guest runs without termination checks: report and exit.
			respond(Result{Stdout: stdout, Stderr: stderr, Duration: time.Since(start)},
				fmt.Errorf("sandbox: %w: stdout cap %d bytes, stderr cap %d bytes", ErrOutputTooLarge, req.Limits.MaxOutput, req.Limits.MaxStderr))
			os.Exit(0)
		}
		res, err := r.Run(ctx, m, req.Unit, req.Limits)
		respond(res, err)
	}
}

// maxIdleChildren bounds the children kept between units.
const maxIdleChildren = 4

// idleChildTTL is how long a child is kept without a unit: long enough to
// serve the next unit of a running job at once, short enough that a worker
// whose jobs ended gives back the memory (each child holds about as much
// resident memory as half a daemon). A variable for tests.
var idleChildTTL = 30 * time.Second

// child is a running child process. Its module is loaded after its first
// unit; a child is reused only for units of the same module.
type child struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	enc    *gob.Encoder
	dec    *gob.Decoder
	stderr *cappedBuffer
	waited chan error // receives cmd.Wait's result once
	hash   [32]byte   // module loaded, zero before the first unit
	loaded bool
	since  time.Time // idle since (set by putChild)
}

// startChild starts a child process.
func (r *Runner) startChild() (*child, error) {
	cmd := exec.Command(r.childPath)
	cmd.Env = []string{childEnv + "=1"}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("sandbox: child stdin: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("sandbox: child stdout: %w", err)
	}
	c := &child{cmd: cmd, stdin: stdin, stderr: &cappedBuffer{limit: 16 << 10}, waited: make(chan error, 1)}
	cmd.Stderr = c.stderr
	setChildAttrs(cmd)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("sandbox: start child: %w", err)
	}
	c.enc, c.dec = gob.NewEncoder(stdin), gob.NewDecoder(stdout)
	go func() { c.waited <- cmd.Wait() }()
	return c, nil
}

// kill stops the child and waits for it.
func (c *child) kill() {
	_ = c.cmd.Process.Kill()
	<-c.waited
}

// stop ends an idle child by closing its input, killing it if it lingers.
func (c *child) stop() {
	_ = c.stdin.Close()
	select {
	case <-c.waited:
	case <-time.After(2 * time.Second):
		c.kill()
	}
}

// takeChild returns an idle child that has m loaded, else an idle child
// with no module yet, else a new child.
func (r *Runner) takeChild(m *Module) (*child, error) {
	r.mu.Lock()
	pick := -1
	for i, c := range r.idle {
		if c.loaded && c.hash == m.hash {
			pick = i
			break
		}
		if !c.loaded && pick < 0 {
			pick = i
		}
	}
	if pick >= 0 {
		c := r.idle[pick]
		r.idle = append(r.idle[:pick], r.idle[pick+1:]...)
		r.mu.Unlock()
		return c, nil
	}
	r.mu.Unlock()
	return r.startChild()
}

// probeChild starts a child and checks that it answers, so that a program
// that forgot to call ServeChild fails at NewRunner rather than at every
// unit. The child is then stopped, not kept for the first unit: a node
// whose worker is off would hold it for ever, and an idle child holds as
// much resident memory as half a daemon (26 MB, docs/performance.md).
func (r *Runner) probeChild() error {
	c, err := r.startChild()
	if err != nil {
		return err
	}
	answered := make(chan error, 1)
	go func() {
		if err := c.enc.Encode(childRequest{Ping: true}); err != nil {
			answered <- err
			return
		}
		var resp childResponse
		if err := c.dec.Decode(&resp); err != nil {
			answered <- err
			return
		}
		if resp.Reason != 0 {
			answered <- errors.New(resp.Msg)
			return
		}
		answered <- nil
	}()
	timedOut := false
	select {
	case err = <-answered:
	case <-time.After(10 * time.Second):
		err, timedOut = errors.New("no answer within 10s"), true
	}
	if err != nil {
		c.kill()
		if timedOut {
			<-answered // the pipes are closed: the exchange ends
		}
		return fmt.Errorf("sandbox: %s does not serve as a sandbox child (does main call sandbox.ServeChild?): %w", r.childPath, err)
	}
	c.stop()
	return nil
}

// putChild keeps a healthy child for the next unit of its module, stopping
// the oldest idle child beyond the limit.
func (r *Runner) putChild(c *child) {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		c.stop()
		return
	}
	c.since = time.Now()
	r.idle = append(r.idle, c)
	var drop *child
	if len(r.idle) > maxIdleChildren {
		drop, r.idle = r.idle[0], r.idle[1:]
	}
	if r.reaper == nil {
		r.reaper = time.AfterFunc(idleChildTTL, r.reapIdle)
	}
	r.mu.Unlock()
	if drop != nil {
		drop.stop()
	}
}

// reapIdle stops the children idle for idleChildTTL and runs again while
// others remain idle.
func (r *Runner) reapIdle() {
	r.mu.Lock()
	r.reaper = nil
	if r.closed {
		r.mu.Unlock()
		return
	}
	var stale []*child
	keep := r.idle[:0]
	now := time.Now()
	next := time.Duration(0)
	for _, c := range r.idle {
		if left := idleChildTTL - now.Sub(c.since); left <= 0 {
			stale = append(stale, c)
		} else {
			keep = append(keep, c)
			if next == 0 || left < next {
				next = left
			}
		}
	}
	clear(r.idle[len(keep):])
	r.idle = keep
	if next > 0 {
		r.reaper = time.AfterFunc(next, r.reapIdle)
	}
	r.mu.Unlock()
	for _, c := range stale {
		c.stop()
	}
}

// stopIdleChildren stops every idle child (at Close).
func (r *Runner) stopIdleChildren() {
	r.mu.Lock()
	idle := r.idle
	r.idle = nil
	if r.reaper != nil {
		r.reaper.Stop()
		r.reaper = nil
	}
	r.mu.Unlock()
	for _, c := range idle {
		c.stop()
	}
}

// runChild runs one unit in a child process, reusing an idle child that has
// the module loaded, and kills the child when the unit's time is up, the
// caller's context ends or the runner closes.
func (r *Runner) runChild(ctx context.Context, m *Module, u Unit, lim Limits) (Result, error) {
	start := time.Now()
	c, err := r.takeChild(m)
	if err != nil {
		return Result{}, err
	}
	if err := limitChild(c.cmd.Process.Pid, lim.MemoryBytes, len(m.wasm)); err != nil {
		c.kill()
		return Result{}, err
	}
	req := childRequest{CacheDir: r.childDir, Ceiling: r.ceiling, Unit: u, SeedSet: u.Seed != nil, Limits: lim}
	if !c.loaded {
		req.Wasm = m.wasm
	}
	type reply struct {
		resp childResponse
		err  error
	}
	replies := make(chan reply, 1)
	go func() {
		if err := c.enc.Encode(req); err != nil {
			replies <- reply{err: err}
			return
		}
		var resp childResponse
		err := c.dec.Decode(&resp)
		replies <- reply{resp, err}
	}()
	timer := time.NewTimer(lim.Timeout)
	defer timer.Stop()

	var stopped error
	var rep reply
	select {
	case rep = <-replies:
	case <-timer.C:
		stopped = fmt.Errorf("sandbox: %w: %v", ErrTimeout, lim.Timeout)
	case <-ctx.Done():
		stopped = fmt.Errorf("sandbox: run stopped: %w", context.Cause(ctx))
	case <-r.closeCtx.Done():
		stopped = fmt.Errorf("sandbox: %w", ErrClosed)
	}
	if stopped != nil {
		c.kill()
		<-replies // the pipes are closed: the exchange ends
		r.log.Debug("sandbox: child killed", "hash", fmt.Sprintf("%x", m.hash[:8]), "err", stopped)
		return Result{Duration: time.Since(start)}, stopped
	}
	if rep.err != nil {
		c.kill()
		errOut, _ := c.stderr.result()
		if bytes.Contains(errOut, []byte("out of memory")) {
			// The child hit the limits limitChild set on it as a whole.
			return Result{Duration: time.Since(start)}, fmt.Errorf("sandbox: %w: the unit's process ran out of memory: %q", ErrMemory, firstLine(string(errOut)))
		}
		return Result{Duration: time.Since(start)}, fmt.Errorf("sandbox: %w: child process failed (%v): %q", ErrTrap, rep.err, firstLine(string(errOut)))
	}
	resp := rep.resp
	res := resp.Result
	res.Duration = time.Since(start)
	if resp.Reason < 0 || resp.Reason >= len(childReasons) {
		c.kill()
		return res, fmt.Errorf("sandbox: %w: child reported unknown reason %d: %s", ErrTrap, resp.Reason, resp.Msg)
	}
	reason := childReasons[resp.Reason]
	switch {
	case errors.Is(reason, ErrOutputTooLarge), errors.Is(reason, ErrInvalidModule), errors.Is(reason, ErrInvalidUnit):
		c.kill() // the child exits (or stops serving) after these
	default:
		c.hash, c.loaded = m.hash, true
		r.putChild(c)
	}
	r.log.Debug("sandbox: unit ran in child", "hash", fmt.Sprintf("%x", m.hash[:8]), "took", res.Duration, "err", resp.Msg)
	if reason == nil {
		return res, nil
	}
	return res, &childError{reason: reason, msg: resp.Msg}
}
