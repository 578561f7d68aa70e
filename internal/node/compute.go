package node

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/peerpath/peerpath/api"
	"github.com/peerpath/peerpath/internal/compute"
	"github.com/peerpath/peerpath/internal/compute/sandbox"
	"github.com/peerpath/peerpath/internal/httpapi"
	"github.com/peerpath/peerpath/internal/ledger"
)

// testCheatEnv names the environment variable that, set to 1, makes the
// node's worker corrupt every output it returns: a hook for the end-to-end
// tests of cheating workers, never for use otherwise.
const testCheatEnv = "PEERPATH_TEST_CHEAT"

// ledgerPayer pays workers through the ledger. The transfer id is derived
// from (worker, ref), so a payment retried after a failure or a restart
// applies once (within the ledger's id window).
type ledgerPayer struct{ n *Node }

func (p ledgerPayer) Pay(ctx context.Context, to peer.ID, micro int64, memo, ref string) error {
	sum := sha256.Sum256([]byte("peerpath-compute-pay\x00" + to.String() + "\x00" + ref))
	_, err := p.n.wallet.Pay(ctx, hex.EncodeToString(sum[:16]), to.String(), micro, memo, ref)
	return err
}

func (n *Node) newCompute(ctx context.Context) error {
	cfg := n.opts.Config
	runner, err := sandbox.NewRunner(ctx, sandbox.RunnerConfig{
		CacheDir: filepath.Join(string(n.home), "wasm-cache"),
		Logger:   n.log.With("sys", "sandbox"),
		Isolate:  !cfg.SandboxInProcess,
	})
	if err != nil {
		return err
	}
	n.runner = runner
	cc, err := newComputeContent(n)
	if err != nil {
		return err
	}
	ccfg := compute.Config{
		Host:    n.p2p.Host(),
		PubSub:  n.p2p.PubSub(),
		DB:      n.db,
		Content: cc,
		Runner:  runner,
		Payer:   ledgerPayer{n},
		Meter:   n.meter,
		Logger:  n.log.With("sys", "compute"),
		Worker: compute.WorkerConfig{
			Enabled:   cfg.Worker,
			CPUs:      cfg.WorkerCPUs,
			IdleOnly:  cfg.WorkerIdleOnly,
			MaxMemory: cfg.WorkerMaxMemory,
		},
	}
	// Test hook, undocumented and off unless the variable is set: the
	// end-to-end tests make a real daemon a cheating worker with it.
	if os.Getenv(testCheatEnv) == "1" {
		n.log.Warn("TEST HOOK " + testCheatEnv + "=1: this worker returns wrong results")
		ccfg.TestTamper = func(out []byte) []byte { return append([]byte("cheat:"), out...) }
	}
	c, err := compute.New(ctx, ccfg)
	if err != nil {
		return err
	}
	n.compute = c
	n.computeRoutes()
	return nil
}

func toAPIJob(j compute.JobStatus) api.Job {
	nn := func(s []string) []string {
		if s == nil {
			return []string{}
		}
		return s
	}
	return api.Job{ID: j.ID, State: j.State, Units: j.Units, Queued: j.Queued, Running: j.Running,
		Validated: j.Validated, Failed: j.Failed, Workers: nn(j.Workers), ETASeconds: j.ETASeconds,
		Reasons: nn(j.Reasons), Created: j.Created, Finished: j.Finished, Reward: ledger.FormatCredits(j.Reward),
		Replication: j.Replication, Quorum: j.Quorum, Results: j.Results, Singles: j.Singles}
}

func toAPIWorker(w compute.WorkerStatus) api.Worker {
	return api.Worker{Enabled: w.Enabled, CPUs: w.CPUs, IdleOnly: w.IdleOnly, MaxMemory: w.MaxMemory,
		Running: w.Running, Completed: w.Completed, Failed: w.Failed, Jobs: w.Jobs, Paused: w.Paused}
}

// maxJobRequest bounds a job submission: a module plus its inputs.
const maxJobRequest = 256 << 20

// jobRequest is api.JobRequest with its inputs decoded by boundedInputs.
type jobRequest struct {
	api.JobRequest
	Inputs boundedInputs `json:"inputs,omitempty"`
}

// boundedInputs decodes a JSON array of base64 inputs, refusing more than
// compute.MaxJobUnits of them before it allocates for more: 256 MiB of
// empty strings would otherwise make a slice of 85 million entries.
type boundedInputs [][]byte

func (b *boundedInputs) UnmarshalJSON(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if tok == nil {
		*b = nil
		return nil
	}
	if tok != json.Delim('[') {
		return errors.New("inputs: want an array")
	}
	var out [][]byte
	for dec.More() {
		if len(out) == compute.MaxJobUnits {
			return fmt.Errorf("more than %d inputs: at most %d units per job", compute.MaxJobUnits, compute.MaxJobUnits)
		}
		var in []byte
		if err := dec.Decode(&in); err != nil {
			return err
		}
		out = append(out, in)
	}
	*b = out
	return nil
}

func (n *Node) computeRoutes() {
	a, c := n.api, n.compute
	a.HandleFunc("POST /api/v1/jobs", func(w http.ResponseWriter, r *http.Request) (any, error) {
		var req jobRequest
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxJobRequest))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			return nil, httpapi.BadRequest(fmt.Errorf("bad job request: %w", err))
		}
		spec := compute.JobSpec{Module: req.Module, Inputs: req.Inputs, Count: req.Count, Args: req.Args,
			MemoryBytes: req.MemoryBytes, Replication: req.Replication, Quorum: req.Quorum, MaxTries: req.MaxTries}
		if req.Timeout != "" {
			d, err := time.ParseDuration(req.Timeout)
			if err != nil || d <= 0 {
				return nil, httpapi.BadRequest(fmt.Errorf("bad timeout %q", req.Timeout))
			}
			spec.Timeout = d
		}
		if req.Reward != "" {
			micro, err := ledger.ParseCredits(req.Reward)
			if err != nil || micro < 0 {
				return nil, httpapi.BadRequest(fmt.Errorf("bad reward %q", req.Reward))
			}
			spec.Reward = micro
		}
		id, err := c.Submit(r.Context(), spec)
		if err != nil {
			return nil, err
		}
		return httpapi.WithStatus(http.StatusCreated, map[string]string{"id": id}), nil
	})
	a.HandleFunc("GET /api/v1/jobs", func(w http.ResponseWriter, r *http.Request) (any, error) {
		js, err := c.Jobs(r.Context())
		if err != nil {
			return nil, err
		}
		out := make([]api.Job, 0, len(js))
		for _, j := range js {
			out = append(out, toAPIJob(j))
		}
		return out, nil
	})
	a.HandleFunc("GET /api/v1/jobs/{id}", func(w http.ResponseWriter, r *http.Request) (any, error) {
		j, err := c.Status(r.Context(), r.PathValue("id"))
		if err != nil {
			return nil, err
		}
		return toAPIJob(j), nil
	})
	a.HandleFunc("GET /api/v1/jobs/{id}/results", func(w http.ResponseWriter, r *http.Request) (any, error) {
		res, err := c.Results(r.Context(), r.PathValue("id"))
		if err != nil {
			return nil, err
		}
		return api.JobResults{ID: r.PathValue("id"), Outputs: res}, nil
	})
	a.HandleFunc("POST /api/v1/jobs/{id}/cancel", func(w http.ResponseWriter, r *http.Request) (any, error) {
		if err := c.Cancel(r.Context(), r.PathValue("id")); err != nil {
			return nil, err
		}
		return map[string]string{"cancelled": r.PathValue("id")}, nil
	})
	a.HandleFunc("GET /api/v1/worker", func(w http.ResponseWriter, r *http.Request) (any, error) {
		return toAPIWorker(c.WorkerStatus()), nil
	})
	a.HandleFunc("POST /api/v1/worker", func(w http.ResponseWriter, r *http.Request) (any, error) {
		var req api.Worker
		if err := httpapi.DecodeJSON(r, &req); err != nil {
			return nil, err
		}
		if req.CPUs < 0 {
			return nil, httpapi.BadRequest(errors.New("cpus must not be negative"))
		}
		c.SetWorker(compute.WorkerConfig{Enabled: req.Enabled, CPUs: req.CPUs, IdleOnly: req.IdleOnly, MaxMemory: req.MaxMemory})
		return toAPIWorker(c.WorkerStatus()), nil
	})
}
