package compute

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/peerpath/peerpath/internal/store"
)

const component = "compute"

// migrations are the compute service's tables. Units in flight are not
// stored: after a restart every unit that was not validated or failed is
// issued again.
var migrations = []store.Migration{{Version: 1, SQL: `
CREATE TABLE compute_jobs (
	id       TEXT PRIMARY KEY,
	created  INTEGER NOT NULL,           -- unix nanoseconds
	finished INTEGER NOT NULL DEFAULT 0, -- unix nanoseconds, 0 while active
	state    TEXT NOT NULL,
	reason   TEXT NOT NULL DEFAULT '',
	spec     TEXT NOT NULL,              -- JSON storedSpec
	module   BLOB NOT NULL
);
CREATE TABLE compute_inputs (
	job  TEXT NOT NULL,
	idx  INTEGER NOT NULL,
	data BLOB NOT NULL,
	PRIMARY KEY (job, idx)
);
CREATE TABLE compute_units (
	job    TEXT NOT NULL,
	idx    INTEGER NOT NULL,
	state  TEXT NOT NULL,               -- queued, validated, failed
	tries  INTEGER NOT NULL DEFAULT 0,  -- failed executions
	reason TEXT NOT NULL DEFAULT '',
	output BLOB,                        -- the validated output
	PRIMARY KEY (job, idx)
);
CREATE TABLE compute_results (            -- successful replicas of units not yet validated
	job    TEXT NOT NULL,
	idx    INTEGER NOT NULL,
	worker TEXT NOT NULL,
	hash   BLOB NOT NULL,
	output BLOB,
	PRIMARY KEY (job, idx, worker)
);
CREATE TABLE compute_workers (            -- the submitter's record of each worker
	peer    TEXT PRIMARY KEY,
	valid   INTEGER NOT NULL DEFAULT 0,   -- results confirmed by a quorum
	invalid INTEGER NOT NULL DEFAULT 0    -- results outvoted by a quorum
);
CREATE TABLE compute_payments (           -- what each worker is owed and was paid
	ref     TEXT NOT NULL,                -- jobID/unit
	worker  TEXT NOT NULL,
	amount  INTEGER NOT NULL,             -- micro-credits
	state   TEXT NOT NULL,                -- owed, paid
	created INTEGER NOT NULL,
	paid    INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (ref, worker)
);
CREATE INDEX compute_payments_owed ON compute_payments (state);
`}, {Version: 2, SQL: `
-- Modules and inputs are published as content (Config.Content); the
-- database keeps their content ids and sizes. The BLOB columns of version
-- 1 stay, empty.
ALTER TABLE compute_jobs ADD COLUMN module_cid TEXT NOT NULL DEFAULT '';
ALTER TABLE compute_jobs ADD COLUMN module_size INTEGER NOT NULL DEFAULT 0;
ALTER TABLE compute_inputs ADD COLUMN cid TEXT NOT NULL DEFAULT '';
ALTER TABLE compute_inputs ADD COLUMN size INTEGER NOT NULL DEFAULT 0;
-- Active jobs of version 1 carried their content inline, which workers no
-- longer accept: they end, with the reason.
UPDATE compute_jobs SET state = 'failed', finished = CAST(strftime('%s', 'now') AS INTEGER) * 1000000000,
	reason = 'submitted by an older version that sent content inline; submit it again'
	WHERE state IN ('queued', 'running');
UPDATE compute_jobs SET module = x'';
DELETE FROM compute_inputs;
`}}

// storedSpec is a job's parameters as stored (module and inputs apart).
type storedSpec struct {
	Units       int      `json:"units"`
	Inputs      bool     `json:"inputs"` // one unit per input; otherwise Count mode
	Args        []string `json:"args,omitempty"`
	MemoryBytes uint64   `json:"memory"`
	TimeoutMS   int64    `json:"timeout_ms"`
	Replication int      `json:"replication"`
	Quorum      int      `json:"quorum"`
	Reward      int64    `json:"reward"`
	MaxTries    int      `json:"max_tries"`
}

func (sp storedSpec) timeout() time.Duration { return time.Duration(sp.TimeoutMS) * time.Millisecond }

// dbExec is what the queries below need: a *sql.DB or a *sql.Tx.
type dbExec interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func insertJob(ctx context.Context, db *store.DB, j *job) error {
	spec, err := json.Marshal(j.spec)
	if err != nil {
		return fmt.Errorf("compute: %w", err)
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("compute: storing job: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `INSERT INTO compute_jobs (id, created, state, spec, module, module_cid, module_size) VALUES (?, ?, ?, ?, x'', ?, ?)`,
		j.id, j.created.UnixNano(), j.state, string(spec), j.moduleCID, j.moduleSize); err != nil {
		return fmt.Errorf("compute: storing job: %w", err)
	}
	for i, in := range j.inputs {
		if _, err := tx.ExecContext(ctx, `INSERT INTO compute_inputs (job, idx, data, cid, size) VALUES (?, ?, x'', ?, ?)`, j.id, i, in.id, in.size); err != nil {
			return fmt.Errorf("compute: storing job: %w", err)
		}
	}
	for i := range j.spec.Units {
		if _, err := tx.ExecContext(ctx, `INSERT INTO compute_units (job, idx, state) VALUES (?, ?, ?)`, j.id, i, unitQueued); err != nil {
			return fmt.Errorf("compute: storing job: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("compute: storing job: %w", err)
	}
	return nil
}

// loadJobs reads every job: active jobs with their units' state and pending
// results; finished ones with their counts only.
func loadJobs(ctx context.Context, db *store.DB) (map[string]*job, error) {
	rows, err := db.QueryContext(ctx, `SELECT id, created, finished, state, reason, spec, module_cid, module_size FROM compute_jobs`)
	if err != nil {
		return nil, fmt.Errorf("compute: loading jobs: %w", err)
	}
	jobs := map[string]*job{}
	for rows.Next() {
		var (
			j                 = &job{workers: map[peer.ID]bool{}}
			created, finished int64
			spec              string
		)
		if err := rows.Scan(&j.id, &created, &finished, &j.state, &j.reason, &spec, &j.moduleCID, &j.moduleSize); err != nil {
			rows.Close()
			return nil, fmt.Errorf("compute: loading jobs: %w", err)
		}
		if err := json.Unmarshal([]byte(spec), &j.spec); err != nil {
			rows.Close()
			return nil, fmt.Errorf("compute: job %s: bad spec: %w", j.id, err)
		}
		j.created = time.Unix(0, created)
		if finished != 0 {
			j.finished = time.Unix(0, finished)
		}
		jobs[j.id] = j
	}
	if err := rows.Err(); err != nil {
		rows.Close()
		return nil, fmt.Errorf("compute: loading jobs: %w", err)
	}
	rows.Close()
	for _, j := range jobs {
		j.units = make([]*unit, j.spec.Units)
		for i := range j.units {
			j.units[i] = newUnit(i)
		}
		if err := loadUnits(ctx, db, j); err != nil {
			return nil, err
		}
	}
	return jobs, nil
}

func loadUnits(ctx context.Context, db *store.DB, j *job) error {
	rows, err := db.QueryContext(ctx, `SELECT idx, state, tries, reason FROM compute_units WHERE job = ?`, j.id)
	if err != nil {
		return fmt.Errorf("compute: loading units: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			idx, tries    int
			state, reason string
		)
		if err := rows.Scan(&idx, &state, &tries, &reason); err != nil {
			return fmt.Errorf("compute: loading units: %w", err)
		}
		if idx < 0 || idx >= len(j.units) {
			continue
		}
		u := j.units[idx]
		u.state, u.tries, u.reason = state, tries, reason
		switch state {
		case unitValidated:
			j.validated++
		case unitFailed:
			j.failed++
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("compute: loading units: %w", err)
	}
	rows.Close()
	if j.finishedState() {
		return nil
	}
	if j.spec.Inputs {
		if err := loadInputs(ctx, db, j); err != nil {
			return err
		}
	}
	res, err := db.QueryContext(ctx, `SELECT idx, worker, hash, output FROM compute_results WHERE job = ?`, j.id)
	if err != nil {
		return fmt.Errorf("compute: loading results: %w", err)
	}
	defer res.Close()
	for res.Next() {
		var (
			idx          int
			worker       string
			hash, output []byte
		)
		if err := res.Scan(&idx, &worker, &hash, &output); err != nil {
			return fmt.Errorf("compute: loading results: %w", err)
		}
		w, err := peer.Decode(worker)
		if err != nil || idx < 0 || idx >= len(j.units) || len(hash) != 32 {
			continue
		}
		u := j.units[idx]
		if u.state != unitQueued {
			continue
		}
		r := result{worker: w, output: output}
		copy(r.hash[:], hash)
		u.results = append(u.results, r)
		u.tried[w] = true
		j.workers[w] = true
	}
	return res.Err()
}

// loadInputs reads the content ids of an active job's inputs.
func loadInputs(ctx context.Context, db *store.DB, j *job) error {
	rows, err := db.QueryContext(ctx, `SELECT idx, cid, size FROM compute_inputs WHERE job = ?`, j.id)
	if err != nil {
		return fmt.Errorf("compute: loading inputs: %w", err)
	}
	defer rows.Close()
	j.inputs = make([]contentRef, j.spec.Units)
	for rows.Next() {
		var (
			idx int
			ref contentRef
		)
		if err := rows.Scan(&idx, &ref.id, &ref.size); err != nil {
			return fmt.Errorf("compute: loading inputs: %w", err)
		}
		if idx >= 0 && idx < len(j.inputs) {
			j.inputs[idx] = ref
		}
	}
	return rows.Err()
}

func loadWorkers(ctx context.Context, db *store.DB) (map[peer.ID]*workerRec, error) {
	rows, err := db.QueryContext(ctx, `SELECT peer, valid, invalid FROM compute_workers`)
	if err != nil {
		return nil, fmt.Errorf("compute: loading workers: %w", err)
	}
	defer rows.Close()
	recs := map[peer.ID]*workerRec{}
	for rows.Next() {
		var (
			p   string
			rec workerRec
		)
		if err := rows.Scan(&p, &rec.valid, &rec.invalid); err != nil {
			return nil, fmt.Errorf("compute: loading workers: %w", err)
		}
		if id, err := peer.Decode(p); err == nil {
			recs[id] = &rec
		}
	}
	return recs, rows.Err()
}

func saveWorker(ctx context.Context, db dbExec, w peer.ID, rec *workerRec) error {
	_, err := db.ExecContext(ctx, `INSERT INTO compute_workers (peer, valid, invalid) VALUES (?, ?, ?)
		ON CONFLICT (peer) DO UPDATE SET valid = excluded.valid, invalid = excluded.invalid`, w.String(), rec.valid, rec.invalid)
	if err != nil {
		return fmt.Errorf("compute: saving worker: %w", err)
	}
	return nil
}

// Payment is one line of the submitter's account of what it owes workers.
type Payment struct {
	Ref    string    `json:"ref"` // jobID/unit
	Worker string    `json:"worker"`
	Amount int64     `json:"amount"` // micro-credits
	State  string    `json:"state"`  // owed or paid
	Paid   time.Time `json:"paid,omitzero"`
}

// Payments lists the submitter's payment records: every reward owed to or
// paid to a worker, oldest first.
func (s *Service) Payments(ctx context.Context) ([]Payment, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT ref, worker, amount, state, paid FROM compute_payments ORDER BY created, ref, worker`)
	if err != nil {
		return nil, fmt.Errorf("compute: payments: %w", err)
	}
	defer rows.Close()
	var out []Payment
	for rows.Next() {
		var (
			p    Payment
			paid int64
		)
		if err := rows.Scan(&p.Ref, &p.Worker, &p.Amount, &p.State, &paid); err != nil {
			return nil, fmt.Errorf("compute: payments: %w", err)
		}
		if paid != 0 {
			p.Paid = time.Unix(0, paid)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("compute: payments: %w", err)
	}
	return out, nil
}
