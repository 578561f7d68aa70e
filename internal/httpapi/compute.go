package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/peerpath/peerpath/api"
	"github.com/peerpath/peerpath/internal/compute"
	"github.com/peerpath/peerpath/internal/ledger"
)

func toAPIJob(j compute.JobStatus) api.Job {
	return api.Job{ID: j.ID, State: j.State, Units: j.Units, Queued: j.Queued, Running: j.Running,
		Validated: j.Validated, Failed: j.Failed, Workers: nonNil(j.Workers), ETASeconds: j.ETASeconds,
		Reasons: nonNil(j.Reasons), Created: j.Created, Finished: j.Finished, Reward: ledger.FormatCredits(j.Reward),
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

// computeRoutes serves jobs and the local worker.
func computeRoutes(c Compute) []route {
	return []route{
		{pattern: "POST /api/v1/jobs", fn: func(w http.ResponseWriter, r *http.Request) (any, error) {
			var req jobRequest
			dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxJobRequest))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&req); err != nil {
				return nil, BadRequest(fmt.Errorf("bad job request: %w", err))
			}
			spec := compute.JobSpec{Module: req.Module, Inputs: req.Inputs, Count: req.Count, Args: req.Args,
				MemoryBytes: req.MemoryBytes, Replication: req.Replication, Quorum: req.Quorum, MaxTries: req.MaxTries}
			if req.Timeout != "" {
				d, err := time.ParseDuration(req.Timeout)
				if err != nil || d <= 0 {
					return nil, BadRequest(fmt.Errorf("bad timeout %q", req.Timeout))
				}
				spec.Timeout = d
			}
			if req.Reward != "" {
				micro, err := ledger.ParseCredits(req.Reward)
				if err != nil || micro < 0 {
					return nil, BadRequest(fmt.Errorf("bad reward %q", req.Reward))
				}
				spec.Reward = micro
			}
			id, err := c.Submit(r.Context(), spec)
			if err != nil {
				return nil, err
			}
			return WithStatus(http.StatusCreated, api.JobCreated{ID: id}), nil
		}},
		{pattern: "GET /api/v1/jobs", fn: func(w http.ResponseWriter, r *http.Request) (any, error) {
			js, err := c.Jobs(r.Context())
			if err != nil {
				return nil, err
			}
			out := make([]api.Job, 0, len(js))
			for _, j := range js {
				out = append(out, toAPIJob(j))
			}
			return out, nil
		}},
		{pattern: "GET /api/v1/jobs/{id}", fn: func(w http.ResponseWriter, r *http.Request) (any, error) {
			j, err := c.Status(r.Context(), r.PathValue("id"))
			if err != nil {
				return nil, err
			}
			return toAPIJob(j), nil
		}},
		{pattern: "GET /api/v1/jobs/{id}/results", fn: func(w http.ResponseWriter, r *http.Request) (any, error) {
			res, err := c.Results(r.Context(), r.PathValue("id"))
			if err != nil {
				return nil, err
			}
			return api.JobResults{ID: r.PathValue("id"), Outputs: res}, nil
		}},
		{pattern: "POST /api/v1/jobs/{id}/cancel", fn: func(w http.ResponseWriter, r *http.Request) (any, error) {
			if err := c.Cancel(r.Context(), r.PathValue("id")); err != nil {
				return nil, err
			}
			return api.JobCancelled{Cancelled: r.PathValue("id")}, nil
		}},
		{pattern: "GET /api/v1/worker", fn: func(w http.ResponseWriter, r *http.Request) (any, error) {
			return toAPIWorker(c.WorkerStatus()), nil
		}},
		{pattern: "POST /api/v1/worker", fn: func(w http.ResponseWriter, r *http.Request) (any, error) {
			var req api.Worker
			if err := DecodeJSON(r, &req); err != nil {
				return nil, err
			}
			if req.CPUs < 0 {
				return nil, BadRequest(errors.New("cpus must not be negative"))
			}
			c.SetWorker(compute.WorkerConfig{Enabled: req.Enabled, CPUs: req.CPUs, IdleOnly: req.IdleOnly, MaxMemory: req.MaxMemory})
			return toAPIWorker(c.WorkerStatus()), nil
		}},
	}
}
