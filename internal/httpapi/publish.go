package httpapi

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"

	"github.com/peerpath/peerpath/api"
	"github.com/peerpath/peerpath/internal/publish"
)

// Publish is the publishing service (*publish.Service).
type Publish interface {
	Publish(ctx context.Context, name string, plain []byte, k, n int) (publish.Published, error)
	Update(ctx context.Context, url, name string, plain []byte, k, n int, secret string) (publish.Published, error)
	Delete(ctx context.Context, url, secret string) (publish.Deleted, error)
	Save(ctx context.Context, url, output, dir string) (publish.Saved, error)
	List(ctx context.Context) ([]publish.Doc, error)
}

// readDocument reads the file at path (absolute), at most
// publish.MaxDocument bytes, through one descriptor.
func readDocument(path string) (string, []byte, error) {
	p, err := absPath(path)
	if err != nil {
		return "", nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		return "", nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", nil, err
	}
	if !st.Mode().IsRegular() {
		return "", nil, BadRequest(fmt.Errorf("%s is not a regular file", p))
	}
	b, err := io.ReadAll(io.LimitReader(f, publish.MaxDocument+1))
	if err != nil {
		return "", nil, err
	}
	if len(b) > publish.MaxDocument {
		return "", nil, BadRequest(fmt.Errorf("%s is larger than a document may be (%d bytes)", p, publish.MaxDocument))
	}
	return filepath.Base(p), b, nil
}

func publishedOut(p publish.Published) api.Published {
	return api.Published{URL: p.URL, CID: p.CID, K: p.K, N: p.N, Seq: p.Seq, Secret: p.Secret, Holders: p.Holders, OldShares: p.OldShares}
}

func publishRoutes(p Publish) []route {
	return []route{
		{pattern: "POST /api/v1/publish", fn: func(_ http.ResponseWriter, r *http.Request) (any, error) {
			var req api.PublishRequest
			if err := DecodeJSON(r, &req); err != nil {
				return nil, err
			}
			if req.K == 0 && req.N == 0 {
				req.K, req.N = 3, 10
			}
			name, b, err := readDocument(req.Path)
			if err != nil {
				return nil, err
			}
			res, err := p.Publish(r.Context(), name, b, req.K, req.N)
			if err != nil {
				return nil, err
			}
			return publishedOut(res), nil
		}},
		{pattern: "GET /api/v1/publish", fn: func(_ http.ResponseWriter, r *http.Request) (any, error) {
			docs, err := p.List(r.Context())
			if err != nil {
				return nil, err
			}
			out := []api.PublishedDoc{}
			for _, d := range docs {
				out = append(out, api.PublishedDoc{URL: d.URL, CID: d.CID, Name: d.Name, Size: d.Size, K: d.K, N: d.N, Seq: d.Seq,
					Created: d.Created, Expires: d.Expires, Deleted: d.Deleted})
			}
			return out, nil
		}},
		{pattern: "POST /api/v1/publish/update", fn: func(_ http.ResponseWriter, r *http.Request) (any, error) {
			var req api.PublishUpdateRequest
			if err := DecodeJSON(r, &req); err != nil {
				return nil, err
			}
			name, b, err := readDocument(req.Path)
			if err != nil {
				return nil, err
			}
			res, err := p.Update(r.Context(), req.URL, name, b, req.K, req.N, req.Secret)
			if err != nil {
				return nil, err
			}
			return publishedOut(res), nil
		}},
		{pattern: "POST /api/v1/publish/delete", fn: func(_ http.ResponseWriter, r *http.Request) (any, error) {
			var req api.PublishDeleteRequest
			if err := DecodeJSON(r, &req); err != nil {
				return nil, err
			}
			res, err := p.Delete(r.Context(), req.URL, req.Secret)
			if err != nil {
				return nil, err
			}
			return api.PublishDeleted{URL: res.URL, Holders: res.Holders, Shares: res.Shares}, nil
		}},
		{pattern: "POST /api/v1/publish/get", fn: func(_ http.ResponseWriter, r *http.Request) (any, error) {
			var req api.PublishGetRequest
			if err := DecodeJSON(r, &req); err != nil {
				return nil, err
			}
			for _, s := range []string{req.Output, req.Dir} {
				if s != "" {
					if _, err := absPath(s); err != nil {
						return nil, err
					}
				}
			}
			res, err := p.Save(r.Context(), req.URL, req.Output, req.Dir)
			if err != nil {
				return nil, err
			}
			return api.PublishFetched{URL: res.URL, CID: res.CID, Name: res.Name, Size: res.Size, Seq: res.Seq, Path: res.Path}, nil
		}},
	}
}
