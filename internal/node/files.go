package node

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/peerpath/peerpath/api"
	"github.com/peerpath/peerpath/internal/httpapi"
	"github.com/peerpath/peerpath/internal/p2p"
	"github.com/peerpath/peerpath/internal/share"
	"github.com/peerpath/peerpath/internal/transfer"
)

// dhtAnnouncer announces provider records in the DHT.
type dhtAnnouncer struct{ p *p2p.Node }

func (a dhtAnnouncer) Provide(ctx context.Context, id cid.Cid) error {
	return a.p.DHT().Provide(ctx, id, true)
}

// providerFinder finds the providers of an id: DHT provider records, then
// LAN peers and other connected peers (which answer "not found" cheaply when
// they don't have it).
type providerFinder struct {
	p   *p2p.Node
	max int
}

func (f providerFinder) FindProviders(ctx context.Context, id cid.Cid) ([]peer.AddrInfo, error) {
	self := f.p.ID()
	seen := map[peer.ID]bool{self: true}
	var out []peer.AddrInfo
	add := func(ai peer.AddrInfo) {
		if seen[ai.ID] || len(out) >= f.max {
			return
		}
		seen[ai.ID] = true
		out = append(out, ai)
	}
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for ai := range f.p.DHT().FindProvidersAsync(dctx, id, f.max) {
		add(ai)
	}
	// LAN peers first among the connected, then the rest.
	h := f.p.Host()
	var lan, other []peer.ID
	for _, pi := range f.p.Peers() {
		pid, err := peer.Decode(pi.ID)
		if err != nil || h.Network().Connectedness(pid) != network.Connected {
			continue
		}
		if pi.LAN {
			lan = append(lan, pid)
		} else {
			other = append(other, pid)
		}
	}
	for _, pid := range append(lan, other...) {
		add(peer.AddrInfo{ID: pid, Addrs: h.Peerstore().Addrs(pid)})
	}
	if len(out) == 0 && ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return out, nil
}

// isPartial reports files that downloads in progress leave in a folder.
func isPartial(rel string, isDir bool) bool {
	return !isDir && (strings.HasSuffix(rel, ".part") || strings.HasSuffix(rel, ".part.state"))
}

// files holds the sharing and transfer services.
type files struct {
	share    *share.Service
	transfer *transfer.Service
}

func (n *Node) newFiles(ctx context.Context) error {
	cfg := n.opts.Config
	sh, err := share.New(ctx, share.Config{
		DB:        n.db,
		Logger:    n.log.With("sys", "share"),
		Announcer: dhtAnnouncer{n.p2p},
		Ignore:    isPartial,
	})
	if err != nil {
		return err
	}
	var seeder transfer.Seeder
	if !cfg.NoSeed {
		seeder = sh
	}
	var src transfer.BlockSource = sh
	if n.opts.wrapSource != nil {
		src = n.opts.wrapSource(src)
	}
	tr, err := transfer.New(transfer.Config{
		Host:        n.p2p.Host(),
		Source:      src,
		Finder:      providerFinder{p: n.p2p, max: 32},
		Seeder:      seeder,
		DB:          n.db,
		Logger:      n.log.With("sys", "transfer"),
		MaxUpload:   cfg.MaxUpload,
		MaxDownload: cfg.MaxDownload,
		Meter:       n.meter,
		Priority:    n.meter.Priority,
	})
	if err != nil {
		return err
	}
	n.files = &files{share: sh, transfer: tr}
	n.fileRoutes()
	n.limitRoutes()
	return nil
}

func toAPIShare(s share.Share) api.Share {
	return api.Share{CID: s.CID, Name: s.Name, Path: s.Path, Dir: s.Dir, Size: s.Size, Files: s.Files,
		Downloaded: s.Downloaded, Added: s.Added, Indexed: s.Indexed}
}

func absPath(p string) (string, error) {
	if p == "" {
		return "", httpapi.BadRequest(errors.New("path is required"))
	}
	if !filepath.IsAbs(p) {
		return "", httpapi.BadRequest(fmt.Errorf("path %q must be absolute", p))
	}
	return filepath.Clean(p), nil
}

func (n *Node) fileRoutes() {
	a, f := n.api, n.files
	a.HandleFunc("POST /api/v1/shares", func(w http.ResponseWriter, r *http.Request) (any, error) {
		var req api.ShareRequest
		if err := httpapi.DecodeJSON(r, &req); err != nil {
			return nil, err
		}
		p, err := absPath(req.Path)
		if err != nil {
			return nil, err
		}
		s, err := f.share.Add(r.Context(), p)
		if err != nil {
			return nil, err
		}
		if n.search != nil {
			n.search.Refresh()
		}
		return toAPIShare(s), nil
	})
	a.HandleFunc("GET /api/v1/shares", func(w http.ResponseWriter, r *http.Request) (any, error) {
		l, err := f.share.List(r.Context())
		if err != nil {
			return nil, err
		}
		out := make([]api.Share, 0, len(l))
		for _, s := range l {
			out = append(out, toAPIShare(s))
		}
		return out, nil
	})
	a.HandleFunc("DELETE /api/v1/shares", func(w http.ResponseWriter, r *http.Request) (any, error) {
		p, err := absPath(r.URL.Query().Get("path"))
		if err != nil {
			return nil, err
		}
		if err := f.share.Remove(r.Context(), p); err != nil {
			return nil, err
		}
		if n.search != nil {
			n.search.Refresh()
		}
		return map[string]string{"removed": p}, nil
	})
	// GET /api/v1/shares/indexing reports the indexing under way:
	// {"path","files","bytes","started"}, or {} when none runs.
	a.HandleFunc("GET /api/v1/shares/indexing", func(w http.ResponseWriter, r *http.Request) (any, error) {
		p, ok := f.share.Indexing()
		if !ok {
			return struct{}{}, nil
		}
		return p, nil
	})
	a.HandleFunc("POST /api/v1/get", n.handleGet)
}

// handleGet runs a download for as long as the request lasts, streaming
// NDJSON progress events, then the result or the error.
func (n *Node) handleGet(w http.ResponseWriter, r *http.Request) (any, error) {
	var req api.GetRequest
	if err := httpapi.DecodeJSON(r, &req); err != nil {
		return nil, err
	}
	id, err := cid.Decode(req.CID)
	if err != nil {
		return nil, httpapi.BadRequest(fmt.Errorf("bad content id %q: %w", req.CID, err))
	}
	out, err := absPath(req.Output)
	if err != nil {
		return nil, err
	}
	var timeout time.Duration
	if req.Timeout != "" {
		if timeout, err = time.ParseDuration(req.Timeout); err != nil || timeout <= 0 {
			return nil, httpapi.BadRequest(fmt.Errorf("bad timeout %q", req.Timeout))
		}
	}
	f := n.files
	// A second download to the same output fails at once with
	// transfer.ErrInProgress (409), before anything is streamed.
	stream := httpapi.NewNDJSON(w)
	emit := func(ev api.GetEvent) { stream.Send(ev) }
	defer n.reputation()()
	res, err := f.transfer.Get(r.Context(), id, transfer.GetOptions{
		Output:  out,
		Timeout: timeout,
		Plan: func(p transfer.Plan) {
			emit(api.GetEvent{Type: "plan", Files: p.Files, Total: p.Size})
		},
		Progress: func(p transfer.Progress) {
			emit(api.GetEvent{Type: "progress", Done: p.Done, Total: p.Total, Sources: p.Sources, Rate: p.Rate})
		},
	})
	if err != nil {
		if !stream.Started() {
			return nil, err
		}
		emit(api.GetEvent{Type: "error", Error: err.Error()})
		return nil, nil
	}
	emit(api.GetEvent{Type: "done", Result: &api.GetResult{
		CID: res.ID.String(), Path: res.Path, Dir: res.Dir, Files: res.Files, Size: res.Size,
		Fetched: res.Fetched, Resumed: res.Resumed, Peers: res.Peers,
		DurationMS: float64(res.Duration) / float64(time.Millisecond),
	}})
	return nil, nil
}

// reputation snapshots the transfer scores of peers; the func it returns,
// called when a download ends, tells search which peers delivered verified
// chunks (score up) and which sent bad ones (score down), so search ranks
// their answers accordingly.
func (n *Node) reputation() func() {
	before := n.files.transfer.PeerScores()
	return func() {
		if n.search == nil {
			return
		}
		for p, sc := range n.files.transfer.PeerScores() {
			switch {
			case sc > before[p]:
				n.search.RecordDownload(p, true)
			case sc < before[p]:
				n.search.RecordDownload(p, false)
			}
		}
	}
}
