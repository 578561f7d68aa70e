package node

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/peerpath/peerpath/api"
	"github.com/peerpath/peerpath/internal/compute"
	"github.com/peerpath/peerpath/internal/compute/sandbox"
	"github.com/peerpath/peerpath/internal/httpapi"
	"github.com/peerpath/peerpath/internal/p2p"
	"github.com/peerpath/peerpath/internal/search"
	"github.com/peerpath/peerpath/internal/share"
	"github.com/peerpath/peerpath/internal/transfer"
)

// errorStatus maps the domain errors of the node's subsystems to HTTP
// statuses, for httpapi's single mapping point.
func errorStatus() map[error]int {
	m := map[error]int{
		p2p.ErrMsgTooLarge:      http.StatusRequestEntityTooLarge,
		share.ErrNotShared:      http.StatusNotFound,
		share.ErrNotFound:       http.StatusNotFound,
		fs.ErrNotExist:          http.StatusNotFound,
		transfer.ErrExists:      http.StatusConflict,
		transfer.ErrInProgress:  http.StatusConflict,
		transfer.ErrNoProviders: http.StatusGatewayTimeout,
		transfer.ErrUnsafeName:  http.StatusBadGateway,
		transfer.ErrBadContent:  http.StatusBadGateway,
		transfer.ErrTooBig:      http.StatusBadGateway,
	}
	ledgerErrorStatus(m)
	marketErrorStatus(m)
	m[search.ErrQueryTooLarge] = http.StatusRequestEntityTooLarge
	m[search.ErrBadQuery] = http.StatusBadRequest
	m[compute.ErrNotFound] = http.StatusNotFound
	m[compute.ErrInvalidJob] = http.StatusBadRequest
	m[compute.ErrFinished] = http.StatusConflict
	m[sandbox.ErrInvalidModule] = http.StatusBadRequest
	return m
}

// routes mounts the node's own endpoints; each subsystem's come from its
// own routes function.
func (n *Node) routes() {
	a := n.api
	// Go's profiler, behind the same token as the API, for operators and
	// for performance work: go tool pprof -H "Authorization: Bearer …"
	// is not supported, so fetch with curl and open the file.
	a.Handle("GET /debug/pprof/", http.HandlerFunc(pprof.Index))
	a.Handle("GET /debug/pprof/profile", http.HandlerFunc(pprof.Profile))
	a.Handle("GET /debug/pprof/trace", http.HandlerFunc(pprof.Trace))
	a.HandleFunc("GET /api/v1/id", func(w http.ResponseWriter, r *http.Request) (any, error) {
		return api.Identity{ID: n.ID().String(), Addrs: nonNil(n.p2p.Addrs())}, nil
	})
	a.HandleFunc("GET /api/v1/peers", func(w http.ResponseWriter, r *http.Request) (any, error) {
		ps := n.p2p.Peers()
		out := make([]api.Peer, 0, len(ps))
		for _, p := range ps {
			out = append(out, api.Peer{ID: p.ID, Addrs: nonNil(p.Addrs), LatencyMS: p.LatencyMS, LAN: p.LAN})
		}
		return out, nil
	})
	a.HandleFunc("GET /api/v1/status", func(w http.ResponseWriter, r *http.Request) (any, error) {
		st := n.p2p.Status()
		done, total := n.files.share.AnnounceProgress()
		up, down := n.files.transfer.Limits()
		return api.Status{
			DownloadsDir:  n.downloads.dir,
			MaxUpload:     up,
			MaxDownload:   down,
			Seeding:       !n.opts.Config.NoSeed,
			Announced:     done,
			ToAnnounce:    total,
			ID:            n.ID().String(),
			Version:       n.opts.Version,
			UptimeSeconds: time.Since(n.started).Seconds(),
			Peers:         st.Peers,
			RoutingTable:  st.RoutingTable,
			Reachability:  st.Reachability,
			BytesIn:       st.BytesIn,
			BytesOut:      st.BytesOut,
			RateIn:        st.RateIn,
			RateOut:       st.RateOut,
			Private:       n.private,
		}, nil
	})
	a.HandleFunc("POST /api/v1/connect", func(w http.ResponseWriter, r *http.Request) (any, error) {
		var req api.ConnectRequest
		if err := httpapi.DecodeJSON(r, &req); err != nil {
			return nil, err
		}
		if req.Addr == "" {
			return nil, httpapi.BadRequest(errors.New("addr is required"))
		}
		ctx, cancel := context.WithTimeout(r.Context(), 15*time.Second)
		defer cancel()
		if _, err := peer.AddrInfoFromString(req.Addr); err != nil {
			return nil, httpapi.BadRequest(fmt.Errorf("bad multiaddr %q: %w", req.Addr, err))
		}
		if err := n.p2p.Connect(ctx, req.Addr); err != nil {
			return nil, &httpapi.StatusError{Status: http.StatusBadGateway, Err: err}
		}
		return map[string]string{"connected": req.Addr}, nil
	})
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// peerFromBody reads a {"id": PEERID} body (api.VoterRequest,
// api.BlockRequest) and decodes the peer ID.
func peerFromBody(r *http.Request) (peer.ID, error) {
	var req struct {
		ID string `json:"id"`
	}
	if err := httpapi.DecodeJSON(r, &req); err != nil {
		return "", err
	}
	id, err := peer.Decode(req.ID)
	if err != nil {
		return "", httpapi.BadRequest(fmt.Errorf("bad peer ID %q: %w", req.ID, err))
	}
	return id, nil
}
