// Package api holds the wire types of the local HTTP API (/api/v1) and a Go
// client of it. The CLI, the web app's tests, the demo and the integration
// tests all drive a node through this package; docs/api.md documents it.
//
// The package is a leaf: it imports nothing from the rest of peerpath.
package api

// Prefix is the path prefix of every API endpoint.
const Prefix = "/api/v1"

// Identity answers GET /api/v1/id.
type Identity struct {
	ID    string   `json:"id"`
	Addrs []string `json:"addrs"`
}

// Peer is one connected peer, in GET /api/v1/peers.
type Peer struct {
	ID        string   `json:"id"`
	Addrs     []string `json:"addrs"`
	LatencyMS float64  `json:"latency_ms"`
	LAN       bool     `json:"lan"`
	// Label is how to show the peer: a contact's name, else its own name
	// marked unverified, else its short id.
	Label string `json:"label,omitempty"`
}

// Status answers GET /api/v1/status.
type Status struct {
	ID            string  `json:"id"`
	Version       string  `json:"version"`
	UptimeSeconds float64 `json:"uptime_s"`
	Peers         int     `json:"peers"`
	RoutingTable  int     `json:"routing_table"`
	Reachability  string  `json:"reachability"`
	BytesIn       int64   `json:"bytes_in"`
	BytesOut      int64   `json:"bytes_out"`
	RateIn        float64 `json:"rate_in"`
	RateOut       float64 `json:"rate_out"`
	Private       bool    `json:"private"`
	// Announced and ToAnnounce count provider records announced in the
	// DHT and queued in all, for the shared content.
	Announced  int `json:"announced"`
	ToAnnounce int `json:"to_announce"`
	// DownloadsDir is where background downloads and purchases go by
	// default (HOME/downloads).
	DownloadsDir string `json:"downloads_dir"`
	// MaxUpload and MaxDownload are the bandwidth limits in bytes/s (0:
	// unlimited); Seeding tells whether downloads are served in turn.
	MaxUpload   int64 `json:"max_upload"`
	MaxDownload int64 `json:"max_download"`
	Seeding     bool  `json:"seeding"`
}

// Limits is the answer of GET and POST /api/v1/limits: the bandwidth
// limits in force, in bytes/s over all peers (0: unlimited).
type Limits struct {
	MaxUpload   int64 `json:"max_upload"`
	MaxDownload int64 `json:"max_download"`
}

// LimitsRequest is the body of POST /api/v1/limits. A missing field keeps
// its limit. The new limits apply at once and are saved in the node's
// config file (max_upload, max_download), so they outlast a restart.
type LimitsRequest struct {
	MaxUpload   *int64 `json:"max_upload,omitempty"`
	MaxDownload *int64 `json:"max_download,omitempty"`
}

// ConnectRequest is the body of POST /api/v1/connect.
type ConnectRequest struct {
	Addr string `json:"addr"`
}

// ErrorBody is the body of every non-2xx answer.
type ErrorBody struct {
	// Error says what went wrong, in plain words.
	Error string `json:"error"`
	// Code names the error for programs ("insufficient_funds",
	// "no_ledger", "own_listing", …); empty when it has none.
	Code string `json:"code,omitempty"`
	// Hint is the next step, when there is one.
	Hint string `json:"hint,omitempty"`
	// Detail is the error as the daemon's code said it, when Error
	// rewords it.
	Detail string `json:"detail,omitempty"`
}

// Connected answers POST /api/v1/connect: the address dialled.
type Connected struct {
	Connected string `json:"connected"`
}

// UILogin answers POST /api/v1/ui/login: a one-time login URL of the web
// app.
type UILogin struct {
	URL string `json:"url"`
}

// ErrNotEnabled is the message of the 503 answer of a route whose
// subsystem this node does not run.
const ErrNotEnabled = "not enabled on this node"
