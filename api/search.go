package api

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// SearchResult is one line of GET /api/v1/search's NDJSON stream.
type SearchResult struct {
	CID       string   `json:"cid"`
	Name      string   `json:"name"`
	Size      int64    `json:"size"`
	Type      string   `json:"type"`
	Providers []string `json:"providers"`
	Score     float64  `json:"score"`
}

// BlockRequest is the body of POST and DELETE /api/v1/blocked.
type BlockRequest struct {
	ID string `json:"id"`
}

// Search runs a network search, calling emit for each result line as it
// arrives (a cid may come again with more providers).
func (c *Client) Search(ctx context.Context, q string, limit int, timeout time.Duration, emit func(SearchResult)) error {
	v := url.Values{"q": {q}}
	if limit > 0 {
		v.Set("limit", strconv.Itoa(limit))
	}
	if timeout > 0 {
		v.Set("timeout", timeout.String())
	}
	body, err := c.Stream(ctx, http.MethodGet, Prefix+"/search?"+v.Encode(), nil)
	if err != nil {
		return err
	}
	defer body.Close()
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var r SearchResult
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return fmt.Errorf("api: bad search result %q: %w", sc.Text(), err)
		}
		emit(r)
	}
	return sc.Err()
}

// Blocked answers POST /api/v1/blocked: the peer now blocked.
type Blocked struct {
	Blocked string `json:"blocked"`
}

// Unblocked answers DELETE /api/v1/blocked: the peer no longer blocked.
type Unblocked struct {
	Unblocked string `json:"unblocked"`
}

// Block blocks a peer: its answers are ignored and its connections closed.
func (c *Client) Block(ctx context.Context, id string) (Blocked, error) {
	var v Blocked
	return v, c.Do(ctx, http.MethodPost, Prefix+"/blocked", BlockRequest{ID: id}, &v)
}

// Unblock unblocks a peer.
func (c *Client) Unblock(ctx context.Context, id string) (Unblocked, error) {
	var v Unblocked
	return v, c.Do(ctx, http.MethodDelete, Prefix+"/blocked", BlockRequest{ID: id}, &v)
}

// Blocked lists the blocked peers.
func (c *Client) Blocked(ctx context.Context) ([]string, error) {
	var v []string
	return v, c.Do(ctx, http.MethodGet, Prefix+"/blocked", nil, &v)
}
