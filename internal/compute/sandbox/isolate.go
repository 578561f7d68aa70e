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
	Limits   Limits
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

// serveChild runs one unit read from in and writes the response to out.
func serveChild(in io.Reader, out io.Writer) int {
	var req childRequest
	if err := gob.NewDecoder(in).Decode(&req); err != nil {
		fmt.Fprintln(os.Stderr, "sandbox child: bad request:", err)
		return 3
	}
	respond := func(res Result, err error) {
		if werr := gob.NewEncoder(out).Encode(encodeResponse(res, err)); werr != nil {
			fmt.Fprintln(os.Stderr, "sandbox child: write response:", werr)
			os.Exit(4)
		}
	}
	ctx := context.Background()
	r, err := buildRunner(ctx, RunnerConfig{CacheDir: req.CacheDir, MaxMemoryBytes: req.Ceiling}, false)
	if err != nil {
		respond(Result{}, err)
		return 0
	}
	start := time.Now()
	r.onOverflow = func(stdout, stderr []byte) {
		respond(Result{Stdout: stdout, Stderr: stderr, Duration: time.Since(start)},
			fmt.Errorf("sandbox: %w: stdout cap %d bytes, stderr cap %d bytes", ErrOutputTooLarge, req.Limits.MaxOutput, req.Limits.MaxStderr))
		os.Exit(0)
	}
	m, err := r.Compile(ctx, req.Wasm)
	if err != nil {
		respond(Result{}, err)
		return 0
	}
	res, err := r.Run(ctx, m, req.Unit, req.Limits)
	respond(res, err)
	return 0
}

// runChild runs one unit in a child process, killing it when the unit's
// time is up, the caller's context ends or the runner closes.
func (r *Runner) runChild(ctx context.Context, m *Module, u Unit, lim Limits) (Result, error) {
	var req bytes.Buffer
	if err := gob.NewEncoder(&req).Encode(childRequest{
		CacheDir: r.childDir, Ceiling: r.ceiling, Wasm: m.wasm, Unit: u, Limits: lim,
	}); err != nil {
		return Result{}, fmt.Errorf("sandbox: encode child request: %w", err)
	}
	// The response holds at most both output caps plus a little framing.
	stdout := &cappedBuffer{limit: lim.MaxOutput + lim.MaxStderr + 64<<10}
	stderr := &cappedBuffer{limit: 16 << 10}
	cmd := exec.Command(r.childPath)
	cmd.Env = []string{childEnv + "=1"}
	cmd.Stdin = &req
	cmd.Stdout = stdout
	cmd.Stderr = stderr
	setChildAttrs(cmd)

	start := time.Now()
	if err := cmd.Start(); err != nil {
		return Result{}, fmt.Errorf("sandbox: start child: %w", err)
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	timer := time.NewTimer(lim.Timeout)
	defer timer.Stop()

	var stopped error
	var waitErr error
	select {
	case waitErr = <-waited:
	case <-timer.C:
		stopped = fmt.Errorf("sandbox: %w: %v", ErrTimeout, lim.Timeout)
	case <-ctx.Done():
		stopped = fmt.Errorf("sandbox: run stopped: %w", context.Cause(ctx))
	case <-r.closeCtx.Done():
		stopped = fmt.Errorf("sandbox: %w", ErrClosed)
	}
	if stopped != nil {
		_ = cmd.Process.Kill()
		<-waited
		r.log.Debug("sandbox: child killed", "hash", fmt.Sprintf("%x", m.hash[:8]), "err", stopped)
		return Result{Duration: time.Since(start)}, stopped
	}

	out, _ := stdout.result()
	var resp childResponse
	if err := gob.NewDecoder(bytes.NewReader(out)).Decode(&resp); err != nil {
		errOut, _ := stderr.result()
		return Result{Duration: time.Since(start)}, fmt.Errorf("sandbox: %w: child process failed (%v): %q", ErrTrap, waitErr, firstLine(string(errOut)))
	}
	res := resp.Result
	res.Duration = time.Since(start)
	if resp.Reason == 0 {
		return res, nil
	}
	if resp.Reason < 0 || resp.Reason >= len(childReasons) {
		return res, fmt.Errorf("sandbox: %w: child reported unknown reason %d: %s", ErrTrap, resp.Reason, resp.Msg)
	}
	r.log.Debug("sandbox: unit ran in child", "hash", fmt.Sprintf("%x", m.hash[:8]), "took", res.Duration, "err", resp.Msg)
	return res, &childError{reason: childReasons[resp.Reason], msg: resp.Msg}
}
