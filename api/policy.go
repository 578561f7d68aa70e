package api

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"time"
)

// Policy is GET /api/v1/policy: the content policy's denylists, in the
// order they apply (a later list overrides an earlier one), and the rules
// they hold in all.
type Policy struct {
	Lists []PolicyList `json:"lists"`
	Deny  int          `json:"deny"`
	Allow int          `json:"allow"`
}

// PolicyList is one loaded denylist.
type PolicyList struct {
	ID          string    `json:"id"`
	Source      string    `json:"source"`
	Added       time.Time `json:"added"`
	Size        int64     `json:"size"`
	Name        string    `json:"name,omitempty"`
	Description string    `json:"description,omitempty"`
	Author      string    `json:"author,omitempty"`
	// Deny and Allow count the rules that name content ids; Ignored the
	// lines that do not (IPNS names, paths) or are not rules, explained by
	// the first Warnings.
	Deny     int      `json:"deny"`
	Allow    int      `json:"allow"`
	Ignored  int      `json:"ignored"`
	Warnings []string `json:"warnings"`
}

// PolicyURLRequest is the body of POST /api/v1/policy/url.
type PolicyURLRequest struct {
	URL string `json:"url"`
}

// Policy returns the loaded denylists.
func (c *Client) Policy(ctx context.Context) (Policy, error) {
	var v Policy
	return v, c.Do(ctx, http.MethodGet, Prefix+"/policy", nil, &v)
}

// PolicyAdd loads a denylist read from r; source names it (a file name).
func (c *Client) PolicyAdd(ctx context.Context, source string, r io.Reader) (PolicyList, error) {
	var v PolicyList
	return v, c.DoBody(ctx, http.MethodPost, Prefix+"/policy/lists?source="+url.QueryEscape(source), "text/plain", r, &v)
}

// PolicyAddURL has the daemon fetch a denylist from an http(s) URL once.
func (c *Client) PolicyAddURL(ctx context.Context, u string) (PolicyList, error) {
	var v PolicyList
	return v, c.Do(ctx, http.MethodPost, Prefix+"/policy/url", PolicyURLRequest{URL: u}, &v)
}

// PolicyRemove unloads the denylist id.
func (c *Client) PolicyRemove(ctx context.Context, id string) (Policy, error) {
	var v Policy
	return v, c.Do(ctx, http.MethodDelete, Prefix+"/policy/lists/"+url.PathEscape(id), nil, &v)
}
