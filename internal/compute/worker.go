package compute

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/zeebo/blake3"

	"github.com/peerpath/peerpath/internal/compute/sandbox"
)

// WorkerStatus is the state of the node's worker.
type WorkerStatus struct {
	WorkerConfig
	Running   int   `json:"running"`   // units running now
	Completed int64 `json:"completed"` // units run successfully
	Failed    int64 `json:"failed"`    // units that failed (trap, timeout, memory...)
	Jobs      int   `json:"jobs"`      // jobs known from adverts (and our own)
	Paused    bool  `json:"paused"`    // idle-only and the machine is busy
}

// knownJob is a job this worker heard of.
type knownJob struct {
	ad        advert
	submitter peer.ID
	local     bool
	seen      time.Time
	notBefore time.Time     // back-off
	backoff   time.Duration // last back-off after an error
}

// worker runs units for this node's and other peers' jobs.
type worker struct {
	s *Service

	mu        sync.Mutex
	cfg       WorkerConfig
	jobs      map[string]*knownJob
	running   int
	completed int64
	failed    int64
	paused    bool
	rr        int
	modules   map[string]*sandbox.Module // compiled modules by content id
	modOrder  []string
	outputs   map[string]bool // keys of outputs published and not yet acknowledged
	idle      *idleMonitor

	wake chan struct{}

	// Test hooks (set before Serve).
	tamper  func(out []byte) []byte // a cheating worker's lie
	lieFail bool                    // a worker that reports every unit as failed
	onStart func(job string, u int) // a unit starts running
}

const (
	maxCachedModules = 16
	jobForgetAfter   = 10 * time.Minute
	maxKnownJobs     = 1024 // adverts of further jobs are ignored
)

func newWorker(s *Service, cfg WorkerConfig) *worker {
	w := &worker{s: s, cfg: cfg, jobs: map[string]*knownJob{}, modules: map[string]*sandbox.Module{},
		outputs: map[string]bool{}, wake: make(chan struct{}, 1), idle: newIdleMonitor()}
	for _, j := range s.jobs {
		if !j.finishedState() {
			w.learnLocal(j)
		}
	}
	return w
}

// SetWorker changes the worker's configuration at run time: turning it off
// stops taking new units (running ones finish).
func (s *Service) SetWorker(cfg WorkerConfig) {
	s.w.mu.Lock()
	s.w.cfg = cfg
	s.w.mu.Unlock()
	s.wakeWorker()
}

// WorkerStatus returns the worker's configuration and activity.
func (s *Service) WorkerStatus() WorkerStatus {
	w := s.w
	w.mu.Lock()
	defer w.mu.Unlock()
	cfg := w.cfg
	if cfg.CPUs <= 0 {
		cfg.CPUs = 1
	}
	return WorkerStatus{WorkerConfig: cfg, Running: w.running, Completed: w.completed, Failed: w.failed, Jobs: len(w.jobs), Paused: w.paused}
}

func (s *Service) wakeWorker() {
	select {
	case s.w.wake <- struct{}{}:
	default:
	}
}

func (w *worker) learnLocal(j *job) {
	w.mu.Lock()
	w.jobs[j.id] = &knownJob{ad: advert{Job: j.id, Memory: j.spec.MemoryBytes, TimeoutMS: j.spec.TimeoutMS}, submitter: w.s.self,
		local: true, seen: time.Now()}
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// listen learns jobs from adverts.
func (w *worker) listen(ctx context.Context, sub *pubsub.Subscription) {
	for {
		msg, err := sub.Next(ctx)
		if err != nil {
			return
		}
		from := msg.GetFrom()
		if from == w.s.self {
			continue
		}
		ad, err := decodeAdvert(msg.Data, from)
		if err != nil {
			w.s.log.Debug("compute: bad advert", "from", from, "err", err)
			continue
		}
		w.mu.Lock()
		kj := w.jobs[ad.Job]
		if kj == nil && len(w.jobs) >= maxKnownJobs {
			w.mu.Unlock()
			continue
		}
		if kj == nil {
			kj = &knownJob{ad: ad, submitter: from}
			w.jobs[ad.Job] = kj
			w.s.log.Debug("compute: job advertised", "job", ad.Job, "submitter", from, "units", ad.Units)
		}
		if !kj.local && kj.submitter == from {
			kj.seen = time.Now()
		}
		w.mu.Unlock()
		w.s.wakeWorker()
	}
}

// limitLocked is how many units may run now.
func (w *worker) limitLocked() int {
	if !w.cfg.Enabled || w.s.cfg.Runner == nil {
		return 0
	}
	n := max(w.cfg.CPUs, 1)
	w.paused = false
	if w.cfg.IdleOnly {
		if free := w.idle.freeCores(); free < n {
			n = free
			w.paused = free <= 0
		}
	}
	return n
}

// pickLocked chooses the next job to ask for a unit, round robin.
func (w *worker) pickLocked(now time.Time) *knownJob {
	var ids []string
	maxMem := w.cfg.maxMemory()
	for id, kj := range w.jobs {
		if !kj.local && now.Sub(kj.seen) > jobForgetAfter {
			delete(w.jobs, id)
			continue
		}
		if kj.notBefore.After(now) || (maxMem > 0 && kj.ad.Memory > maxMem) {
			continue
		}
		ids = append(ids, id)
	}
	if len(ids) == 0 {
		return nil
	}
	slices.Sort(ids)
	w.rr++
	return w.jobs[ids[w.rr%len(ids)]]
}

// serve runs units until ctx ends, then waits for running units to stop.
func (w *worker) serve(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		w.mu.Lock()
		now := time.Now()
		for w.running < w.limitLocked() {
			kj := w.pickLocked(now)
			if kj == nil {
				break
			}
			// Hold the job back until this request is answered, so free
			// slots spread over jobs and a job with no unit free is not
			// asked again at once.
			kj.notBefore = now.Add(time.Minute)
			w.running++
			wg.Add(1)
			go func() {
				defer wg.Done()
				w.runOne(ctx, kj)
				w.mu.Lock()
				w.running--
				w.mu.Unlock()
				w.s.wakeWorker()
			}()
		}
		w.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-w.wake:
		case <-t.C:
		}
	}
}

// runOne asks kj's submitter for a unit, runs it and returns the result.
func (w *worker) runOne(ctx context.Context, kj *knownJob) {
	var (
		retry time.Duration
		final bool
		err   error
	)
	if kj.local {
		retry, final, err = w.runLocal(ctx, kj)
	} else {
		retry, final, err = w.runRemote(ctx, kj)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case final:
		delete(w.jobs, kj.ad.Job)
	case err != nil:
		kj.backoff = min(max(2*kj.backoff, 500*time.Millisecond), 30*time.Second)
		kj.notBefore = time.Now().Add(kj.backoff)
		if ctx.Err() == nil {
			w.s.log.Debug("compute: worker request failed", "job", kj.ad.Job, "submitter", kj.submitter, "err", err)
		}
	default:
		kj.backoff = 0
		kj.notBefore = time.Now().Add(retry)
	}
}

func (w *worker) runLocal(ctx context.Context, kj *knownJob) (time.Duration, bool, error) {
	s := w.s
	s.mu.Lock()
	m, a := s.assign(s.self, kj.ad.Job)
	s.mu.Unlock()
	if a == nil {
		return time.Duration(m.RetryMS) * time.Millisecond, m.Final, nil
	}
	out, kind, reason := w.run(ctx, m, s.self)
	s.mu.Lock()
	if ctx.Err() != nil {
		s.abandon(a, "worker stopped")
	} else if err := s.complete(ctx, a, out, kind, reason); err != nil {
		s.log.Warn("compute: recording local result", "job", kj.ad.Job, "err", err)
	}
	s.mu.Unlock()
	if kind == kindOther {
		return 0, false, errors.New("compute: " + reason)
	}
	return 0, false, nil
}

func (w *worker) runRemote(ctx context.Context, kj *knownJob) (time.Duration, bool, error) {
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	st, err := w.s.cfg.Host.NewStream(sctx, kj.submitter, Protocol)
	cancel()
	if err != nil {
		return 0, false, fmt.Errorf("compute: opening stream: %w", err)
	}
	defer st.Close()
	stop := context.AfterFunc(ctx, func() { st.Reset() })
	defer stop()
	_ = st.SetDeadline(time.Now().Add(30 * time.Second))
	if err := writeMessage(st, message{Op: opWork, Job: kj.ad.Job}, nil); err != nil {
		st.Reset()
		return 0, false, err
	}
	m, _, err := readMessage(st)
	if err != nil {
		st.Reset()
		return 0, false, err
	}
	if m.Op == opNone {
		return time.Duration(m.RetryMS) * time.Millisecond, m.Final, nil
	}
	if m.Op != opUnit {
		st.Reset()
		return 0, false, fmt.Errorf("%w: expected a unit, got %q", errProtocol, m.Op)
	}
	w.mu.Lock()
	maxMem := w.cfg.maxMemory()
	w.mu.Unlock()
	// The submitter says nothing more until our result; if the stream
	// ends before, the unit was taken back (job cancelled, submitter gone)
	// and running it further is wasted work.
	unitCtx, stopUnit := context.WithCancel(ctx)
	defer stopUnit()
	type reply struct {
		m   message
		err error
	}
	acks := make(chan reply, 1)
	_ = st.SetReadDeadline(time.Time{})
	go func() {
		m, _, err := readMessage(st)
		if err != nil {
			stopUnit()
		}
		acks <- reply{m, err}
	}()
	var out []byte
	var kind, reason string
	if maxMem > 0 && m.Memory > maxMem {
		kind, reason = kindOther, "unit memory above this worker's limit"
	} else {
		_ = st.SetWriteDeadline(time.Time{})
		out, kind, reason = w.run(unitCtx, m, kj.submitter)
	}
	if unitCtx.Err() != nil {
		st.Reset()
		<-acks
		if ctx.Err() != nil {
			return 0, false, ctx.Err()
		}
		return 0, false, errors.New("compute: the submitter took the unit back")
	}
	res := message{Op: opResult, Job: m.Job, Unit: m.Unit, Attempt: m.Attempt, ErrKind: kind, Reason: reason}
	var body []byte
	if kind == "" && w.s.cfg.Meter != nil {
		w.s.cfg.Meter.UnitRun(kj.submitter)
	}
	if kind == "" {
		if w.tamper != nil {
			out = w.tamper(out)
		}
		h := blake3.Sum256(out)
		res.Hash = hex.EncodeToString(h[:])
		body = out
		if len(out) > InlineResult {
			// Too large to go inline: publish it for the submitter to
			// fetch, until it acknowledges the result.
			key := resultKey(newID())
			w.publish(key, true)
			defer w.unpublishOutput(key)
			id, err := w.s.cfg.Content.Publish(ctx, key, out)
			if err != nil {
				res = message{Op: opResult, Job: m.Job, Unit: m.Unit, Attempt: m.Attempt, ErrKind: kindOther,
					Reason: truncate("publishing the output: " + err.Error())}
			} else {
				res.Output, res.OutputSize = id, int64(len(out))
			}
			body = nil
		}
	}
	// The submitter may fetch a published output before it answers.
	wait := 30 * time.Second
	if res.Output != "" {
		wait += w.s.tune.fetch
	}
	_ = st.SetDeadline(time.Now().Add(wait))
	if err := writeMessage(st, res, body); err != nil {
		st.Reset()
		<-acks
		return 0, false, err
	}
	if ack := <-acks; ack.err != nil || ack.m.Op != opAck {
		st.Reset()
		return 0, false, fmt.Errorf("compute: result not acknowledged: %v", ack.err)
	}
	if res.ErrKind == kindOther {
		// We could not run it (say, its memory is above our limit):
		// back off rather than ask for the same unit again at once.
		return 0, false, errors.New("compute: " + res.Reason)
	}
	return 0, false, nil
}

// publish marks (or unmarks) an output key as in use, so the sweep leaves
// it alone.
func (w *worker) publish(key string, on bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if on {
		w.outputs[key] = true
	} else {
		delete(w.outputs, key)
	}
}

// publishing reports whether the output key result-id is in use.
func (w *worker) publishing(id string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.outputs[resultKey(id)]
}

func (w *worker) unpublishOutput(key string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := w.s.cfg.Content.Unpublish(ctx, key); err != nil {
		w.s.log.Warn("compute: unpublishing an output", "key", key, "err", err)
	}
	w.publish(key, false)
}

// run fetches unit m's module (unless compiled already) and input from
// submitter, by content id, and runs it.
func (w *worker) run(ctx context.Context, m message, submitter peer.ID) (out []byte, kind, reason string) {
	mod, err := w.module(ctx, m, submitter)
	if err != nil {
		kind, reason := classifyLoad(ctx, err)
		return nil, kind, reason
	}
	var stdin []byte
	if m.Input != "" {
		fctx, cancel := context.WithTimeout(ctx, w.s.tune.fetch)
		stdin, err = w.s.cfg.Content.Fetch(fctx, m.Input, m.InputSize, submitter)
		cancel()
		if err != nil {
			return nil, kindOther, truncate("fetching the input: " + err.Error())
		}
	}
	return w.execute(ctx, mod, m, stdin)
}

// errFetch marks a failure to fetch content, which is not the module's
// fault.
var errFetch = errors.New("compute: fetching")

// classifyLoad maps a failure to fetch or compile a module to a failure
// kind and reason.
func classifyLoad(ctx context.Context, err error) (string, string) {
	if errors.Is(err, errFetch) || ctx.Err() != nil {
		return kindOther, truncate(err.Error())
	}
	return classify(ctx, err, nil)
}

// module returns the compiled module of unit m, fetching it from
// submitter by content id when it is not cached.
func (w *worker) module(ctx context.Context, m message, submitter peer.ID) (*sandbox.Module, error) {
	w.mu.Lock()
	mod := w.modules[m.Module]
	w.mu.Unlock()
	if mod != nil {
		return mod, nil
	}
	fctx, cancel := context.WithTimeout(ctx, w.s.tune.fetch)
	wasm, err := w.s.cfg.Content.Fetch(fctx, m.Module, m.ModuleSize, submitter)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("%w the module: %w", errFetch, err)
	}
	return w.compile(ctx, m.Module, wasm)
}

// compile compiles module bytes (content id id) and caches the result.
func (w *worker) compile(ctx context.Context, id string, wasm []byte) (*sandbox.Module, error) {
	w.mu.Lock()
	m := w.modules[id]
	w.mu.Unlock()
	if m != nil {
		return m, nil
	}
	m, err := w.s.cfg.Runner.Compile(ctx, wasm)
	if err != nil {
		return nil, fmt.Errorf("compute: compiling module: %w", err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.modules[id] == nil {
		w.modules[id] = m
		w.modOrder = append(w.modOrder, id)
		if len(w.modOrder) > maxCachedModules {
			delete(w.modules, w.modOrder[0])
			w.modOrder = w.modOrder[1:]
		}
	}
	return m, nil
}

// execute runs one unit in the sandbox and classifies its failure.
func (w *worker) execute(ctx context.Context, mod *sandbox.Module, m message, stdin []byte) (out []byte, kind, reason string) {
	if w.onStart != nil {
		w.onStart(m.Job, m.Unit)
	}
	lim := sandbox.Limits{MemoryBytes: m.Memory, Timeout: time.Duration(m.TimeoutMS) * time.Millisecond, MaxOutput: MaxOutput}
	res, err := w.s.cfg.Runner.Run(ctx, mod, sandbox.Unit{Stdin: stdin, Args: m.Args, Env: m.Env}, lim)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.lieFail && err == nil {
		err = fmt.Errorf("forged: %w", sandbox.ErrTrap)
	}
	if err != nil {
		kind, reason = classify(ctx, err, res.Stderr)
		if kind != kindOther {
			w.failed++
		}
		return nil, kind, reason
	}
	w.completed++
	out = res.Stdout
	if out == nil {
		out = []byte{}
	}
	return out, "", ""
}

// classify maps a sandbox error to a failure kind and a reason for the
// submitter.
func classify(ctx context.Context, err error, stderr []byte) (string, string) {
	reason := err.Error()
	if len(stderr) > 0 {
		tail := stderr[max(0, len(stderr)-200):]
		reason += "; stderr: " + strings.TrimSpace(string(tail))
	}
	reason = truncate(reason)
	switch {
	case ctx.Err() != nil, errors.Is(err, sandbox.ErrClosed):
		return kindOther, reason
	case errors.Is(err, sandbox.ErrTimeout):
		return kindTimeout, reason
	case errors.Is(err, sandbox.ErrMemory):
		return kindMemory, reason
	case errors.Is(err, sandbox.ErrTrap):
		return kindTrap, reason
	case errors.Is(err, sandbox.ErrExit):
		return kindExit, reason
	case errors.Is(err, sandbox.ErrOutputTooLarge):
		return kindOutput, reason
	case errors.Is(err, sandbox.ErrInvalidModule), errors.Is(err, sandbox.ErrInvalidUnit):
		return kindInvalid, reason
	}
	return kindOther, reason
}

// truncate shortens a reason to what the protocol carries.
func truncate(reason string) string {
	if len(reason) > maxString {
		return reason[:maxString]
	}
	return reason
}
