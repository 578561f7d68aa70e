package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Client talks to one node's local API. The zero value is not usable; use
// [NewClient].
type Client struct {
	base  string
	token string
	http  *http.Client
}

// NewClient returns a client of the API at base (e.g. http://127.0.0.1:5101)
// that authenticates with token.
func NewClient(base, token string) *Client {
	return &Client{
		base:  strings.TrimRight(base, "/"),
		token: token,
		// No overall timeout: streams and downloads run long; callers bound
		// requests with their context.
		http: &http.Client{Transport: &http.Transport{
			Proxy:               nil,
			MaxIdleConnsPerHost: 4,
			IdleConnTimeout:     30 * time.Second,
		}},
	}
}

// Base returns the API base URL.
func (c *Client) Base() string { return c.base }

// Error is returned by the client for an answer with a non-2xx status.
type Error struct {
	Status  int
	Message string
	// Code, Hint and Detail are those of the answer's [ErrorBody].
	Code, Hint, Detail string
}

// Error is the message and, when the daemon gave one, the next step.
func (e *Error) Error() string {
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.Status)
	}
	if e.Hint != "" {
		msg += "; " + e.Hint
	}
	return msg
}

// ErrUnreachable wraps errors of a daemon that doesn't answer.
var ErrUnreachable = errors.New("daemon not reachable")

// Do sends a request with in as its JSON body (nil for none) and decodes
// the JSON answer into out (nil to discard it).
func (c *Client) Do(ctx context.Context, method, path string, in, out any) error {
	resp, err := c.send(ctx, method, path, in)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("api: decode %s %s: %w", method, path, err)
	}
	return nil
}

// Stream sends a request and returns the open body of a successful answer
// (NDJSON or SSE); the caller closes it.
func (c *Client) Stream(ctx context.Context, method, path string, in any) (io.ReadCloser, error) {
	resp, err := c.send(ctx, method, path, in)
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// DoBody sends body (of the given content type) and decodes the JSON
// answer into out (nil to discard it).
func (c *Client) DoBody(ctx context.Context, method, path, contentType string, body io.Reader, out any) error {
	resp, err := c.sendRaw(ctx, method, path, contentType, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("api: decode %s %s: %w", method, path, err)
	}
	return nil
}

func (c *Client) send(ctx context.Context, method, path string, in any) (*http.Response, error) {
	var body io.Reader
	var ctype string
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, fmt.Errorf("api: encode request: %w", err)
		}
		body, ctype = bytes.NewReader(b), "application/json"
	}
	return c.sendRaw(ctx, method, path, ctype, body)
}

func (c *Client) sendRaw(ctx context.Context, method, path, contentType string, body io.Reader) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, fmt.Errorf("api: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("%w at %s: %v", ErrUnreachable, c.base, err)
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		var eb ErrorBody
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if json.Unmarshal(data, &eb) != nil || eb.Error == "" {
			eb.Error = strings.TrimSpace(string(data))
		}
		return nil, &Error{Status: resp.StatusCode, Message: eb.Error, Code: eb.Code, Hint: eb.Hint, Detail: eb.Detail}
	}
	return resp, nil
}

// ID returns the node's peer ID and addresses.
func (c *Client) ID(ctx context.Context) (Identity, error) {
	var v Identity
	return v, c.Do(ctx, http.MethodGet, Prefix+"/id", nil, &v)
}

// Peers returns the connected peers.
func (c *Client) Peers(ctx context.Context) ([]Peer, error) {
	var v []Peer
	return v, c.Do(ctx, http.MethodGet, Prefix+"/peers", nil, &v)
}

// Status returns the node's status.
func (c *Client) Status(ctx context.Context) (Status, error) {
	var v Status
	return v, c.Do(ctx, http.MethodGet, Prefix+"/status", nil, &v)
}

// Limits returns the bandwidth limits in force.
func (c *Client) Limits(ctx context.Context) (Limits, error) {
	var v Limits
	return v, c.Do(ctx, http.MethodGet, Prefix+"/limits", nil, &v)
}

// SetLimits changes the bandwidth limits (nil keeps one) and saves them in
// the node's config file.
func (c *Client) SetLimits(ctx context.Context, req LimitsRequest) (Limits, error) {
	var v Limits
	return v, c.Do(ctx, http.MethodPost, Prefix+"/limits", req, &v)
}

// Connect dials a peer by multiaddr.
func (c *Client) Connect(ctx context.Context, addr string) error {
	return c.Do(ctx, http.MethodPost, Prefix+"/connect", ConnectRequest{Addr: addr}, nil)
}

// CloseIdle closes the client's idle connections.
func (c *Client) CloseIdle() { c.http.CloseIdleConnections() }

// UILogin returns a one-time login URL of the web app.
func (c *Client) UILogin(ctx context.Context) (UILogin, error) {
	var v UILogin
	return v, c.Do(ctx, http.MethodPost, Prefix+"/ui/login", nil, &v)
}
