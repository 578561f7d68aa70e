package api

import (
	"context"
	"net/http"
	"time"
)

// PublishRequest is the body of POST /api/v1/publish.
type PublishRequest struct {
	// Path is an absolute path of a file on the daemon's machine.
	Path string `json:"path"`
	// K and N: any K of the document's N shares rebuild it (default 3 of 10).
	K int `json:"k,omitempty"`
	N int `json:"n,omitempty"`
}

// Published answers POST /api/v1/publish and /api/v1/publish/update.
type Published struct {
	// URL alone fetches and decrypts the document, on any node.
	URL string `json:"url"`
	CID string `json:"cid"`
	K   int    `json:"k"`
	N   int    `json:"n"`
	// Seq is the record's version (1 when published, one more per change).
	Seq uint64 `json:"seq"`
	// Secret updates and deletes the document; this node keeps it too.
	Secret string `json:"secret,omitempty"`
	// Holders is how many storing peers keep the document's record.
	Holders int `json:"holders"`
	// OldShares is how many shares of the previous version an update
	// deleted.
	OldShares int `json:"old_shares,omitempty"`
}

// PublishUpdateRequest is the body of POST /api/v1/publish/update.
type PublishUpdateRequest struct {
	URL  string `json:"url"`
	Path string `json:"path"`
	// Secret is the publisher's secret string; empty uses this node's.
	Secret string `json:"secret,omitempty"`
	// K and N default to the current version's.
	K int `json:"k,omitempty"`
	N int `json:"n,omitempty"`
}

// PublishDeleteRequest is the body of POST /api/v1/publish/delete.
type PublishDeleteRequest struct {
	URL    string `json:"url"`
	Secret string `json:"secret,omitempty"`
}

// PublishDeleted answers POST /api/v1/publish/delete.
type PublishDeleted struct {
	URL string `json:"url"`
	// Holders is how many storing peers keep the signed delete.
	Holders int `json:"holders"`
	// Shares is how many of the document's shares were dropped.
	Shares int `json:"shares"`
}

// PublishGetRequest is the body of POST /api/v1/publish/get.
type PublishGetRequest struct {
	URL string `json:"url"`
	// Output is an absolute file path; empty saves under the document's
	// name in Dir (default the node's downloads folder).
	Output string `json:"output,omitempty"`
	Dir    string `json:"dir,omitempty"`
}

// PublishFetched answers POST /api/v1/publish/get.
type PublishFetched struct {
	URL  string `json:"url"`
	CID  string `json:"cid"`
	Name string `json:"name"`
	Size int64  `json:"size"`
	Seq  uint64 `json:"seq"`
	Path string `json:"path"`
}

// PublishedDoc is one entry of GET /api/v1/publish: a document this node
// published (its secret is kept here, never listed).
type PublishedDoc struct {
	URL     string    `json:"url"`
	CID     string    `json:"cid"`
	Name    string    `json:"name"`
	Size    int64     `json:"size"`
	K       int       `json:"k"`
	N       int       `json:"n"`
	Seq     uint64    `json:"seq"`
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"`
	Deleted bool      `json:"deleted"`
}

// Publish publishes a file.
func (c *Client) Publish(ctx context.Context, req PublishRequest) (Published, error) {
	var v Published
	return v, c.Do(ctx, http.MethodPost, Prefix+"/publish", req, &v)
}

// PublishUpdate replaces a published document (same URL).
func (c *Client) PublishUpdate(ctx context.Context, req PublishUpdateRequest) (Published, error) {
	var v Published
	return v, c.Do(ctx, http.MethodPost, Prefix+"/publish/update", req, &v)
}

// PublishDelete deletes a published document.
func (c *Client) PublishDelete(ctx context.Context, req PublishDeleteRequest) (PublishDeleted, error) {
	var v PublishDeleted
	return v, c.Do(ctx, http.MethodPost, Prefix+"/publish/delete", req, &v)
}

// PublishGet fetches a published document by URL and saves it.
func (c *Client) PublishGet(ctx context.Context, req PublishGetRequest) (PublishFetched, error) {
	var v PublishFetched
	return v, c.Do(ctx, http.MethodPost, Prefix+"/publish/get", req, &v)
}

// PublishList lists the documents this node published.
func (c *Client) PublishList(ctx context.Context) ([]PublishedDoc, error) {
	var v []PublishedDoc
	return v, c.Do(ctx, http.MethodGet, Prefix+"/publish", nil, &v)
}
