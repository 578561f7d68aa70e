package httpapi

import (
	"context"
	"fmt"
	"io"
	"net/http"

	"github.com/peerpath/peerpath/api"
	"github.com/peerpath/peerpath/internal/policy"
)

// Policy is the content policy: the denylists loaded.
type Policy interface {
	Lists() []policy.Info
	Add(ctx context.Context, source string, r io.Reader) (policy.Info, error)
	AddURL(ctx context.Context, url string) (policy.Info, error)
	Remove(id string) error
}

func policyRoutes(p Policy) []route {
	show := func() api.Policy {
		out := api.Policy{Lists: []api.PolicyList{}}
		for _, in := range p.Lists() {
			l := policyList(in)
			out.Lists = append(out.Lists, l)
			out.Deny += l.Deny
			out.Allow += l.Allow
		}
		return out
	}
	return []route{
		{pattern: "GET /api/v1/policy", fn: func(_ http.ResponseWriter, r *http.Request) (any, error) {
			return show(), nil
		}},
		// POST /api/v1/policy/lists?source=NAME with the list's bytes as
		// the body (the CLI reads the file; the daemon reads no path it is
		// given).
		{pattern: "POST /api/v1/policy/lists", fn: func(w http.ResponseWriter, r *http.Request) (any, error) {
			src := r.URL.Query().Get("source")
			if len(src) > 1024 {
				return nil, BadRequest(fmt.Errorf("source name of %d bytes", len(src)))
			}
			in, err := p.Add(r.Context(), src, http.MaxBytesReader(w, r.Body, policy.MaxListSize+1))
			if err != nil {
				return nil, err
			}
			return policyList(in), nil
		}},
		{pattern: "POST /api/v1/policy/url", fn: func(_ http.ResponseWriter, r *http.Request) (any, error) {
			var req api.PolicyURLRequest
			if err := DecodeJSON(r, &req); err != nil {
				return nil, err
			}
			in, err := p.AddURL(r.Context(), req.URL)
			if err != nil {
				return nil, err
			}
			return policyList(in), nil
		}},
		{pattern: "DELETE /api/v1/policy/lists/{id}", fn: func(_ http.ResponseWriter, r *http.Request) (any, error) {
			if err := p.Remove(r.PathValue("id")); err != nil {
				return nil, err
			}
			return show(), nil
		}},
	}
}

func policyList(in policy.Info) api.PolicyList {
	return api.PolicyList{
		ID: in.ID, Source: in.Source, Added: in.Added, Size: in.Size,
		Name: in.Name, Description: in.Desc, Author: in.Author,
		Deny: in.Deny, Allow: in.Allow, Ignored: in.Ignored,
		Warnings: append([]string{}, in.Warnings...),
	}
}
