package ledger

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/time/rate"

	"github.com/peerpath/peerpath/internal/peerlimit"
)

// Config configures a ledger Service. Host is required; the rest have
// defaults. Fields must not change after New.
type Config struct {
	// Host is the node's libp2p host; its peer ID is the raft server ID.
	Host host.Host
	// Dir holds the raft log (raft.db, SQLite) and snapshots. Required for a
	// voter; unused otherwise.
	Dir string
	// Logger receives the service's and raft's logs. Nil: discard.
	Logger *slog.Logger
	// Voter runs raft on this node. A non-voter only forwards requests.
	Voter bool
	// Voters is a hint: peers believed to be voters. A non-voter asks them
	// (before other connected peers that speak ClientProtocol); a voter with
	// no raft configuration and no accepted invitation yet (a fresh node
	// about to be bootstrapped or added) accepts raft streams only from
	// them, and invitations (see Invitation) only from them.
	Voters []peer.ID
	// Inviters are the peers a fresh voter with no Voters accepts an
	// invitation from (the daemon passes its bootstrap peers: the operator
	// named them). Unused when Voters is set.
	Inviters []peer.ID

	// BatchDelay is how long the leader waits for more transfers before
	// appending a batch while earlier batches are still in flight.
	// Zero: 2ms.
	BatchDelay time.Duration
	// MaxBatch caps the transfers per log entry. Zero: 1024.
	MaxBatch int
	// ElectionTimeout is raft's heartbeat and election timeout. Zero: 1s.
	ElectionTimeout time.Duration
	// SnapshotThreshold is the number of log entries between snapshots.
	// Zero: 8192.
	SnapshotThreshold uint64
	// SnapshotInterval is how often raft checks whether to snapshot.
	// Zero: 2 minutes.
	SnapshotInterval time.Duration
	// ClientRate and ClientBurst bound the ClientProtocol requests a voter
	// serves for each peer that is not a voter (forwarded requests from
	// voters are not counted against them): requests per second, and how
	// many may come at once. Past them a request is answered ErrBusy, which
	// clients retry after a backoff. Zero: 500 and 1000.
	ClientRate  rate.Limit
	ClientBurst int
}

// Status describes the ledger as one node sees it.
type Status struct {
	Leader      string   `json:"leader"`
	Voters      []string `json:"voters"`
	CommitIndex uint64   `json:"commit_index"`
	// Operator is the genesis operator account (fees, sponsorship); empty
	// when none is configured or no ledger exists yet.
	Operator string `json:"operator,omitempty"`
}

// Service is one node's part of the ledger: on a voter it runs raft, the
// state machine and (when leader) the batcher, and serves ClientProtocol;
// on any node it submits transfers and answers queries, forwarding to a
// voter when needed.
type Service struct {
	cfg  Config
	log  *slog.Logger
	host host.Host
	fsm  *FSM

	raft      atomic.Pointer[raft.Raft] // nil on a non-voter
	store     *sqliteStore
	vstore    *verifyingStore
	snaps     raft.SnapshotStore
	transport *raft.NetworkTransport

	reqs     chan *pending
	inflight chan struct{}
	commits  sync.WaitGroup

	invites *invitations // the invitation this voter accepted (voters only)

	leaderHint atomic.Value       // peer.ID last seen leading (non-voters)
	clients    *peerlimit.Limiter // ClientProtocol requests per non-voter peer

	base      context.Context // cancelled by Close
	cancel    context.CancelFunc
	closeOnce sync.Once
	closeErr  error
}

// pending is a transfer waiting in the leader's batcher.
type pending struct {
	t    SignedTransfer
	done chan TxResult
}

const (
	maxInflight    = 4
	applyTimeout   = 10 * time.Second
	requestTimeout = 20 * time.Second
)

// New creates the service. On a voter it opens the raft store in
// cfg.Dir and starts raft (restoring any earlier state); Serve must then
// run for the leader to batch transfers.
func New(ctx context.Context, cfg Config) (*Service, error) {
	if cfg.Host == nil {
		return nil, errors.New("ledger: Config.Host is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.BatchDelay <= 0 {
		cfg.BatchDelay = 2 * time.Millisecond
	}
	if cfg.MaxBatch <= 0 || cfg.MaxBatch > maxBatch {
		cfg.MaxBatch = 1024
	}
	if cfg.ElectionTimeout <= 0 {
		cfg.ElectionTimeout = time.Second
	}
	if cfg.SnapshotThreshold == 0 {
		cfg.SnapshotThreshold = 8192
	}
	if cfg.ClientRate <= 0 {
		cfg.ClientRate = 500
	}
	if cfg.ClientBurst <= 0 {
		cfg.ClientBurst = 1000
	}
	s := &Service{
		cfg:      cfg,
		log:      cfg.Logger,
		host:     cfg.Host,
		fsm:      NewFSM(),
		clients:  peerlimit.New(cfg.ClientRate, cfg.ClientBurst),
		reqs:     make(chan *pending, 8192),
		inflight: make(chan struct{}, maxInflight),
	}
	s.base, s.cancel = context.WithCancel(context.WithoutCancel(ctx))
	if cfg.Voter {
		if err := s.startRaft(); err != nil {
			s.cancel()
			return nil, err
		}
		s.host.SetStreamHandler(ClientProtocol, s.handleClient)
	}
	return s, nil
}

func (s *Service) startRaft() error {
	if s.cfg.Dir == "" {
		return errors.New("ledger: Config.Dir is required for a voter")
	}
	if err := os.MkdirAll(s.cfg.Dir, 0o700); err != nil {
		return fmt.Errorf("ledger: %w", err)
	}
	hlog := hclog.New(&hclog.LoggerOptions{
		Name: "raft", Level: hclog.Warn, Output: slogWriter{s.log}, DisableTime: true,
	})
	if err := checkRaftDB(filepath.Join(s.cfg.Dir, "raft.db")); err != nil {
		return err
	}
	store, err := openSQLiteStore(filepath.Join(s.cfg.Dir, "raft.db"))
	if err != nil {
		return err
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(s.cfg.Dir, 2, hlog)
	if err != nil {
		store.Close()
		return fmt.Errorf("ledger: snapshots: %w", err)
	}
	s.fsm.hintSnapshotVoters(snaps)
	s.invites = &invitations{path: filepath.Join(s.cfg.Dir, InvitationFile)}
	if err := s.invites.load(s.host.ID()); err != nil {
		store.Close()
		return err
	}
	layer := NewStreamLayer(s.host, s.isVoter, s.log)
	trans := raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream: layer, MaxPool: 4, Timeout: 10 * time.Second, Logger: hlog,
	})
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(s.host.ID().String())
	rc.Logger = hlog
	rc.HeartbeatTimeout = s.cfg.ElectionTimeout
	rc.ElectionTimeout = s.cfg.ElectionTimeout
	rc.LeaderLeaseTimeout = s.cfg.ElectionTimeout / 2
	rc.CommitTimeout = 5 * time.Millisecond
	rc.SnapshotThreshold = s.cfg.SnapshotThreshold
	if s.cfg.SnapshotInterval > 0 {
		rc.SnapshotInterval = s.cfg.SnapshotInterval
	}
	rc.TrailingLogs = s.cfg.SnapshotThreshold
	rc.MaxAppendEntries = 256
	s.vstore = newVerifyingStore(store, s.fsm)
	logs, err := raft.NewLogCache(1024, s.vstore)
	if err != nil {
		trans.Close()
		store.Close()
		return fmt.Errorf("ledger: %w", err)
	}
	r, err := raft.NewRaft(rc, s.fsm, logs, store, snaps, trans)
	if err != nil {
		trans.Close()
		store.Close()
		return fmt.Errorf("ledger: start raft: %w", err)
	}
	s.store, s.snaps, s.transport = store, snaps, trans
	s.raft.Store(r)
	return nil
}

// isVoter reports whether p may speak RaftProtocol to this node: a voter
// in the latest raft configuration or, while this node has none yet, a
// voter listed by the invitation it accepted or, with none, a peer in
// Config.Voters.
func (s *Service) isVoter(p peer.ID) bool {
	if r := s.raft.Load(); r != nil {
		servers := r.GetConfiguration().Configuration().Servers
		if len(servers) > 0 {
			for _, srv := range servers {
				if srv.ID == raft.ServerID(p.String()) {
					return srv.Suffrage == raft.Voter
				}
			}
			return false
		}
		if inv := s.invites.get(); inv != nil {
			return inv.lists(p)
		}
	}
	return slices.Contains(s.cfg.Voters, p)
}

// Serve runs the leader-side batcher until ctx ends, then shuts the
// service down (raft, transport, store). It returns nil after a clean stop.
func (s *Service) Serve(ctx context.Context) error {
	defer s.Close()
	if s.raft.Load() == nil {
		select {
		case <-ctx.Done():
		case <-s.base.Done():
		}
		return nil
	}
	s.batchLoop(ctx)
	return nil
}

// Close shuts the service down; it is safe to call more than once.
func (s *Service) Close() error {
	s.closeOnce.Do(func() {
		s.cancel()
		if r := s.raft.Load(); r != nil {
			s.host.RemoveStreamHandler(ClientProtocol)
			// Let batches in flight finish while raft still runs: once it
			// is shut down, hashicorp/raft may leave the future of an
			// entry it had committed but not yet applied unanswered
			// (ApplyLog futures do not watch for shutdown), and its
			// waiter would hang. A leader cut off from its quorum steps
			// down within the lease timeout and answers them all.
			if !waitGroupFor(&s.commits, 2*s.cfg.ElectionTimeout+5*time.Second) {
				s.log.Warn("ledger: batches still in flight at shutdown")
			}
			if err := r.Shutdown().Error(); err != nil {
				s.closeErr = fmt.Errorf("ledger: raft shutdown: %w", err)
			}
			if !waitGroupFor(&s.commits, 5*time.Second) {
				s.log.Error("ledger: raft left batches unanswered at shutdown; their submitters get no answer")
			}
			s.vstore.wait()
			if err := s.transport.Close(); err != nil && s.closeErr == nil {
				s.closeErr = fmt.Errorf("ledger: transport close: %w", err)
			}
			if err := s.store.Close(); err != nil && s.closeErr == nil {
				s.closeErr = fmt.Errorf("ledger: store close: %w", err)
			}
		}
	})
	return s.closeErr
}

func (s *Service) closed() bool { return s.base.Err() != nil }

// waitGroupFor waits for wg up to d and reports whether it finished.
func waitGroupFor(wg *sync.WaitGroup, d time.Duration) bool {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}

// --- leader-side batching ---

func (s *Service) batchLoop(ctx context.Context) {
	for {
		var batch []*pending
		select {
		case p := <-s.reqs:
			batch = append(batch, p)
		case <-ctx.Done():
			return
		case <-s.base.Done():
			return
		}
		// Take what is already queued; linger for more only while earlier
		// batches are in flight (so a lone transfer is not delayed).
	drain:
		for len(batch) < s.cfg.MaxBatch {
			select {
			case p := <-s.reqs:
				batch = append(batch, p)
			default:
				break drain
			}
		}
		if len(s.inflight) > 0 && len(batch) < s.cfg.MaxBatch {
			timer := time.NewTimer(s.cfg.BatchDelay)
		linger:
			for len(batch) < s.cfg.MaxBatch {
				select {
				case p := <-s.reqs:
					batch = append(batch, p)
				case <-timer.C:
					break linger
				}
			}
			timer.Stop()
		}
		select {
		case s.inflight <- struct{}{}:
		case <-ctx.Done():
			failAll(batch, ErrClosed)
			return
		case <-s.base.Done():
			failAll(batch, ErrClosed)
			return
		}
		s.commits.Add(1)
		go s.commit(batch)
	}
}

func failAll(batch []*pending, err error) {
	for _, p := range batch {
		p.done <- TxResult{Err: err}
	}
}

// commit appends one batch entry and hands each transfer its result.
func (s *Service) commit(batch []*pending) {
	defer s.commits.Done()
	defer func() { <-s.inflight }()
	r := s.raft.Load()
	txs := make([]SignedTransfer, len(batch))
	for i, p := range batch {
		txs[i] = p.t
	}
	f := r.Apply(encodeBatch(time.Now().UnixNano(), txs), applyTimeout)
	if err := f.Error(); err != nil {
		failAll(batch, fmt.Errorf("ledger: apply: %w", err))
		return
	}
	res, ok := f.Response().([]TxResult)
	if !ok || len(res) != len(batch) {
		failAll(batch, fmt.Errorf("ledger: apply: unexpected response %T", f.Response()))
		return
	}
	for i, p := range batch {
		p.done <- res[i]
	}
}

// submitLocal queues t in this leader's batcher and waits for its result.
func (s *Service) submitLocal(ctx context.Context, t SignedTransfer) (Receipt, error) {
	// Check the signature here, on the caller's goroutine (many run in
	// parallel): a forged transfer never reaches the log, and Apply finds
	// the check in the memo instead of doing it on the apply goroutine.
	if err := s.fsm.preverify(&t); err != nil {
		return Receipt{}, err
	}
	p := &pending{t: t, done: make(chan TxResult, 1)}
	select {
	case s.reqs <- p:
	case <-ctx.Done():
		return Receipt{}, ctx.Err()
	case <-s.base.Done():
		return Receipt{}, ErrClosed
	}
	select {
	case res := <-p.done:
		return res.Receipt, res.Err
	case <-ctx.Done():
		return Receipt{}, ctx.Err()
	case <-s.base.Done():
		return Receipt{}, ErrClosed
	}
}

// --- public API ---

// Submit applies a signed transfer through the ledger and returns its
// receipt once committed and applied. On the leader it goes through the
// batcher; elsewhere it is forwarded over ClientProtocol. Submit retries
// (with the same ID, which is safe: a replay returns the original receipt,
// or for a purchase ErrReplayed) until ctx ends when the outcome is unknown
// (leader change, lost stream); outcomes decided by the ledger
// (ErrInsufficientFunds, ErrBadSignature, ErrInvalid, ErrExpired,
// ErrGrantRefused, ErrUnknownAccount, ErrNoLedger, the market errors) are
// returned at once.
func (s *Service) Submit(ctx context.Context, t SignedTransfer) (Receipt, error) {
	if err := t.Validate(); err != nil {
		return Receipt{}, err
	}
	var rec Receipt
	err := s.retry(ctx, func(ctx context.Context) error {
		var err error
		rec, err = s.submitOnce(ctx, t)
		return err
	})
	return rec, err
}

func (s *Service) submitOnce(ctx context.Context, t SignedTransfer) (Receipt, error) {
	if r := s.raft.Load(); r != nil {
		if r.State() == raft.Leader {
			return s.submitLocal(ctx, t)
		}
		leader, err := s.leader(r)
		if err != nil {
			return Receipt{}, err
		}
		resp, err := s.call(ctx, leader, clientRequest{Op: opSubmit, Transfer: &t, Forwarded: true})
		if err != nil {
			return Receipt{}, err
		}
		return receiptOf(resp)
	}
	resp, err := s.callAny(ctx, clientRequest{Op: opSubmit, Transfer: &t})
	if err != nil {
		return Receipt{}, err
	}
	return receiptOf(resp)
}

func receiptOf(resp clientResponse) (Receipt, error) {
	if err := resp.err(); err != nil {
		return Receipt{}, err
	}
	if resp.Receipt == nil {
		return Receipt{}, errors.New("ledger: response without receipt")
	}
	return *resp.Receipt, nil
}

// retry runs op until it succeeds, fails with a decided outcome, or ctx
// ends, backing off between attempts.
func (s *Service) retry(ctx context.Context, op func(context.Context) error) error {
	backoff := 5 * time.Millisecond
	for {
		if s.closed() {
			return ErrClosed
		}
		err := op(ctx)
		if err == nil || !retryable(err) {
			return err
		}
		if ctx.Err() != nil {
			return fmt.Errorf("ledger: %w (last error: %w)", ctx.Err(), err)
		}
		s.log.Debug("ledger: retrying", "err", err, "backoff", backoff)
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("ledger: %w (last error: %w)", ctx.Err(), err)
		case <-s.base.Done():
			t.Stop()
			return ErrClosed
		}
		backoff = min(backoff*2, 250*time.Millisecond)
	}
}

// retryable reports whether err leaves the outcome open, so the same
// request may be tried again (possibly elsewhere).
func retryable(err error) bool {
	for _, decided := range []error{ErrInsufficientFunds, ErrBadSignature, ErrUnknownAccount,
		ErrInvalid, ErrExpired, ErrGrantRefused, ErrNoLedger, ErrNotVoter, ErrLedgerExists,
		ErrInvitationRefused, errBadRequest, ErrNotFound, ErrSettled, ErrNotPermitted, ErrListing, ErrReplayed, ErrConflict,
		context.Canceled, context.DeadlineExceeded} {
		if errors.Is(err, decided) {
			return false
		}
	}
	return true
}

// leader returns the current leader's peer ID as this voter sees it.
func (s *Service) leader(r *raft.Raft) (peer.ID, error) {
	addr, _ := r.LeaderWithID()
	if addr == "" {
		return "", ErrNoLeader
	}
	id, err := peer.Decode(string(addr))
	if err != nil {
		return "", fmt.Errorf("ledger: leader address %q: %w", addr, err)
	}
	return id, nil
}

func checkAccount(acct string) error {
	if _, err := peer.Decode(acct); err != nil {
		return fmt.Errorf("%w: %q", ErrUnknownAccount, acct)
	}
	return nil
}

// Balance returns an account's balance in micro-credits (zero for an
// account never seen). A voter answers from its own state, which may lag
// the leader by the entries not yet applied here; a non-voter asks a voter.
func (s *Service) Balance(ctx context.Context, account string) (int64, error) {
	if err := checkAccount(account); err != nil {
		return 0, err
	}
	if s.raft.Load() != nil {
		return s.fsm.Balance(account)
	}
	var bal int64
	err := s.retry(ctx, func(ctx context.Context) error {
		resp, err := s.callAny(ctx, clientRequest{Op: opBalance, Account: account})
		if err != nil {
			return err
		}
		bal = resp.Balance
		return resp.err()
	})
	return bal, err
}

// History returns up to limit of the account's most recent transfers,
// newest first (each voter keeps the last 100 per account). limit <= 0
// means all kept.
func (s *Service) History(ctx context.Context, account string, limit int) ([]Transfer, error) {
	if err := checkAccount(account); err != nil {
		return nil, err
	}
	if s.raft.Load() != nil {
		return s.fsm.History(account, limit)
	}
	var hist []Transfer
	err := s.retry(ctx, func(ctx context.Context) error {
		resp, err := s.callAny(ctx, clientRequest{Op: opHistory, Account: account, Limit: max(limit, 0)})
		if err != nil {
			return err
		}
		hist = resp.History
		return resp.err()
	})
	return hist, err
}

// Status reports the leader, the voters and the commit index, from this
// voter's view or, on a non-voter, from a voter's.
func (s *Service) Status(ctx context.Context) (Status, error) {
	if r := s.raft.Load(); r != nil {
		return s.localStatus(r), nil
	}
	var st Status
	err := s.retry(ctx, func(ctx context.Context) error {
		resp, err := s.callAny(ctx, clientRequest{Op: opStatus})
		if err != nil {
			return err
		}
		if err := resp.err(); err != nil {
			return err
		}
		if resp.Status == nil {
			return errors.New("ledger: response without status")
		}
		st = *resp.Status
		return nil
	})
	return st, err
}

func (s *Service) localStatus(r *raft.Raft) Status {
	addr, _ := r.LeaderWithID()
	st := Status{Leader: string(addr), Voters: []string{}, CommitIndex: r.CommitIndex()}
	for _, srv := range r.GetConfiguration().Configuration().Servers {
		if srv.Suffrage == raft.Voter {
			st.Voters = append(st.Voters, string(srv.ID))
		}
	}
	slices.Sort(st.Voters)
	st.Operator = s.fsm.operator()
	return st
}

// Create bootstraps a new ledger whose voters are voters (which must
// include this node) and applies genesis through the log. Call it on one
// running voter; the others must be running with empty state. First each
// of them is sent a signed Invitation (the voter set and the genesis hash)
// and must accept it; Create waits for every one of them (until ctx ends)
// and bootstraps nothing before. A voter that refuses ends Create at once
// with ErrInvitationRefused naming that voter and the flag that fixes it.
// Create returns ErrLedgerExists if this voter already has a ledger (or
// raft state for other voters), ErrNotVoter on a non-voter. A Create that
// gave up after bootstrapping, before its genesis committed, may be called
// again with the same voters: it resumes instead of bootstrapping twice.
func (s *Service) Create(ctx context.Context, voters []peer.ID, genesis Genesis) error {
	r := s.raft.Load()
	if r == nil {
		return ErrNotVoter
	}
	if err := genesis.Validate(); err != nil {
		return err
	}
	if !slices.Contains(voters, s.host.ID()) {
		return fmt.Errorf("ledger: create: voters must include this node %s", s.host.ID())
	}
	var conf raft.Configuration
	for _, v := range voters {
		if slices.ContainsFunc(conf.Servers, func(srv raft.Server) bool { return srv.ID == raft.ServerID(v.String()) }) {
			continue
		}
		conf.Servers = append(conf.Servers, raft.Server{
			Suffrage: raft.Voter, ID: raft.ServerID(v.String()), Address: raft.ServerAddress(v.String()),
		})
	}
	hash, err := genesis.Hash()
	if err != nil {
		return err
	}
	exists, err := raft.HasExistingState(s.store, s.store, s.snaps)
	if err != nil {
		return fmt.Errorf("ledger: create: %w", err)
	}
	current := r.GetConfiguration().Configuration().Servers
	switch {
	case !exists && len(current) == 0:
		// Every other voter must accept this ledger before anything is
		// bootstrapped: a voter that refuses leaves no half-made ledger.
		if err := s.inviteVoters(ctx, voters, hash); err != nil {
			return fmt.Errorf("ledger: create: %w", err)
		}
		if err := r.BootstrapCluster(conf).Error(); err != nil {
			if errors.Is(err, raft.ErrCantBootstrap) {
				return ErrLedgerExists
			}
			return fmt.Errorf("ledger: bootstrap: %w", err)
		}
	case s.fsm.hasGenesis() || !sameServers(current, conf.Servers):
		return ErrLedgerExists
	default:
		// Bootstrapped with these voters by an earlier Create that gave up
		// before its genesis committed (no quorum yet): apply it now. If a
		// genesis did commit meanwhile, the state machine refuses this one.
		s.log.Info("ledger: create: resuming genesis of a bootstrapped ledger")
		if err := s.inviteVoters(ctx, voters, hash); err != nil {
			return fmt.Errorf("ledger: create: %w", err)
		}
	}
	data, err := encodeGenesis(genesis)
	if err != nil {
		return err
	}
	attempt := 0
	err = s.retry(ctx, func(ctx context.Context) error {
		attempt++
		err := s.applyGenesis(ctx, &genesis, data)
		if attempt > 1 && errors.Is(err, ErrLedgerExists) {
			return nil // an earlier attempt whose answer was lost did apply
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("ledger: create: %w", err)
	}
	return nil
}

// sameServers reports whether a and b hold the same server IDs.
func sameServers(a, b []raft.Server) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range a {
		if !slices.ContainsFunc(b, func(y raft.Server) bool { return y.ID == x.ID }) {
			return false
		}
	}
	return true
}

func (s *Service) applyGenesis(ctx context.Context, g *Genesis, data []byte) error {
	r := s.raft.Load()
	if r.State() == raft.Leader {
		f := r.Apply(data, applyTimeout)
		if err := f.Error(); err != nil {
			return fmt.Errorf("ledger: apply genesis: %w", err)
		}
		if err, ok := f.Response().(error); ok && err != nil {
			return err
		}
		return nil
	}
	leader, err := s.leader(r)
	if err != nil {
		return err
	}
	resp, err := s.call(ctx, leader, clientRequest{Op: opGenesis, Genesis: g, Forwarded: true})
	if err != nil {
		return err
	}
	return resp.err()
}

// AddVoter adds a voter to the ledger: id must be running as a voter with
// no state. This node first invites it (the current voters, id and the
// genesis hash; see Invitation), so id must trust this node (this node in
// its Config.Voters or, with none, its Config.Inviters); a refusal ends
// AddVoter at once with ErrInvitationRefused. The change itself is
// forwarded to the leader.
func (s *Service) AddVoter(ctx context.Context, id peer.ID) error {
	r := s.raft.Load()
	if r == nil {
		return ErrNotVoter
	}
	hash, err := s.genesisHash()
	if err != nil {
		return err
	}
	voters := []peer.ID{id}
	for _, srv := range r.GetConfiguration().Configuration().Servers {
		if v, err := peer.Decode(string(srv.ID)); err == nil && srv.Suffrage == raft.Voter {
			voters = append(voters, v)
		}
	}
	if id != s.host.ID() {
		if !slices.Contains(voters, s.host.ID()) {
			voters = append(voters, s.host.ID())
		}
		if err := s.inviteVoters(ctx, voters, hash, id); err != nil {
			return fmt.Errorf("ledger: add voter: %w", err)
		}
	}
	return s.membership(ctx, opAdd, id)
}

// inviteVoters signs an invitation to the ledger of voters and genesis hash and
// has it accepted by the voters in only or, with none given, by every voter
// but this node.
func (s *Service) inviteVoters(ctx context.Context, voters []peer.ID, hash string, only ...peer.ID) error {
	inv, err := NewInvitation(s.host.Peerstore().PrivKey(s.host.ID()), voters, hash)
	if err != nil {
		return err
	}
	if len(only) > 0 {
		return s.inviteAll(ctx, inv, only)
	}
	return s.inviteAll(ctx, inv, nil)
}

// RemoveVoter removes a voter from the ledger. Called on any voter;
// forwarded to the leader.
func (s *Service) RemoveVoter(ctx context.Context, id peer.ID) error {
	return s.membership(ctx, opRemove, id)
}

func (s *Service) membership(ctx context.Context, op string, id peer.ID) error {
	r := s.raft.Load()
	if r == nil {
		return ErrNotVoter
	}
	return s.retry(ctx, func(ctx context.Context) error {
		if r.State() == raft.Leader {
			return s.changeLocal(op, id)
		}
		leader, err := s.leader(r)
		if err != nil {
			return err
		}
		resp, err := s.call(ctx, leader, clientRequest{Op: op, Peer: id.String(), Forwarded: true})
		if err != nil {
			return err
		}
		return resp.err()
	})
}

func (s *Service) changeLocal(op string, id peer.ID) error {
	r := s.raft.Load()
	sid := raft.ServerID(id.String())
	var f raft.IndexFuture
	if op == opAdd {
		f = r.AddVoter(sid, raft.ServerAddress(id.String()), 0, applyTimeout)
	} else {
		f = r.RemoveServer(sid, 0, applyTimeout)
	}
	if err := f.Error(); err != nil {
		return fmt.Errorf("ledger: %s %s: %w", op, id, err)
	}
	return nil
}

// AppliedIndex is the last raft index applied to this voter's state
// (0 on a non-voter).
func (s *Service) AppliedIndex() uint64 { return s.fsm.AppliedIndex() }

// Barrier waits until this node, which must be the leader, has applied
// every entry committed before the call.
func (s *Service) Barrier(ctx context.Context) error {
	r := s.raft.Load()
	if r == nil {
		return ErrNotVoter
	}
	timeout := applyTimeout
	if d, ok := ctx.Deadline(); ok {
		timeout = time.Until(d)
	}
	if err := r.Barrier(timeout).Error(); err != nil {
		return fmt.Errorf("ledger: barrier: %w", err)
	}
	return nil
}

// IsLeader reports whether this node is the raft leader.
func (s *Service) IsLeader() bool {
	r := s.raft.Load()
	return r != nil && r.State() == raft.Leader
}

// slogWriter forwards raft's (hclog's) text lines to slog.
type slogWriter struct{ log *slog.Logger }

// Write logs one hclog line at Info.
func (w slogWriter) Write(p []byte) (int, error) {
	w.log.Info(strings.TrimSpace(string(p)), "component", "raft")
	return len(p), nil
}
