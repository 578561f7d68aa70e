package api

import (
	"context"
	"net/http"
	"net/url"
	"time"
)

// JobRequest is the body of POST /api/v1/jobs. Module and Inputs travel
// base64-encoded (JSON []byte).
type JobRequest struct {
	Module      []byte   `json:"module"`
	Inputs      [][]byte `json:"inputs,omitempty"`
	Count       int      `json:"count,omitempty"`
	Args        []string `json:"args,omitempty"`
	MemoryBytes uint64   `json:"memory_bytes,omitempty"`
	Timeout     string   `json:"timeout,omitempty"` // per unit, e.g. "60s"
	Replication int      `json:"replication,omitempty"`
	Quorum      int      `json:"quorum,omitempty"`
	Reward      string   `json:"reward,omitempty"` // credits per unit
	MaxTries    int      `json:"max_tries,omitempty"`
}

// Job is a job's status.
type Job struct {
	ID          string    `json:"id"`
	State       string    `json:"state"`
	Units       int       `json:"units"`
	Queued      int       `json:"queued"`
	Running     int       `json:"running"`
	Validated   int       `json:"validated"`
	Failed      int       `json:"failed"`
	Workers     []string  `json:"workers"`
	ETASeconds  float64   `json:"eta_s"`
	Reasons     []string  `json:"reasons"`
	Created     time.Time `json:"created"`
	Finished    time.Time `json:"finished,omitzero"`
	Reward      string    `json:"reward"`
	Replication int       `json:"replication"`
	Quorum      int       `json:"quorum"`
	Results     int       `json:"results"`
	Singles     int       `json:"singles"`
}

// JobResults answers GET /api/v1/jobs/{id}/results: the validated output of
// each unit, by unit index.
type JobResults struct {
	ID      string         `json:"id"`
	Outputs map[int][]byte `json:"outputs"`
}

// Worker is the node's worker configuration and state (GET and POST
// /api/v1/worker).
type Worker struct {
	Enabled   bool   `json:"enabled"`
	CPUs      int    `json:"cpus"`
	IdleOnly  bool   `json:"idle_only"`
	MaxMemory uint64 `json:"max_memory"`
	Running   int    `json:"running"`
	Completed int64  `json:"completed"`
	Failed    int64  `json:"failed"`
	Jobs      int    `json:"jobs"`
	Paused    bool   `json:"paused"`
}

// JobCreated answers POST /api/v1/jobs (status 201): the new job's ID.
type JobCreated struct {
	ID string `json:"id"`
}

// JobCancelled answers POST /api/v1/jobs/{id}/cancel.
type JobCancelled struct {
	Cancelled string `json:"cancelled"`
}

// SubmitJob submits a job and returns its ID.
func (c *Client) SubmitJob(ctx context.Context, req JobRequest) (JobCreated, error) {
	var v JobCreated
	return v, c.Do(ctx, http.MethodPost, Prefix+"/jobs", req, &v)
}

// Jobs lists this node's jobs.
func (c *Client) Jobs(ctx context.Context) ([]Job, error) {
	var v []Job
	return v, c.Do(ctx, http.MethodGet, Prefix+"/jobs", nil, &v)
}

// Job returns one job's status.
func (c *Client) Job(ctx context.Context, id string) (Job, error) {
	var v Job
	return v, c.Do(ctx, http.MethodGet, Prefix+"/jobs/"+url.PathEscape(id), nil, &v)
}

// JobResults returns a job's validated outputs, by unit.
func (c *Client) JobResults(ctx context.Context, id string) (JobResults, error) {
	var v JobResults
	return v, c.Do(ctx, http.MethodGet, Prefix+"/jobs/"+url.PathEscape(id)+"/results", nil, &v)
}

// CancelJob cancels a job.
func (c *Client) CancelJob(ctx context.Context, id string) (JobCancelled, error) {
	var v JobCancelled
	return v, c.Do(ctx, http.MethodPost, Prefix+"/jobs/"+url.PathEscape(id)+"/cancel", nil, &v)
}

// Worker returns the local worker's settings and counts.
func (c *Client) Worker(ctx context.Context) (Worker, error) {
	var v Worker
	return v, c.Do(ctx, http.MethodGet, Prefix+"/worker", nil, &v)
}

// SetWorker changes the local worker's settings (Enabled, CPUs, IdleOnly,
// MaxMemory) and returns its state.
func (c *Client) SetWorker(ctx context.Context, req Worker) (Worker, error) {
	var v Worker
	return v, c.Do(ctx, http.MethodPost, Prefix+"/worker", req, &v)
}
