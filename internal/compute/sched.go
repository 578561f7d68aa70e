package compute

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/zeebo/blake3"
)

// Job states.
const (
	StateQueued    = "queued"
	StateRunning   = "running"
	StateDone      = "done"
	StateFailed    = "failed"
	StateCancelled = "cancelled"
)

// Unit states (stored).
const (
	unitQueued    = "queued"
	unitValidated = "validated"
	unitFailed    = "failed"
)

// UnitEnv is the environment variable holding a Count-mode unit's index.
const UnitEnv = "PEERPATH_UNIT"

// job is a submitted job as the submitter's scheduler sees it. Guarded by
// Service.mu.
type job struct {
	id         string
	spec       storedSpec
	moduleCID  string       // the module, published as content
	moduleSize int64        //
	inputs     []contentRef // by unit, in inputs mode (an empty input has no id)
	created    time.Time
	finished   time.Time
	state      string
	reason     string
	units      []*unit
	workers    map[peer.ID]bool // workers that returned a successful result
	validated  int
	failed     int
	started    time.Time // first assignment since load, for the ETA
	doneSince  int       // units validated since started
	results    int       // successful executions (replication overhead)
	singles    int       // units validated from a single trusted copy
}

// contentRef names content published by the submitter.
type contentRef struct {
	id   string
	size int64
}

func (j *job) finishedState() bool {
	return j.state == StateDone || j.state == StateFailed || j.state == StateCancelled
}

// unit is one work unit of a job.
type unit struct {
	idx      int
	state    string
	tries    int                // failed executions
	failures map[peer.ID]string // failure kind by worker
	reason   string             // last failure
	results  []result
	running  map[string]*assignment
	tried    map[peer.ID]bool // workers holding a result or an assignment
	single   int8             // 0 undecided, 1 single trusted copy, -1 replicated
}

func newUnit(i int) *unit {
	return &unit{idx: i, state: unitQueued, running: map[string]*assignment{}, tried: map[peer.ID]bool{}}
}

type result struct {
	worker peer.ID
	hash   [32]byte
	output []byte
}

// assignment is a unit handed to a worker and not yet answered.
type assignment struct {
	id     string
	job    *job
	unit   *unit
	worker peer.ID
	start  time.Time
	cancel func() // tells the worker to stop (resets its stream); nil for the local worker
}

// workerRec is the submitter's record of one worker.
type workerRec struct {
	valid   int // results confirmed by a quorum
	invalid int // results outvoted by a quorum
}

// excluded reports whether a worker has returned too many wrong results
// (more than one in twenty) to be given work.
func (r *workerRec) excluded() bool { return r.invalid > 0 && r.invalid*20 > r.valid }

// bestGroup returns the hash shared by most results and how many share it.
func bestGroup(rs []result) (h [32]byte, n int, out []byte) {
	for i, r := range rs {
		c := 0
		for _, o := range rs[i:] {
			if o.hash == r.hash {
				c++
			}
		}
		if c > n {
			h, n, out = r.hash, c, r.output
		}
	}
	return h, n, out
}

// quorum returns the matching results unit u needs and the replicas it
// starts with.
func (s *Service) quorum(j *job, u *unit) (q, r int) {
	if u.single == 1 {
		return 1, 1
	}
	return j.spec.Quorum, j.spec.Replication
}

// wants returns how many more replicas of u should be issued now.
func (s *Service) wants(j *job, u *unit) int {
	if u.state != unitQueued {
		return 0
	}
	_, best, _ := bestGroup(u.results)
	q, r := s.quorum(j, u)
	need := max(q-best, r-len(u.results))
	return need - len(u.running)
}

func (s *Service) rec(w peer.ID) *workerRec {
	r := s.workers[w]
	if r == nil {
		r = &workerRec{}
		s.workers[w] = r
	}
	return r
}

// trusted reports whether w may be given single copies: our own node, or a
// worker with a long clean record.
func (s *Service) trusted(w peer.ID) bool {
	if w == s.self {
		return true
	}
	r := s.rec(w)
	return r.invalid == 0 && r.valid >= s.tune.trustAfter
}

// assign hands worker w a unit of job id, or says why not (op none). Called
// with s.mu held.
func (s *Service) assign(w peer.ID, id string) (message, *assignment) {
	j := s.jobs[id]
	if j == nil || j.finishedState() {
		return message{Op: opNone, Final: true, Reason: "no such active job"}, nil
	}
	if s.rec(w).excluded() {
		return message{Op: opNone, Final: true, Reason: "excluded: too many wrong results"}, nil
	}
	if s.assigned[w] >= maxAssignedPerWorker {
		// A worker may not hoard units: each would wait out its
		// timeout before another worker got it.
		return message{Op: opNone, RetryMS: s.tune.retry.Milliseconds(), Reason: "too many units in progress on this worker"}, nil
	}
	for _, u := range j.units {
		if u.state != unitQueued || u.tried[w] || s.wants(j, u) <= 0 {
			continue
		}
		if u.single == 0 && len(u.results) == 0 && len(u.running) == 0 {
			u.single = -1
			if j.spec.Replication > 1 && s.trusted(w) && (w == s.self || s.rand() >= s.tune.spotRate) {
				u.single = 1
			}
		}
		a := &assignment{id: newID(), job: j, unit: u, worker: w, start: time.Now()}
		u.running[a.id] = a
		u.tried[w] = true
		s.assigns[a.id] = a
		s.assigned[w]++
		if j.state == StateQueued {
			j.state = StateRunning
		}
		if j.started.IsZero() {
			j.started = a.start
		}
		m := message{Op: opUnit, Job: j.id, Unit: u.idx, Attempt: a.id,
			Args: append([]string(nil), j.spec.Args...), Memory: j.spec.MemoryBytes, TimeoutMS: j.spec.TimeoutMS,
			Module: j.moduleCID, ModuleSize: j.moduleSize}
		if j.spec.Inputs {
			if u.idx < len(j.inputs) {
				m.Input, m.InputSize = j.inputs[u.idx].id, j.inputs[u.idx].size
			}
		} else {
			m.Args = append(m.Args, strconv.Itoa(u.idx))
			m.Env = map[string]string{UnitEnv: strconv.Itoa(u.idx)}
		}
		return m, a
	}
	return message{Op: opNone, RetryMS: s.tune.retry.Milliseconds(), Reason: "every unit is assigned"}, nil
}

// maxAssignedPerWorker bounds the units one worker holds at once, over all
// of this node's jobs (a worker runs at most its --cpus at a time).
const maxAssignedPerWorker = 64

// unassign forgets a running assignment. Called with s.mu held.
func (s *Service) unassign(a *assignment) {
	if s.assigns[a.id] != a {
		return
	}
	delete(s.assigns, a.id)
	if s.assigned[a.worker]--; s.assigned[a.worker] <= 0 {
		delete(s.assigned, a.worker)
	}
}

// abandon returns an assignment's unit to the queue: its worker vanished,
// timed out or stopped. Called with s.mu held.
func (s *Service) abandon(a *assignment, why string) {
	if s.assigns[a.id] != a {
		return
	}
	s.unassign(a)
	if a.cancel != nil {
		go a.cancel() // never block the scheduler on the network
	}
	u := a.unit
	delete(u.running, a.id)
	if !s.hasResult(u, a.worker) {
		delete(u.tried, a.worker)
	}
	if len(u.results) == 0 && len(u.running) == 0 {
		u.single = 0
	}
	s.log.Debug("compute: assignment abandoned", "job", a.job.id, "unit", u.idx, "worker", a.worker, "why", why)
	s.wakeWorker()
}

func (s *Service) hasResult(u *unit, w peer.ID) bool {
	for _, r := range u.results {
		if r.worker == w {
			return true
		}
	}
	return false
}

// complete records a worker's answer to an assignment. kind is empty for a
// successful run (output, with its hash already checked), otherwise the
// failure kind and reason. Called with s.mu held.
func (s *Service) complete(ctx context.Context, a *assignment, output []byte, kind, reason string) error {
	if s.assigns[a.id] != a {
		// Its job ended (failed, cancelled) while the unit ran.
		s.log.Debug("compute: result of a dropped assignment", "job", a.job.id, "unit", a.unit.idx, "worker", a.worker)
		return nil
	}
	s.unassign(a)
	j, u := a.job, a.unit
	delete(u.running, a.id)
	defer s.wakeWorker()
	if kind == kindOther {
		// The worker could not run the unit; not the module's fault.
		if !s.hasResult(u, a.worker) {
			delete(u.tried, a.worker)
		}
		return nil
	}
	if u.state != unitQueued || j.finishedState() {
		// A late replica of a settled unit: check it against the accepted
		// output, so a wrong answer still counts against its worker.
		if kind == "" && u.state == unitValidated {
			var got []byte
			if err := s.db.QueryRowContext(ctx, `SELECT output FROM compute_units WHERE job = ? AND idx = ?`, j.id, u.idx).Scan(&got); err == nil && !bytes.Equal(got, output) {
				rec := s.rec(a.worker)
				rec.invalid++
				return saveWorker(ctx, s.db, a.worker, rec)
			}
		}
		return nil
	}
	if kind != "" {
		// A remote worker's failure counts once per unit: it is not given
		// the unit again, so one lying worker cannot fail a job alone.
		// Our own worker may retry.
		if a.worker == s.self {
			delete(u.tried, a.worker)
		}
		if u.failures == nil {
			u.failures = map[peer.ID]string{}
		}
		u.failures[a.worker] = kind
		agree := 0
		for _, k := range u.failures {
			if k == kind {
				agree++
			}
		}
		u.tries++
		u.reason = fmt.Sprintf("%s: %s", kind, reason)
		if len(u.reason) > 512 {
			u.reason = u.reason[:512]
		}
		// The unit fails after MaxTries failed runs, or sooner when a
		// quorum of distinct workers failed it the same way (so a job
		// with fewer workers than MaxTries still ends).
		if u.tries >= j.spec.MaxTries || (agree >= j.spec.Quorum && agree >= 2) {
			return s.failUnit(ctx, j, u, fmt.Sprintf("unit %d failed %d times, last: %s", u.idx, u.tries, u.reason))
		}
		_, err := s.db.ExecContext(ctx, `UPDATE compute_units SET tries = ?, reason = ? WHERE job = ? AND idx = ?`, u.tries, u.reason, j.id, u.idx)
		return err
	}
	r := result{worker: a.worker, hash: blake3.Sum256(output), output: output}
	u.results = append(u.results, r)
	j.results++
	j.workers[a.worker] = true
	if _, err := s.db.ExecContext(ctx, `INSERT OR REPLACE INTO compute_results (job, idx, worker, hash, output) VALUES (?, ?, ?, ?, ?)`,
		j.id, u.idx, a.worker.String(), r.hash[:], output); err != nil {
		return fmt.Errorf("compute: storing result: %w", err)
	}
	if u.single == 1 && !s.trusted(a.worker) {
		u.single = -1 // the worker lost its trust meanwhile: replicate
	}
	h, best, out := bestGroup(u.results)
	q, _ := s.quorum(j, u)
	if best >= q {
		return s.validate(ctx, j, u, h, out, q)
	}
	if len(u.results) >= j.spec.Replication+j.spec.MaxTries {
		return s.failUnit(ctx, j, u, fmt.Sprintf("unit %d: no %d matching outputs among %d results", u.idx, q, len(u.results)))
	}
	return nil
}

// validate accepts output (hash h) for u, credits and pays the workers that
// returned it and debits those that did not.
func (s *Service) validate(ctx context.Context, j *job, u *unit, h [32]byte, output []byte, q int) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("compute: validating: %w", err)
	}
	defer tx.Rollback()
	now := time.Now()
	if _, err := tx.ExecContext(ctx, `UPDATE compute_units SET state = ?, output = ? WHERE job = ? AND idx = ?`, unitValidated, output, j.id, u.idx); err != nil {
		return fmt.Errorf("compute: validating: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM compute_results WHERE job = ? AND idx = ?`, j.id, u.idx); err != nil {
		return fmt.Errorf("compute: validating: %w", err)
	}
	ref := unitRef(j.id, u.idx)
	pay := false
	var used []peer.ID // workers whose output was accepted
	for _, r := range u.results {
		rec := s.rec(r.worker)
		if r.hash != h {
			rec.invalid++
			s.log.Info("compute: wrong result", "job", j.id, "unit", u.idx, "worker", r.worker, "invalid", rec.invalid, "excluded", rec.excluded())
			if rec.excluded() {
				// Hand its other units to honest workers now rather
				// than wait for more wrong answers.
				for _, a := range s.assigns {
					if a.worker == r.worker {
						s.abandon(a, "worker excluded")
					}
				}
			}
		} else {
			if q > 1 {
				rec.valid++
			}
			if r.worker != s.self {
				used = append(used, r.worker)
			}
			if r.worker != s.self && j.spec.Reward > 0 {
				if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO compute_payments (ref, worker, amount, state, created) VALUES (?, ?, ?, 'owed', ?)`,
					ref, r.worker.String(), j.spec.Reward, now.UnixNano()); err != nil {
					return fmt.Errorf("compute: validating: %w", err)
				}
				pay = true
			}
		}
		if err := saveWorker(ctx, tx, r.worker, rec); err != nil {
			return err
		}
	}
	u.state = unitValidated
	u.results = nil
	j.validated++
	j.doneSince++
	if q == 1 && j.spec.Quorum > 1 {
		j.singles++
	}
	if j.validated+j.failed == len(j.units) {
		j.state, j.finished = StateDone, now
		if _, err := tx.ExecContext(ctx, `UPDATE compute_jobs SET state = ?, finished = ? WHERE id = ?`, j.state, now.UnixNano(), j.id); err != nil {
			return fmt.Errorf("compute: validating: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("compute: validating: %w", err)
	}
	if m := s.cfg.Meter; m != nil {
		for _, w := range used {
			m.UnitUsed(w)
		}
	}
	if pay {
		select {
		case s.payWake <- struct{}{}:
		default:
		}
	}
	if j.finishedState() {
		s.finishJob(j)
	}
	return nil
}

// failUnit fails u and with it the job.
func (s *Service) failUnit(ctx context.Context, j *job, u *unit, reason string) error {
	u.state, u.reason = unitFailed, reason
	j.failed++
	if _, err := s.db.ExecContext(ctx, `UPDATE compute_units SET state = ?, tries = ?, reason = ? WHERE job = ? AND idx = ?`, unitFailed, u.tries, reason, j.id, u.idx); err != nil {
		return fmt.Errorf("compute: failing unit: %w", err)
	}
	return s.endJob(ctx, j, StateFailed, reason)
}

// endJob moves j to a final state. Called with s.mu held.
func (s *Service) endJob(ctx context.Context, j *job, state, reason string) error {
	now := time.Now()
	j.state, j.reason, j.finished = state, reason, now
	if _, err := s.db.ExecContext(ctx, `UPDATE compute_jobs SET state = ?, reason = ?, finished = ? WHERE id = ?`, state, reason, now.UnixNano(), j.id); err != nil {
		return fmt.Errorf("compute: ending job: %w", err)
	}
	s.finishJob(j)
	return nil
}

// finishJob drops a finished job's pending state.
func (s *Service) finishJob(j *job) {
	for _, u := range j.units {
		for _, a := range u.running {
			s.unassign(a)
			if a.cancel != nil {
				go a.cancel()
			}
		}
		u.running = map[string]*assignment{}
		u.results = nil
	}
	s.wakeSweep() // its module and inputs are no longer needed
	s.log.Info("compute: job finished", "job", j.id, "state", j.state, "reason", j.reason)
}

// newID returns 128 random bits in hex: job and attempt ids.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
