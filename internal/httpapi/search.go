package httpapi

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/peerpath/peerpath/api"
	"github.com/peerpath/peerpath/internal/market"
	"github.com/peerpath/peerpath/internal/search"
)

// internalName reports the names of files nodes share for their own use:
// market listing documents (the Market finds and shows those) and
// encrypted goods. The file search people use does not show them.
func internalName(name string) bool {
	return strings.HasSuffix(name, market.ListingSuffix) || strings.HasSuffix(name, ".ppgoods")
}

// searchRoutes serves search and the blocked peers.
func searchRoutes(s Search, self Self, nm *names) []route {
	return []route{
		// GET /api/v1/search?q=…&limit=N&timeout=5s streams results as
		// NDJSON, one api.SearchResult a line, as peers answer. A result may
		// come again with more providers or a better score; the last line
		// for a cid wins.
		{pattern: "GET /api/v1/search", fn: func(w http.ResponseWriter, r *http.Request) (any, error) {
			q := r.URL.Query()
			opt := search.Options{}
			if v := q.Get("limit"); v != "" {
				l, err := strconv.Atoi(v)
				if err != nil || l <= 0 {
					return nil, BadRequest(errors.New("bad limit"))
				}
				opt.Limit = l
			}
			if v := q.Get("timeout"); v != "" {
				d, err := time.ParseDuration(v)
				if err != nil || d <= 0 || d > time.Minute {
					return nil, BadRequest(errors.New("bad timeout (want e.g. 5s, at most 1m)"))
				}
				opt.Timeout = d
			}
			opt.LocalOnly = q.Get("local") == "1"
			query := q.Get("q")
			if query == "" {
				return nil, BadRequest(errors.New("q is required"))
			}
			stream := NewNDJSON(w)
			err := s.Search(r.Context(), query, opt, func(res search.Result) {
				if internalName(res.Name) {
					return
				}
				nm.remember(res.CID, res.Name)
				stream.Send(api.SearchResult(res))
			})
			if err != nil && !stream.Started() {
				return nil, err
			}
			stream.Start()
			return nil, nil
		}},
		{pattern: "POST /api/v1/blocked", fn: func(w http.ResponseWriter, r *http.Request) (any, error) {
			id, err := peerFromBody(r)
			if err != nil {
				return nil, err
			}
			if err := s.Block(r.Context(), id); err != nil {
				return nil, err
			}
			// Drop the connection too; the gate of search keeps it from
			// mattering if it comes back.
			self.Disconnect(id)
			return api.Blocked{Blocked: id.String()}, nil
		}},
		{pattern: "DELETE /api/v1/blocked", fn: func(w http.ResponseWriter, r *http.Request) (any, error) {
			id, err := peerFromBody(r)
			if err != nil {
				return nil, err
			}
			return api.Unblocked{Unblocked: id.String()}, s.Unblock(r.Context(), id)
		}},
		{pattern: "GET /api/v1/blocked", fn: func(w http.ResponseWriter, r *http.Request) (any, error) {
			ids, err := s.Blocked(r.Context())
			if err != nil {
				return nil, err
			}
			out := make([]string, 0, len(ids))
			for _, id := range ids {
				out = append(out, id.String())
			}
			return out, nil
		}},
	}
}
