package api

import (
	"context"
	"net/http"
)

// Sample is one point of the node's recent history, kept by the daemon
// (GET /api/v1/history) so the web app's charts are full when they open.
type Sample struct {
	// Time is when it was taken, in Unix milliseconds.
	Time int64 `json:"t"`
	// RateIn and RateOut are the receive and send rates in bytes/s.
	RateIn  float64 `json:"rate_in"`
	RateOut float64 `json:"rate_out"`
	// Peers is the number of connected peers.
	Peers int `json:"peers"`
}

// History is the node's recent samples, oldest first.
type History struct {
	// IntervalSeconds is the time between two samples.
	IntervalSeconds float64 `json:"interval_s"`
	// Samples are at most a ring's length, oldest first.
	Samples []Sample `json:"samples"`
}

// Event is one live event of GET /api/v1/events, which streams them as
// server-sent events ("data: {json}" lines).
type Event struct {
	// Type names the event, "area.what"; "hello" opens every stream and
	// "lost" says some events were dropped (reload what you show).
	Type string `json:"type"`
	// Time is when it was published (RFC 3339).
	Time string `json:"time"`
	// Data is the event's payload, which depends on Type.
	Data any `json:"data,omitempty"`
}

// Event types published by the node itself (services add their own).
const (
	// EventStats carries a [Sample], every history interval.
	EventStats = "stats"
	// EventHello opens every event stream.
	EventHello = "hello"
	// EventLost says the subscriber missed events.
	EventLost = "lost"
)

// NodeHistory returns the node's recent bandwidth and peer samples.
func (c *Client) NodeHistory(ctx context.Context) (History, error) {
	var v History
	return v, c.Do(ctx, http.MethodGet, Prefix+"/history", nil, &v)
}
