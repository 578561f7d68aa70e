package compute

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/zeebo/blake3"

	"github.com/peerpath/peerpath/internal/compute/sandbox"
	"github.com/peerpath/peerpath/internal/p2p"
	"github.com/peerpath/peerpath/internal/store"
)

// Errors returned by the Service.
var (
	// ErrNotFound is returned by Status, Results and Cancel for an unknown
	// job id.
	ErrNotFound = errors.New("compute: job not found")
	// ErrInvalidJob is returned by Submit for a spec it cannot run: no or
	// an invalid module, no units, inputs too large, quorum above
	// replication...
	ErrInvalidJob = errors.New("compute: invalid job")
	// ErrFinished is returned by Cancel for a job that is already done,
	// failed or cancelled.
	ErrFinished = errors.New("compute: job already finished")
)

// Payer pays a worker for validated work. The node implements it over the
// ledger. Pay may be called again for the same (to, ref) after a failure or
// a restart, so it must be idempotent per (to, ref): ref is "jobID/unit",
// shared by every worker paid for that unit.
type Payer interface {
	Pay(ctx context.Context, to peer.ID, micro int64, memo, ref string) error
}

// Meter counts compute units per peer; the node's ledger meter implements
// it. Its methods must not block.
type Meter interface {
	// UnitRun is called when this node, as a worker, finished a unit for
	// the submitter (whether or not its output will be accepted).
	UnitRun(submitter peer.ID)
	// UnitUsed is called when a worker's output for one of this node's
	// units was accepted.
	UnitUsed(worker peer.ID)
}

// Config configures a Service.
type Config struct {
	// Host is the node's libp2p host. Required.
	Host host.Host
	// PubSub carries job adverts. Nil means this node neither advertises
	// its jobs nor hears others': it can only run its own jobs.
	PubSub *pubsub.PubSub
	// DB holds all job state. Required.
	DB *store.DB
	// Content publishes and fetches job content (modules, inputs, large
	// outputs) by content id. Required.
	Content Content
	// Runner runs units. Required to run units as a worker; a node that
	// only submits may leave it nil.
	Runner *sandbox.Runner
	// Payer pays workers. Nil keeps the account of what each worker is
	// owed in the database only (see Service.Payments).
	Payer Payer
	// Logger receives the service's logs. Nil discards them.
	Logger *slog.Logger
	// Meter, if set, counts compute units per peer.
	Meter Meter
	// Worker is the initial worker configuration (see Service.SetWorker).
	Worker WorkerConfig

	// Tuning is a hook for tests and benchmarks (package computebench),
	// never set in normal use: it shortens the scheduler's timings. Nil
	// keeps the defaults.
	Tuning *Tuning

	// TestTamper is a test hook, never set in normal use: when not nil,
	// the worker passes every output it returns to other peers through
	// it, so a test can make a real daemon a cheating worker.
	TestTamper func(out []byte) []byte
}

// WorkerConfig configures the node's worker.
type WorkerConfig struct {
	// Enabled lets the node run other peers' units (and its own).
	Enabled bool `json:"enabled"`
	// CPUs is how many units run at once. Zero means 1.
	CPUs int `json:"cpus"`
	// IdleOnly runs units only while the machine's own load (everything
	// but this process) leaves cores idle.
	IdleOnly bool `json:"idle_only"`
	// MaxMemory refuses jobs whose units may use more memory. Zero means
	// DefaultMaxMemory(CPUs).
	MaxMemory uint64 `json:"max_memory"`
}

// DefaultMaxMemory is the memory a unit may use when the worker sets no
// limit: half of the machine's RAM (or of its container's limit), shared
// by the cpus units that run at once, so that a worker's units together
// leave the other half to the machine's owner. Zero (no limit beyond the
// sandbox's) where the RAM is unknown.
func DefaultMaxMemory(cpus int) uint64 {
	return machineMem() / 2 / uint64(max(cpus, 1))
}

// machineMem is machineMemory, read once.
var machineMem = sync.OnceValue(machineMemory)

// maxMemory is the worker's effective limit of a unit's memory.
func (c WorkerConfig) maxMemory() uint64 {
	if c.MaxMemory > 0 {
		return c.MaxMemory
	}
	return DefaultMaxMemory(c.CPUs)
}

// Tuning overrides some of the scheduler's timings (Config.Tuning); a zero
// field keeps its default.
type Tuning struct {
	// AdvertEvery is how often active jobs are advertised again
	// (default 5 s).
	AdvertEvery time.Duration
	// Retry is how long a worker backs off when a job has no unit free
	// (default 1 s).
	Retry time.Duration
}

// tunables are the scheduler's knobs; tests shorten them (and
// Config.Tuning some of them).
type tunables struct {
	advertEvery time.Duration // re-advertise active jobs
	retry       time.Duration // worker back-off when a job has no unit free
	trustAfter  int           // validated results before single copies
	spotRate    float64       // share of a trusted worker's units replicated anyway
	grace       time.Duration // added to a unit's timeout before its worker is deemed gone
	fetch       time.Duration // time allowed to fetch a module, an input or an output
}

var defaultTunables = tunables{advertEvery: 5 * time.Second, retry: time.Second, trustAfter: 10, spotRate: 0.1, grace: 15 * time.Second,
	fetch: 2 * time.Minute}

// Service is the compute service of one node: the submitter's scheduler for
// its own jobs and the node's worker. Create it with New and run it with
// Serve.
type Service struct {
	cfg  Config
	log  *slog.Logger
	self peer.ID
	db   *store.DB
	tune tunables

	mu         sync.Mutex
	jobs       map[string]*job
	submitting map[string]bool // jobs whose content is being published
	reserved   int             // units of the jobs being submitted
	maxActive  int             // MaxActiveUnits; tests lower it
	assigns    map[string]*assignment
	assigned   map[peer.ID]int // running assignments per worker
	workers    map[peer.ID]*workerRec
	rnd        *rand.Rand

	payWake    chan struct{}
	advertWake chan struct{}
	sweepWake  chan struct{}

	w *worker
}

// New creates the service, applying its database migrations and loading
// the jobs a previous run left.
func New(ctx context.Context, cfg Config) (*Service, error) {
	if cfg.Host == nil || cfg.DB == nil || cfg.Content == nil {
		return nil, errors.New("compute: Config.Host, Config.DB and Config.Content are required")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := cfg.DB.Migrate(ctx, component, migrations); err != nil {
		return nil, fmt.Errorf("compute: %w", err)
	}
	jobs, err := loadJobs(ctx, cfg.DB)
	if err != nil {
		return nil, err
	}
	workers, err := loadWorkers(ctx, cfg.DB)
	if err != nil {
		return nil, err
	}
	s := &Service{
		cfg: cfg, log: log, self: cfg.Host.ID(), db: cfg.DB, tune: defaultTunables,
		jobs: jobs, submitting: map[string]bool{}, maxActive: MaxActiveUnits, assigns: map[string]*assignment{}, assigned: map[peer.ID]int{}, workers: workers,
		rnd:     rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())),
		payWake: make(chan struct{}, 1), advertWake: make(chan struct{}, 1), sweepWake: make(chan struct{}, 1),
	}
	for _, j := range jobs {
		if !j.finishedState() {
			log.Info("compute: resuming job", "job", j.id, "validated", j.validated, "units", len(j.units))
		}
	}
	if t := cfg.Tuning; t != nil {
		if t.AdvertEvery > 0 {
			s.tune.advertEvery = t.AdvertEvery
		}
		if t.Retry > 0 {
			s.tune.retry = t.Retry
		}
	}
	s.w = newWorker(s, cfg.Worker)
	s.w.tamper = cfg.TestTamper
	if cfg.Worker.Enabled {
		log.Info("compute: worker on", "cpus", max(cfg.Worker.CPUs, 1), "max_memory_per_unit", cfg.Worker.maxMemory())
	}
	return s, nil
}

func (s *Service) rand() float64 { return s.rnd.Float64() }

// Serve runs the service until ctx ends: it advertises active jobs, serves
// workers' requests, runs units when the worker is on, and pays workers.
// It returns nil when ctx ends.
func (s *Service) Serve(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	var (
		topic *pubsub.Topic
		sub   *pubsub.Subscription
		err   error
	)
	if s.cfg.PubSub != nil {
		topic, err = s.cfg.PubSub.Join(Topic)
		if err != nil {
			return fmt.Errorf("compute: joining %s: %w", Topic, err)
		}
		// Bad adverts are dropped before they are relayed, and count
		// against their sender's GossipSub score.
		validate := func(_ context.Context, _ peer.ID, msg *pubsub.Message) bool {
			_, err := decodeAdvert(msg.Data, msg.GetFrom())
			return err == nil
		}
		if err := s.cfg.PubSub.RegisterTopicValidator(Topic, validate); err != nil {
			s.log.Warn("compute: advert validator", "err", err)
		} else {
			defer s.cfg.PubSub.UnregisterTopicValidator(Topic)
		}
		sub, err = topic.Subscribe()
		if err != nil {
			topic.Close()
			return fmt.Errorf("compute: subscribing %s: %w", Topic, err)
		}
	}
	streams := newStreamSet()
	var wg sync.WaitGroup
	s.cfg.Host.SetStreamHandler(Protocol, func(st network.Stream) {
		if !streams.add(st) {
			st.Reset()
			return
		}
		defer streams.remove(st)
		s.handle(ctx, st)
	})
	wg.Add(2)
	go func() { defer wg.Done(); s.payLoop(ctx) }()
	go func() { defer wg.Done(); s.sweepLoop(ctx) }()
	if topic != nil {
		wg.Add(2)
		go func() { defer wg.Done(); s.advertLoop(ctx, topic) }()
		go func() { defer wg.Done(); s.w.listen(ctx, sub) }()
	}
	s.w.serve(ctx) // returns when ctx ends and its units have stopped

	s.cfg.Host.RemoveStreamHandler(Protocol)
	streams.close()
	streams.wg.Wait()
	if sub != nil {
		sub.Cancel()
	}
	wg.Wait()
	if topic != nil {
		topic.Close()
	}
	s.mu.Lock()
	for _, a := range s.assigns {
		s.abandon(a, "service stopped")
	}
	s.mu.Unlock()
	return nil
}

// JobSpec describes a job to Submit.
type JobSpec struct {
	// Module is the WASI preview 1 command module.
	Module []byte
	// Inputs gives one unit per input, which is the unit's stdin: at
	// most MaxInput bytes each.
	Inputs [][]byte
	// Count gives Count units instead (when Inputs is empty): unit i gets
	// PEERPATH_UNIT=i in its environment and i as its last argument, after
	// Args. At most MaxJobUnits.
	Count int
	// Args are the arguments of every unit.
	Args []string
	// MemoryBytes caps each unit's memory. Zero means 256 MiB.
	MemoryBytes uint64
	// Timeout is each unit's wall-clock budget. Zero means 60 s.
	Timeout time.Duration
	// Replication is how many workers run each unit at first, and Quorum
	// how many identical outputs accept it. Zero means 2 and 2.
	Replication, Quorum int
	// Reward is paid per validated unit to each worker whose output
	// matched, in micro-credits.
	Reward int64
	// MaxTries is how many failed executions fail a unit (and the job).
	// Zero means 3.
	MaxTries int
}

// Submit stores a new job and starts scheduling it: it publishes the
// module and the inputs as content (see Content), then records the job. It
// returns the job's id. Errors wrap ErrInvalidJob for a spec that cannot
// run.
func (s *Service) Submit(ctx context.Context, spec JobSpec) (string, error) {
	sp := storedSpec{
		Args: spec.Args, MemoryBytes: spec.MemoryBytes, TimeoutMS: spec.Timeout.Milliseconds(),
		Replication: spec.Replication, Quorum: spec.Quorum, Reward: spec.Reward, MaxTries: spec.MaxTries,
	}
	if sp.MemoryBytes == 0 {
		sp.MemoryBytes = sandbox.DefaultMemoryBytes
	}
	if spec.Timeout == 0 {
		sp.TimeoutMS = sandbox.DefaultTimeout.Milliseconds()
	}
	if sp.Replication == 0 {
		sp.Replication = 2
	}
	if sp.Quorum == 0 {
		sp.Quorum = min(2, sp.Replication)
	}
	if sp.MaxTries == 0 {
		sp.MaxTries = 3
	}
	switch {
	case len(spec.Module) == 0 || len(spec.Module) > MaxModuleBytes:
		return "", fmt.Errorf("%w: module of %d bytes", ErrInvalidJob, len(spec.Module))
	case len(spec.Inputs) > 0 && spec.Count > 0:
		return "", fmt.Errorf("%w: both inputs and a count", ErrInvalidJob)
	case len(spec.Inputs) == 0 && spec.Count <= 0:
		return "", fmt.Errorf("%w: no units", ErrInvalidJob)
	case spec.Count > MaxJobUnits || len(spec.Inputs) > MaxJobUnits:
		return "", fmt.Errorf("%w: %d units, more than the %d units per job allowed", ErrInvalidJob, max(spec.Count, len(spec.Inputs)), MaxJobUnits)
	case sp.MemoryBytes > 4<<30:
		return "", fmt.Errorf("%w: memory %d bytes is more than a wasm32 module can address", ErrInvalidJob, sp.MemoryBytes)
	case sp.TimeoutMS <= 0 || spec.Timeout > MaxUnitTimeout:
		return "", fmt.Errorf("%w: timeout %v", ErrInvalidJob, spec.Timeout)
	case sp.Replication < 1 || sp.Quorum < 1 || sp.Quorum > sp.Replication:
		return "", fmt.Errorf("%w: replication %d, quorum %d", ErrInvalidJob, sp.Replication, sp.Quorum)
	case sp.Reward < 0 || sp.MaxTries < 1:
		return "", fmt.Errorf("%w: reward %d, max tries %d", ErrInvalidJob, sp.Reward, sp.MaxTries)
	case len(spec.Args) > maxArgs-1:
		return "", fmt.Errorf("%w: %d arguments", ErrInvalidJob, len(spec.Args))
	}
	for _, a := range spec.Args {
		if len(a) > maxString {
			return "", fmt.Errorf("%w: argument of %d bytes", ErrInvalidJob, len(a))
		}
	}
	for i, in := range spec.Inputs {
		if len(in) > MaxInput {
			return "", fmt.Errorf("%w: input %d is %d bytes, more than %d", ErrInvalidJob, i, len(in), MaxInput)
		}
	}
	sp.Units, sp.Inputs = spec.Count, len(spec.Inputs) > 0
	if sp.Inputs {
		sp.Units = len(spec.Inputs)
	}
	if err := s.reserveUnits(sp.Units); err != nil {
		return "", err
	}
	defer func() {
		s.mu.Lock()
		s.reserved -= sp.Units
		s.mu.Unlock()
	}()
	if s.cfg.Runner != nil {
		if _, err := s.cfg.Runner.Compile(ctx, spec.Module); err != nil {
			return "", fmt.Errorf("%w: %w", ErrInvalidJob, err)
		}
	}
	j := &job{
		id: newID(), spec: sp, moduleSize: int64(len(spec.Module)),
		created: time.Now(), state: StateQueued, workers: map[peer.ID]bool{},
		units: make([]*unit, sp.Units),
	}
	for i := range j.units {
		j.units[i] = newUnit(i)
	}
	s.mu.Lock()
	s.submitting[j.id] = true
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.submitting, j.id)
		s.mu.Unlock()
	}()
	if err := s.publishJob(ctx, j, spec); err != nil {
		return "", err
	}
	if err := insertJob(ctx, s.db, j); err != nil {
		s.unpublishJob(j)
		return "", err
	}
	s.mu.Lock()
	s.jobs[j.id] = j
	s.mu.Unlock()
	s.log.Info("compute: job submitted", "job", j.id, "units", sp.Units, "replication", sp.Replication, "quorum", sp.Quorum)
	s.w.learnLocal(j)
	select {
	case s.advertWake <- struct{}{}:
	default:
	}
	return j.id, nil
}

// reserveUnits counts n more units against MaxActiveUnits until the
// caller gives them back (by then its job is in s.jobs, or failed).
func (s *Service) reserveUnits(n int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	active := s.reserved
	for _, j := range s.jobs {
		if !j.finishedState() {
			active += len(j.units)
		}
	}
	if active+n > s.maxActive {
		return fmt.Errorf("%w: %d units, but this node's unfinished jobs already hold %d of the %d units allowed at once; wait for them or cancel some",
			ErrInvalidJob, n, active, s.maxActive)
	}
	s.reserved += n
	return nil
}

// publishJob publishes j's module and inputs as content and records their
// ids in j. On failure it unpublishes what it published.
func (s *Service) publishJob(ctx context.Context, j *job, spec JobSpec) error {
	var err error
	if j.moduleCID, err = s.cfg.Content.Publish(ctx, moduleKey(j.id), spec.Module); err != nil {
		return fmt.Errorf("compute: publishing the module: %w", err)
	}
	if len(spec.Inputs) > 0 {
		j.inputs = make([]contentRef, len(spec.Inputs))
	}
	for i, in := range spec.Inputs {
		if len(in) == 0 {
			continue // an empty stdin needs no content
		}
		id, err := s.cfg.Content.Publish(ctx, inputKey(j.id, i), in)
		if err != nil {
			s.unpublishJob(j)
			return fmt.Errorf("compute: publishing input %d: %w", i, err)
		}
		j.inputs[i] = contentRef{id: id, size: int64(len(in))}
	}
	return nil
}

// unpublishJob removes what publishJob published for j, at once (the
// sweep would remove it later).
func (s *Service) unpublishJob(j *job) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	keys := []string{moduleKey(j.id)}
	for i := range j.inputs {
		keys = append(keys, inputKey(j.id, i))
	}
	for _, k := range keys {
		if err := s.cfg.Content.Unpublish(ctx, k); err != nil {
			s.log.Warn("compute: unpublishing", "key", k, "err", err)
		}
	}
}

// JobStatus is a job's progress.
type JobStatus struct {
	ID          string    `json:"id"`
	State       string    `json:"state"` // queued, running, done, failed, cancelled
	Units       int       `json:"units"`
	Queued      int       `json:"queued"`    // units waiting for a worker
	Running     int       `json:"running"`   // units some worker is running
	Validated   int       `json:"validated"` // units accepted
	Failed      int       `json:"failed"`    // units failed on all their tries
	Workers     []string  `json:"workers"`   // workers that returned results
	ETASeconds  float64   `json:"eta_s"`     // estimated time to done; 0 when unknown or finished
	Reasons     []string  `json:"reasons"`   // why units failed (or are failing)
	Created     time.Time `json:"created"`
	Finished    time.Time `json:"finished,omitzero"`
	Reward      int64     `json:"reward"` // micro-credits per validated unit and matching worker
	Replication int       `json:"replication"`
	Quorum      int       `json:"quorum"`
	// Results counts successful executions; Results/Validated is the
	// redundancy the job paid for.
	Results int `json:"results"`
	// Singles counts units accepted from a single trusted worker's copy.
	Singles int `json:"singles"`
}

// Status returns the status of job id, or ErrNotFound.
func (s *Service) Status(ctx context.Context, id string) (JobStatus, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	j := s.jobs[id]
	if j == nil {
		return JobStatus{}, fmt.Errorf("%w: %.64q", ErrNotFound, id)
	}
	return s.statusLocked(j), nil
}

func (s *Service) statusLocked(j *job) JobStatus {
	st := JobStatus{
		ID: j.id, State: j.state, Units: len(j.units), Validated: j.validated, Failed: j.failed,
		Created: j.created, Finished: j.finished, Reward: j.spec.Reward,
		Replication: j.spec.Replication, Quorum: j.spec.Quorum, Results: j.results, Singles: j.singles,
		Workers: []string{}, Reasons: []string{},
	}
	for w := range j.workers {
		st.Workers = append(st.Workers, w.String())
	}
	sort.Strings(st.Workers)
	if j.reason != "" {
		st.Reasons = append(st.Reasons, j.reason)
	}
	for _, u := range j.units {
		if u.state != unitQueued {
			continue
		}
		if len(u.running) > 0 {
			st.Running++
		} else {
			st.Queued++
		}
		if u.reason != "" && len(st.Reasons) < 10 && !j.finishedState() {
			st.Reasons = append(st.Reasons, fmt.Sprintf("unit %d: %s", u.idx, u.reason))
		}
	}
	if !j.finishedState() && j.doneSince > 0 {
		rate := float64(j.doneSince) / time.Since(j.started).Seconds()
		st.ETASeconds = float64(len(j.units)-j.validated-j.failed) / rate
	}
	return st
}

// Jobs returns the status of every job, newest first.
func (s *Service) Jobs(ctx context.Context) ([]JobStatus, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]JobStatus, 0, len(s.jobs))
	for _, j := range s.jobs {
		out = append(out, s.statusLocked(j))
	}
	slices.SortFunc(out, func(a, b JobStatus) int { return b.Created.Compare(a.Created) })
	return out, nil
}

// Results returns the validated outputs of job id by unit index (units not
// validated are absent), or ErrNotFound.
func (s *Service) Results(ctx context.Context, id string) (map[int][]byte, error) {
	s.mu.Lock()
	_, ok := s.jobs[id]
	s.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("%w: %.64q", ErrNotFound, id)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT idx, output FROM compute_units WHERE job = ? AND state = ?`, id, unitValidated)
	if err != nil {
		return nil, fmt.Errorf("compute: results: %w", err)
	}
	defer rows.Close()
	out := map[int][]byte{}
	for rows.Next() {
		var (
			i    int
			out0 []byte
		)
		if err := rows.Scan(&i, &out0); err != nil {
			return nil, fmt.Errorf("compute: results: %w", err)
		}
		if out0 == nil {
			out0 = []byte{}
		}
		out[i] = out0
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("compute: results: %w", err)
	}
	return out, nil
}

// Cancel stops job id: no more units are handed out and results still
// arriving are dropped. It returns ErrNotFound or ErrFinished.
func (s *Service) Cancel(ctx context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	j := s.jobs[id]
	if j == nil {
		return fmt.Errorf("%w: %.64q", ErrNotFound, id)
	}
	if j.finishedState() {
		return fmt.Errorf("%w: %s is %s", ErrFinished, id, j.state)
	}
	return s.endJob(ctx, j, StateCancelled, "cancelled by the submitter")
}

// handle serves one worker's stream: a work request followed, once the
// unit has run, by its result.
func (s *Service) handle(ctx context.Context, st network.Stream) {
	defer st.Close()
	w := st.Conn().RemotePeer()
	// A worker sends its request as it opens the stream.
	_ = st.SetDeadline(time.Now().Add(p2p.FirstRequestTimeout))
	req, _, err := readMessage(st)
	if err != nil || req.Op != opWork {
		s.log.Debug("compute: bad request", "peer", w, "op", req.Op, "err", err)
		st.Reset()
		return
	}
	s.mu.Lock()
	m, a := s.assign(w, req.Job)
	if a != nil {
		a.cancel = func() { st.Reset() }
	}
	s.mu.Unlock()
	if err := writeMessage(st, m, nil); err != nil || a == nil {
		if a != nil {
			s.mu.Lock()
			s.abandon(a, "sending unit: "+err.Error())
			s.mu.Unlock()
		}
		return
	}
	// The worker fetches the module and input, then runs the unit.
	_ = st.SetDeadline(time.Now().Add(time.Duration(m.TimeoutMS)*time.Millisecond + s.tune.grace + s.tune.fetch))
	res, out, err := readMessage(st)
	if err == nil && (res.Op != opResult || res.Attempt != a.id) {
		err = fmt.Errorf("%w: expected the result of attempt %s", errProtocol, a.id)
	}
	if err == nil && res.ErrKind == "" {
		out, err = s.output(ctx, st, w, res, out)
	}
	s.mu.Lock()
	if err != nil {
		s.abandon(a, err.Error())
		s.mu.Unlock()
		st.Reset()
		return
	}
	err = s.complete(ctx, a, out, res.ErrKind, res.Reason)
	s.mu.Unlock()
	if err != nil {
		s.log.Warn("compute: recording result", "job", a.job.id, "unit", a.unit.idx, "err", err)
	}
	_ = st.SetDeadline(time.Now().Add(30 * time.Second))
	_ = writeMessage(st, message{Op: opAck}, nil)
}

// output returns the output of a successful result: its inline body, or
// the content the worker published, fetched from it. Either way it must
// match the hash the worker sent, which is what quorums compare.
func (s *Service) output(ctx context.Context, st network.Stream, w peer.ID, res message, body []byte) ([]byte, error) {
	h, err := parseHash(res.Hash)
	if err != nil {
		return nil, err
	}
	out := body
	if res.Output != "" {
		_ = st.SetDeadline(time.Now().Add(s.tune.fetch + 30*time.Second))
		fctx, cancel := context.WithTimeout(ctx, s.tune.fetch)
		out, err = s.cfg.Content.Fetch(fctx, res.Output, res.OutputSize, w)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("compute: fetching output %s: %w", res.Output, err)
		}
	}
	if out == nil {
		out = []byte{}
	}
	if blake3.Sum256(out) != h {
		return nil, fmt.Errorf("%w: output does not match its hash", errProtocol)
	}
	return out, nil
}

// advertLoop publishes an advert of every active job now and then, and at
// once when a job is submitted.
func (s *Service) advertLoop(ctx context.Context, topic *pubsub.Topic) {
	t := time.NewTicker(s.tune.advertEvery)
	defer t.Stop()
	for {
		s.mu.Lock()
		var ads [][]byte
		for _, j := range s.jobs {
			if j.finishedState() {
				continue
			}
			a := advert{V: advertVersion, Job: j.id, Submitter: s.self.String(), Module: j.moduleCID,
				ModuleSize: j.moduleSize, Units: len(j.units), Reward: j.spec.Reward, Memory: j.spec.MemoryBytes, TimeoutMS: j.spec.TimeoutMS}
			b, _ := json.Marshal(a)
			ads = append(ads, b)
		}
		s.mu.Unlock()
		for _, b := range ads {
			if err := topic.Publish(ctx, b); err != nil && ctx.Err() == nil {
				s.log.Warn("compute: advertising job", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.advertWake:
		}
	}
}

// payLoop pays what is owed through the Payer, retrying failures.
func (s *Service) payLoop(ctx context.Context) {
	if s.cfg.Payer == nil {
		return
	}
	backoff := time.Second
	for {
		err := s.payOwed(ctx)
		wait := time.Hour
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			s.log.Warn("compute: paying workers", "err", err)
			wait = backoff
			backoff = min(2*backoff, time.Minute)
		} else {
			backoff = time.Second
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-s.payWake:
		case <-t.C:
		}
		t.Stop()
	}
}

func (s *Service) payOwed(ctx context.Context) error {
	type owed struct {
		ref, worker string
		amount      int64
	}
	rows, err := s.db.QueryContext(ctx, `SELECT ref, worker, amount FROM compute_payments WHERE state = 'owed' ORDER BY created LIMIT 1000`)
	if err != nil {
		return fmt.Errorf("compute: %w", err)
	}
	var list []owed
	for rows.Next() {
		var o owed
		if err := rows.Scan(&o.ref, &o.worker, &o.amount); err != nil {
			rows.Close()
			return fmt.Errorf("compute: %w", err)
		}
		list = append(list, o)
	}
	rows.Close()
	for _, o := range list {
		to, err := peer.Decode(o.worker)
		if err != nil {
			continue
		}
		if err := s.cfg.Payer.Pay(ctx, to, o.amount, "compute unit "+o.ref, o.ref); err != nil {
			return fmt.Errorf("compute: paying %s for %s: %w", o.worker, o.ref, err)
		}
		if _, err := s.db.ExecContext(ctx, `UPDATE compute_payments SET state = 'paid', paid = ? WHERE ref = ? AND worker = ?`,
			time.Now().UnixNano(), o.ref, o.worker); err != nil {
			return fmt.Errorf("compute: %w", err)
		}
	}
	if len(list) == 1000 {
		select {
		case s.payWake <- struct{}{}:
		default:
		}
	}
	return nil
}

// streamSet tracks open streams so Serve can reset them when it stops.
type streamSet struct {
	wg     sync.WaitGroup // handlers running
	mu     sync.Mutex
	m      map[network.Stream]bool
	closed bool
}

func newStreamSet() *streamSet { return &streamSet{m: map[network.Stream]bool{}} }

func (ss *streamSet) add(st network.Stream) bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.closed {
		return false
	}
	ss.m[st] = true
	ss.wg.Add(1)
	return true
}

func (ss *streamSet) remove(st network.Stream) {
	ss.mu.Lock()
	delete(ss.m, st)
	ss.mu.Unlock()
	ss.wg.Done()
}

func (ss *streamSet) close() {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.closed = true
	for st := range ss.m {
		st.Reset()
	}
}

// unitRef is a payment reference: jobID/unit.
func unitRef(job string, unit int) string { return job + "/" + strconv.Itoa(unit) }
