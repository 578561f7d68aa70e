package node

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/peerpath/peerpath/api"
	"github.com/peerpath/peerpath/internal/httpapi"
	"github.com/peerpath/peerpath/internal/search"
)

func (n *Node) newSearch(ctx context.Context) error {
	s, err := search.New(ctx, search.Config{
		Host:    n.p2p.Host(),
		Routing: n.p2p.DHT(),
		DB:      n.db,
		Catalog: publicCatalog{n.files.share, n.computeDir()},
		// Claims of peers not yet trusted are checked against the
		// manifests they really serve.
		Fetcher: n.files.transfer,
		Logger:  n.log.With("sys", "search"),
	})
	if err != nil {
		return err
	}
	n.search = s
	n.searchRoutes()
	return nil
}

func (n *Node) searchRoutes() {
	a, s := n.api, n.search
	// GET /api/v1/search?q=…&limit=N&timeout=5s streams results as NDJSON,
	// one api.SearchResult a line, as peers answer. A result may come again
	// with more providers or a better score; the last line for a cid wins.
	a.HandleFunc("GET /api/v1/search", func(w http.ResponseWriter, r *http.Request) (any, error) {
		q := r.URL.Query()
		opt := search.Options{}
		if v := q.Get("limit"); v != "" {
			l, err := strconv.Atoi(v)
			if err != nil || l <= 0 {
				return nil, httpapi.BadRequest(errors.New("bad limit"))
			}
			opt.Limit = l
		}
		if v := q.Get("timeout"); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 || d > time.Minute {
				return nil, httpapi.BadRequest(errors.New("bad timeout (want e.g. 5s, at most 1m)"))
			}
			opt.Timeout = d
		}
		opt.LocalOnly = q.Get("local") == "1"
		query := q.Get("q")
		if query == "" {
			return nil, httpapi.BadRequest(errors.New("q is required"))
		}
		stream := httpapi.NewNDJSON(w)
		err := s.Search(r.Context(), query, opt, func(res search.Result) {
			stream.Send(api.SearchResult(res))
		})
		if err != nil && !stream.Started() {
			return nil, err
		}
		stream.Start()
		return nil, nil
	})
	a.HandleFunc("POST /api/v1/blocked", func(w http.ResponseWriter, r *http.Request) (any, error) {
		id, err := peerFromBody(r)
		if err != nil {
			return nil, err
		}
		if err := s.Block(r.Context(), id); err != nil {
			return nil, err
		}
		// Drop the connection too; the gate of search keeps it from mattering
		// if it comes back.
		n.p2p.Host().Network().ClosePeer(id)
		return map[string]string{"blocked": id.String()}, nil
	})
	a.HandleFunc("DELETE /api/v1/blocked", func(w http.ResponseWriter, r *http.Request) (any, error) {
		id, err := peerFromBody(r)
		if err != nil {
			return nil, err
		}
		return map[string]string{"unblocked": id.String()}, s.Unblock(r.Context(), id)
	})
	a.HandleFunc("GET /api/v1/blocked", func(w http.ResponseWriter, r *http.Request) (any, error) {
		ids, err := s.Blocked(r.Context())
		if err != nil {
			return nil, err
		}
		out := make([]string, 0, len(ids))
		for _, id := range ids {
			out = append(out, id.String())
		}
		return out, nil
	})
}
